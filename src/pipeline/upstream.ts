import { once } from 'node:events';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { type Denial, denial } from '../errors.ts';
import type { Usage } from '../pricing/types.ts';
import { dispatchBuffered } from '../providers/bufferedCall.ts';
import type { UpstreamClients } from '../providers/http.ts';
import type { StreamMeter } from '../providers/types.ts';
import type { Target } from './context.ts';
import type { Exchange } from './route.ts';

/** `finishReasons`: why the model stopped, per choice, in the provider's words; empty when unknown. */
export type UpstreamOutcome =
  | {
      kind: 'ok';
      usage: Usage | null;
      generatedText: string;
      ttftMs: number | null;
      json: Buffer | null;
      finishReasons: string[];
    }
  /** The upstream failed or sent something unusable; `generatedText` is what it produced before. */
  | {
      kind: 'failed';
      denial: Denial;
      generatedText: string;
      ttftMs: number | null;
      responded: boolean;
      finishReasons: string[];
    }
  | {
      kind: 'client_aborted';
      usage: Usage | null;
      generatedText: string;
      ttftMs: number | null;
      finishReasons: string[];
    };

export interface ForwardInput {
  clients: UpstreamClients;
  target: Target;
  exchange: Exchange;
  stream: boolean;
  /** How an error travels inside an already-started stream, in the client's dialect. */
  streamErrorEvent: (d: Denial) => string;
  res: ServerResponse;
  /** The client's request headers; only those the provider's forward_headers allows go upstream. */
  clientHeaders: IncomingHttpHeaders;
  /** W3C trace context of the attempt's CLIENT span (telemetry); empty when tracing is off. */
  traceHeaders?: Readonly<Record<string, string>>;
  /** Headers to add to a streamed response (the JSON response is sent by the caller after settling). */
  responseHeaders: Record<string, string>;
  startedAt: number;
  clock: () => number;
  /** Sees every byte sent to the client on a stream (for Idempotency-Key replays). */
  capture?: (chunk: Buffer) => void;
}

const MAX_ERROR_BODY = 64 * 1024;

/**
 * Calls the provider and meters what comes back. Streams are passed through to the client as
 * they arrive; JSON bodies are returned to the caller, which settles before responding.
 * Never throws: every failure is an outcome, so the caller can always settle.
 */
export function forward(input: ForwardInput): Promise<UpstreamOutcome> {
  return input.stream ? forwardStream(input) : forwardBuffered(input);
}

const MAX_JSON_BODY = 64 * 1024 * 1024;

function dispatchOptions(input: ForwardInput): Dispatcher.DispatchOptions & { url: URL } {
  const { request } = input.exchange;
  const url = new URL(request.url);
  return {
    url,
    origin: url.origin,
    path: url.pathname + url.search,
    method: request.method ?? 'POST',
    headers: {
      ...forwardedHeaders(input.clientHeaders, input.target.provider.forward_headers),
      ...input.traceHeaders, // telemetry
      ...request.headers,
    },
    body: request.body,
    headersTimeout: input.target.provider.headers_timeout_ms,
    bodyTimeout: input.target.provider.headers_timeout_ms,
  };
}

async function forwardBuffered(input: ForwardInput): Promise<UpstreamOutcome> {
  const { target, res } = input;
  const { url, ...options } = dispatchOptions(input);
  const call = dispatchBuffered(input.clients.pool(target.provider, url), options, MAX_JSON_BODY);
  let clientGone = false;
  let timedOut = false;
  const onClose = () => {
    if (!res.writableFinished) {
      clientGone = true;
      call.abort(new Error('client disconnected'));
    }
  };
  res.on('close', onClose);
  const overall = setTimeout(() => {
    timedOut = true;
    call.abort(new Error('timeout'));
  }, target.provider.timeout_ms);
  try {
    const upstream = await call.response;
    const ttftMs = input.clock() - input.startedAt;
    if (upstream.statusCode < 200 || upstream.statusCode >= 300) {
      const text = upstream.body.subarray(0, MAX_ERROR_BODY).toString('utf8');
      return {
        kind: 'failed',
        denial: upstreamErrorDenial(upstream.statusCode, upstream.headers, text),
        generatedText: '',
        ttftMs,
        responded: false,
        finishReasons: [],
      };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(upstream.body.toString('utf8'));
    } catch {
      return {
        kind: 'failed',
        denial: denial(
          'upstream_error',
          `Provider ${target.provider.id} returned a response that is not valid JSON.`,
          { upstreamStatus: upstream.statusCode },
        ),
        generatedText: '',
        ttftMs,
        responded: false,
        finishReasons: [],
      };
    }
    const answer = input.exchange.fromJson(parsed);
    return {
      kind: 'ok',
      usage: answer.usage,
      generatedText: '',
      ttftMs,
      json: answer.body ?? upstream.body,
      finishReasons: answer.finishReasons,
    };
  } catch (err) {
    if (clientGone)
      return { kind: 'client_aborted', usage: null, generatedText: '', ttftMs: null, finishReasons: [] };
    return {
      kind: 'failed',
      denial: transportDenial(input, err, timedOut),
      generatedText: '',
      ttftMs: null,
      responded: false,
      finishReasons: [],
    };
  } finally {
    clearTimeout(overall);
    res.off('close', onClose);
  }
}

async function forwardStream(input: ForwardInput): Promise<UpstreamOutcome> {
  const { target, res } = input;
  const abort = new AbortController();
  let clientGone = false;
  let timedOut = false;
  const onClose = () => {
    if (!res.writableFinished) {
      clientGone = true;
      abort.abort(new Error('client disconnected'));
    }
  };
  res.on('close', onClose);
  const overall = setTimeout(() => {
    timedOut = true;
    abort.abort(new Error('timeout'));
  }, target.provider.timeout_ms);
  const meter = input.exchange.meter();
  let ttftMs: number | null = null;
  let responded = false;
  try {
    const { url, ...options } = dispatchOptions(input);
    const upstream = await input.clients
      .pool(target.provider, url)
      .request({ ...options, signal: abort.signal });
    if (upstream.statusCode < 200 || upstream.statusCode >= 300) {
      return {
        kind: 'failed',
        denial: upstreamErrorDenial(upstream.statusCode, upstream.headers, await readErrorText(upstream)),
        generatedText: '',
        ttftMs,
        responded,
        finishReasons: [],
      };
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      ...input.responseHeaders,
    });
    responded = true;
    for await (const chunk of upstream.body) {
      const out = meter.push(chunk as Buffer);
      if (out) {
        input.capture?.(out);
        if (ttftMs === null) ttftMs = input.clock() - input.startedAt;
        if (!res.write(out)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      }
      if (clientGone) break;
    }
    if (clientGone) {
      return {
        kind: 'client_aborted',
        usage: meter.usage(),
        generatedText: meter.generatedText(),
        ttftMs,
        finishReasons: finishReasonsOf(meter),
      };
    }
    const rest = meter.end();
    if (rest) {
      input.capture?.(rest);
      res.write(rest);
    }
    const streamError = meter.streamError();
    if (streamError !== null || !meter.completed()) {
      const why = streamError ?? 'the stream ended before its final event';
      const d = denial('upstream_error', `Provider ${target.provider.id} stream failed: ${why}`);
      // The provider already put its own error event in the stream; only a silent cut needs ours.
      if (streamError === null) endStreamWithError(res, input.streamErrorEvent(d));
      else res.end();
      return {
        kind: 'failed',
        denial: d,
        generatedText: meter.generatedText(),
        ttftMs,
        responded,
        finishReasons: finishReasonsOf(meter),
      };
    }
    res.end();
    return {
      kind: 'ok',
      usage: meter.usage(),
      generatedText: meter.generatedText(),
      ttftMs,
      json: null,
      finishReasons: finishReasonsOf(meter),
    };
  } catch (err) {
    const generatedText = meter.generatedText();
    const finishReasons = finishReasonsOf(meter);
    if (clientGone)
      return { kind: 'client_aborted', usage: meter.usage(), generatedText, ttftMs, finishReasons };
    const d = transportDenial(input, err, timedOut);
    if (responded) endStreamWithError(res, input.streamErrorEvent(d));
    return { kind: 'failed', denial: d, generatedText, ttftMs, responded, finishReasons };
  } finally {
    clearTimeout(overall);
    res.off('close', onClose);
  }
}

function finishReasonsOf(meter: StreamMeter): string[] {
  return meter.finishReasons?.() ?? [];
}

/** A connection-level failure (no HTTP answer): a timeout of ours or undici's, or a network error. */
function transportDenial(input: ForwardInput, err: unknown, timedOut: boolean): Denial {
  const e = err as { code?: string; message?: string };
  const isTimeout =
    timedOut ||
    e.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    e.code === 'UND_ERR_BODY_TIMEOUT' ||
    e.code === 'UND_ERR_CONNECT_TIMEOUT';
  return isTimeout
    ? denial('upstream_timeout', `Provider ${input.target.provider.id} did not answer in time.`)
    : denial(
        'upstream_error',
        `Provider ${input.target.provider.id} failed: ${e.message ?? e.code ?? 'connection error'}`,
      );
}

const NEVER_FORWARDED = new Set([
  'authorization',
  'x-api-key',
  'host',
  'content-length',
  'connection',
  'cookie',
]);

/** Client headers a provider explicitly allows through; everything else (identity claims included) is dropped. */
export function forwardedHeaders(client: IncomingHttpHeaders, allow: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (allow.length === 0) return out;
  for (const [name, value] of Object.entries(client)) {
    if (typeof value !== 'string' || NEVER_FORWARDED.has(name)) continue;
    if (
      allow.some((a) =>
        a.endsWith('*') ? name.startsWith(a.slice(0, -1).toLowerCase()) : name === a.toLowerCase(),
      )
    ) {
      out[name] = value;
    }
  }
  return out;
}

/** After a 200 and some events, an error can only travel as a stream event; clients' SDKs raise it. */
function endStreamWithError(res: ServerResponse, event: string): void {
  if (res.writableEnded || res.destroyed) return;
  res.end(event);
}

async function readErrorText(upstream: Dispatcher.ResponseData): Promise<string> {
  let text = '';
  for await (const chunk of upstream.body) {
    if (text.length < MAX_ERROR_BODY) text += (chunk as Buffer).toString('utf8');
  }
  return text;
}

function upstreamErrorDenial(status: number, headers: IncomingHttpHeaders, text: string): Denial {
  let message = text.slice(0, 500);
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    // `{error:{message}}` (OpenAI, Anthropic, Gemini) or a top-level `{message}` (AWS).
    const m = typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? parsed.message);
    if (typeof m === 'string') message = m;
  } catch {
    // Not JSON: keep the raw start of the body.
  }
  const retryAfter = headers['retry-after'];
  if (status === 429) {
    return denial('upstream_rate_limited', `The provider is rate limiting: ${message}`, {
      upstreamStatus: status,
      headers: typeof retryAfter === 'string' ? { 'retry-after': retryAfter } : {},
    });
  }
  if (status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 408) {
    return denial('invalid_request', `The provider rejected the request (${status}): ${message}`, {
      upstreamStatus: status,
    });
  }
  return denial('upstream_error', `The provider failed with HTTP ${status}: ${message}`, {
    upstreamStatus: status,
  });
}
