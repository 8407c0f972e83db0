import { isRecord } from '../../json.ts';
import type { Usage } from '../../pricing/types.ts';
import { onlyReason } from '../finishReasons.ts';
import { parseJsonObject } from '../sse.ts';
import type { CanonicalChunk, StreamDecoder } from '../types.ts';
import { type EventStreamMessage, EventStreamSplitter } from './eventStream.ts';
import { completionId } from './response.ts';
import { finishReason, usageFromConverse } from './usage.ts';

type Json = Record<string, unknown>;

function headerText(message: EventStreamMessage, name: string): string | null {
  const v = message.headers[name];
  return typeof v === 'string' ? v : null;
}

/**
 * ConverseStream (binary event stream) → OpenAI `chat.completion.chunk` objects.
 *
 *   messageStart                         → the role chunk
 *   contentBlockStart {toolUse}          → a tool_calls chunk with id and name
 *   contentBlockDelta {text|toolUse|reasoningContent} → content / arguments / reasoning_content
 *   messageStop {stopReason}             → the finish_reason chunk (the clean end)
 *   metadata {usage}                     → usage (sent by the client-side encoder at the end)
 *   exception / error messages, bad CRCs → streamError()
 */
export class ConverseStreamDecoder implements StreamDecoder {
  private readonly splitter = new EventStreamSplitter();
  private readonly id = completionId();
  private readonly created = Math.floor(Date.now() / 1000);
  /** contentBlockIndex → OpenAI tool_calls index. */
  private readonly toolIndex = new Map<number, number>();
  private reported: Usage | null = null;
  private stopped = false;
  /** messageStop's `stopReason`, as Bedrock says it (end_turn, max_tokens, tool_use, …). */
  private stopReason: string | null = null;
  private error: string | null = null;
  private text = '';

  push(chunk: Buffer): CanonicalChunk[] {
    if (this.error !== null) return [];
    const chunks: CanonicalChunk[] = [];
    for (const message of this.splitter.push(chunk)) {
      if (this.error !== null) break;
      const c = this.read(message);
      if (c) chunks.push(c);
    }
    this.error ??= this.splitter.error();
    return chunks;
  }

  end(): CanonicalChunk[] {
    return [];
  }

  usage(): Usage | null {
    return this.reported;
  }

  generatedText(): string {
    return this.text;
  }

  completed(): boolean {
    return this.stopped;
  }

  streamError(): string | null {
    return this.error;
  }

  finishReasons(): string[] {
    return onlyReason(this.stopReason);
  }

  private read(message: EventStreamMessage): CanonicalChunk | null {
    const kind = headerText(message, ':message-type');
    if (kind === 'exception') {
      const type = headerText(message, ':exception-type') ?? 'exception';
      const body = parseJsonObject(message.payload.toString('utf8'));
      const why = typeof body?.message === 'string' ? body.message : message.payload.toString('utf8');
      this.error = `${type}: ${why}`;
      return null;
    }
    if (kind === 'error') {
      const code = headerText(message, ':error-code') ?? 'error';
      this.error = `${code}: ${headerText(message, ':error-message') ?? ''}`;
      return null;
    }
    if (kind !== 'event') return null;
    const event = headerText(message, ':event-type');
    const body = parseJsonObject(message.payload.toString('utf8'));
    if (body === null) {
      this.error = `malformed ${event ?? 'event'} payload`;
      return null;
    }
    switch (event) {
      case 'messageStart':
        return this.chunk({ role: 'assistant', content: '' });
      case 'contentBlockStart':
        return this.blockStart(body);
      case 'contentBlockDelta':
        return this.blockDelta(body);
      case 'messageStop':
        this.stopped = true;
        if (typeof body.stopReason === 'string') this.stopReason = body.stopReason;
        return this.chunk({}, finishReason(body.stopReason));
      case 'metadata':
        this.reported = usageFromConverse(body.usage) ?? this.reported;
        return null;
      default:
        // contentBlockStop and events added later carry nothing a chat client needs.
        return null;
    }
  }

  private blockStart(body: Json): CanonicalChunk | null {
    const start = isRecord(body.start) ? body.start : {};
    const use = isRecord(start.toolUse) ? start.toolUse : null;
    if (!use) return null;
    const index = this.toolIndex.size;
    this.toolIndex.set(Number(body.contentBlockIndex), index);
    const name = typeof use.name === 'string' ? use.name : '';
    this.text += name;
    return this.chunk({
      tool_calls: [
        {
          index,
          id: typeof use.toolUseId === 'string' ? use.toolUseId : `call_${index}`,
          type: 'function',
          function: { name, arguments: '' },
        },
      ],
    });
  }

  private blockDelta(body: Json): CanonicalChunk | null {
    const delta = isRecord(body.delta) ? body.delta : {};
    if (typeof delta.text === 'string') {
      this.text += delta.text;
      return this.chunk({ content: delta.text });
    }
    if (isRecord(delta.toolUse) && typeof delta.toolUse.input === 'string') {
      const index = this.toolIndex.get(Number(body.contentBlockIndex)) ?? 0;
      this.text += delta.toolUse.input;
      return this.chunk({ tool_calls: [{ index, function: { arguments: delta.toolUse.input } }] });
    }
    if (isRecord(delta.reasoningContent) && typeof delta.reasoningContent.text === 'string') {
      this.text += delta.reasoningContent.text;
      return this.chunk({ reasoning_content: delta.reasoningContent.text });
    }
    return null;
  }

  private chunk(delta: Json, finish: string | null = null): CanonicalChunk {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: '',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    };
  }
}
