import { denial } from '../errors.ts';
import type { EncoderContext, Ingress, StreamEncoder } from '../ingress/types.ts';
import type { Usage } from '../pricing/types.ts';
import type { CallOptions, StreamDecoder, StreamMeter, UpstreamRequest } from '../providers/types.ts';
import { fail, ok, type Result } from '../result.ts';
import type { Target } from './context.ts';

/** How one call reaches its provider and how the answer gets back in the client's dialect. */
export interface Exchange {
  request: UpstreamRequest;
  /** For streams: provider bytes in, client bytes out, metered. */
  meter(): StreamMeter;
  /**
   * For JSON answers: the usage, why the model stopped (per choice, in the provider's words;
   * empty when unknown), and the body to send (null: send the provider's bytes unchanged).
   */
  fromJson(json: unknown): { usage: Usage | null; finishReasons: string[]; body: Buffer | null };
}

export type Leg = 'native' | 'translated';

/** Native when the provider speaks the client's dialect; translated through canonical chat otherwise. */
export function chooseLeg(ingress: Ingress, target: Target): Result<Leg> {
  if (target.adapter.dialects.includes(ingress.dialect)) return ok('native');
  if (ingress.toCanonical) return ok('translated');
  return fail(
    denial(
      'invalid_request',
      `The model '${target.model.id}' is served by ${target.provider.id} (${target.adapter.kind}), which does not support ${ingress.endpoint}.`,
      { param: 'model' },
    ),
  );
}

export async function buildExchange(
  ingress: Ingress,
  target: Target,
  leg: Leg,
  body: Record<string, unknown>,
  opts: CallOptions,
  encoderContext: EncoderContext,
): Promise<Exchange> {
  const { adapter, provider, model } = target;
  if (leg === 'native') {
    return {
      request: await adapter.request(ingress.dialect, provider, model, body, opts),
      meter: () => adapter.createStreamMeter(ingress.dialect, opts),
      fromJson: (json) => ({
        usage: adapter.usageFromJson(ingress.dialect, json),
        finishReasons: adapter.finishReasonsFromJson?.(ingress.dialect, json) ?? [],
        body: null,
      }),
    };
  }
  const canonical = ingress.toCanonical?.(body) ?? body;
  return {
    request: await adapter.canonical.request(provider, model, canonical, opts),
    meter: () =>
      new TranslatingMeter(
        adapter.canonical.createDecoder(opts),
        ingress.createEncoder(encoderContext),
        (why) =>
          ingress.streamError(denial('upstream_error', `Provider ${provider.id} stream failed: ${why}`)),
      ),
    fromJson: (json) => {
      const { completion, usage, finishReasons } = adapter.canonical.fromJson(json);
      return {
        usage,
        finishReasons: finishReasons ?? [],
        body: Buffer.from(JSON.stringify(ingress.fromCanonical(completion, usage, encoderContext))),
      };
    },
  };
}

/**
 * Provider stream → canonical chunks → client stream, as one meter. A provider error the
 * decoder found (an exception event, a corrupt frame) is written in the client's dialect,
 * since the provider's own error bytes are not passed through.
 */
class TranslatingMeter implements StreamMeter {
  constructor(
    private readonly decoder: StreamDecoder,
    private readonly encoder: StreamEncoder,
    private readonly errorEvent: (why: string) => string,
  ) {}

  push(chunk: Buffer): Buffer | null {
    return this.encode(this.decoder.push(chunk), '');
  }

  end(): Buffer | null {
    const rest = this.decoder.end();
    const error = this.decoder.streamError();
    const closing =
      error !== null
        ? this.errorEvent(error)
        : this.decoder.completed()
          ? this.encoder.finish(this.decoder.usage())
          : '';
    return this.encode(rest, closing);
  }

  usage(): Usage | null {
    return this.decoder.usage();
  }

  generatedText(): string {
    return this.decoder.generatedText();
  }

  completed(): boolean {
    return this.decoder.completed();
  }

  streamError(): string | null {
    return this.decoder.streamError();
  }

  finishReasons(): string[] {
    return this.decoder.finishReasons?.() ?? [];
  }

  private encode(chunks: ReturnType<StreamDecoder['push']>, tail: string): Buffer | null {
    let out = '';
    for (const c of chunks) out += this.encoder.encode(c);
    out += tail;
    return out.length > 0 ? Buffer.from(out) : null;
  }
}
