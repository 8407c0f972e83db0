import type { Usage } from '../../pricing/types.ts';
import { onlyReason } from '../finishReasons.ts';
import { parseJsonObject, type SseEvent, SseSplitter } from '../sse.ts';
import type { CanonicalChunk, StreamDecoder, StreamMeter } from '../types.ts';
import { argumentsOf, isRecord } from './response.ts';
import { finishReasonOf } from './usage.ts';

type Json = Record<string, unknown>;

const TYPE_PREFIX = /^\{\s*"type"\s*:\s*"([^"\\]+)"/;

/** The event's type: its `event:` field (Anthropic always sends one), else the `type` its JSON starts with. */
function eventType(event: SseEvent, data: string): string | null {
  if (event.event !== null) return event.event;
  const prefix = TYPE_PREFIX.exec(data);
  if (prefix) return prefix[1] ?? null;
  const parsed = parseJsonObject(data);
  return typeof parsed?.type === 'string' ? parsed.type : null;
}

const count = (v: unknown): number | null =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : null;

/** Text an event generated: text, thinking, tool names and JSON input. */
function eventText(parsed: Json | null): string {
  if (parsed === null) return '';
  const block = parsed.content_block;
  if (isRecord(block)) {
    if (block.type === 'tool_use' || block.type === 'server_tool_use')
      return typeof block.name === 'string' ? block.name : '';
    if (typeof block.text === 'string') return block.text;
    return typeof block.thinking === 'string' ? block.thinking : '';
  }
  const delta = parsed.delta;
  if (!isRecord(delta)) return '';
  for (const field of ['text', 'partial_json', 'thinking'] as const) {
    if (typeof delta[field] === 'string') return delta[field] as string;
  }
  return '';
}

function errorMessage(parsed: Json | null, fallback: string): string {
  const error = parsed?.error;
  if (!isRecord(error)) return fallback;
  const message = typeof error.message === 'string' && error.message !== '' ? error.message : fallback;
  return typeof error.type === 'string' ? `${error.type}: ${message}` : message;
}

/**
 * Reads Anthropic Messages SSE event by event. Usage comes in two halves: the input side
 * (input, cache write, cache read) in message_start, the cumulative output in each
 * message_delta — whose newer form repeats the input side too, which then wins; the
 * message_delta also says why the message stopped. Block starts and deltas are kept as
 * strings (parsed only if the stream ends without usage).
 */
class MessagesSseReader {
  private readonly splitter = new SseSplitter();
  private generated: string[] = [];
  private input: number | null = null;
  private cacheWrite: number | null = null;
  private cacheRead: number | null = null;
  private output: number | null = null;
  /** message_delta's `stop_reason`, as Anthropic says it (end_turn, max_tokens, tool_use, …). */
  stopReason: string | null = null;
  done = false;
  error: string | null = null;

  push(chunk: Buffer): SseEvent[] {
    return this.splitter.push(chunk);
  }

  end(): SseEvent[] {
    // A truncated last event is not forwarded, but whatever it generated is still metered.
    return this.splitter.end((partial) => {
      if (partial.data !== null) this.generated.push(partial.data);
    });
  }

  /**
   * Meters one event. `full` parses every event (the decoder needs them all); otherwise only
   * the few that carry usage or errors are parsed. Returns the type and the parsed JSON, if any.
   */
  read(event: SseEvent, full: boolean): { type: string | null; parsed: Json | null } {
    const data = event.data;
    if (data === null) return { type: event.event, parsed: null };
    const type = eventType(event, data);
    if (type === 'content_block_delta' || type === 'content_block_start') {
      if (this.output === null || this.error !== null) this.generated.push(data);
      const parsed = full ? parseJsonObject(data) : null;
      // Pass-through skips parsing deltas, so a cheap shape check stands in for it.
      const broken = full ? parsed === null : !(data.startsWith('{') && data.endsWith('}'));
      if (broken) this.fail('an event is not valid JSON');
      return { type, parsed };
    }
    if (type === 'ping' || type === 'content_block_stop')
      return { type, parsed: full ? parseJsonObject(data) : null };
    const parsed = parseJsonObject(data);
    if (parsed === null) {
      this.fail('an event is not valid JSON');
      return { type, parsed };
    }
    switch (type) {
      case 'message_start': {
        const usage = isRecord(parsed.message) ? parsed.message.usage : undefined;
        if (isRecord(usage)) this.takeInput(usage);
        break;
      }
      case 'message_delta': {
        if (isRecord(parsed.delta) && typeof parsed.delta.stop_reason === 'string')
          this.stopReason = parsed.delta.stop_reason;
        const usage = parsed.usage;
        if (isRecord(usage)) {
          this.takeInput(usage);
          const output = count(usage.output_tokens);
          if (output !== null) {
            this.output = output;
            if (this.error === null && this.input !== null) this.generated = [];
          }
        }
        break;
      }
      case 'message_stop':
        this.done = true;
        break;
      case 'error':
        this.fail(errorMessage(parsed, 'error event'));
        break;
    }
    return { type, parsed };
  }

  usage(): Usage | null {
    if (this.input === null || this.output === null) return null;
    return {
      inputTokens: this.input,
      outputTokens: this.output,
      cacheReadTokens: this.cacheRead ?? 0,
      cacheWriteTokens: this.cacheWrite ?? 0,
      reasoningTokens: 0,
    };
  }

  generatedText(): string {
    let text = '';
    for (const data of this.generated) text += eventText(parseJsonObject(data));
    return text;
  }

  private takeInput(usage: Json): void {
    this.input = count(usage.input_tokens) ?? this.input;
    this.cacheWrite = count(usage.cache_creation_input_tokens) ?? this.cacheWrite;
    this.cacheRead = count(usage.cache_read_input_tokens) ?? this.cacheRead;
  }

  private fail(why: string): void {
    if (this.error === null) this.error = why;
  }
}

/** What a meter and a decoder both report about the stream they read. */
abstract class MessagesSseReport {
  protected readonly reader = new MessagesSseReader();

  usage(): Usage | null {
    return this.reader.usage();
  }

  completed(): boolean {
    return this.reader.done;
  }

  streamError(): string | null {
    return this.reader.error;
  }

  generatedText(): string {
    return this.reader.generatedText();
  }

  finishReasons(): string[] {
    return onlyReason(this.reader.stopReason);
  }
}

/** Passes Anthropic SSE through unchanged (its usage is always in the stream), metering it. */
export class AnthropicStreamMeter extends MessagesSseReport implements StreamMeter {
  push(chunk: Buffer): Buffer | null {
    return this.forward(this.reader.push(chunk));
  }

  end(): Buffer | null {
    return this.forward(this.reader.end());
  }

  private forward(events: SseEvent[]): Buffer | null {
    let out = '';
    for (const event of events) {
      this.reader.read(event, false);
      out += event.raw;
    }
    return out.length > 0 ? Buffer.from(out) : null;
  }
}

/**
 * Anthropic SSE → canonical chat chunks: message_start opens the assistant turn, text and
 * thinking deltas become content and reasoning_content, each tool_use block one tool call
 * (its id and name first, then its JSON input piece by piece), message_delta's stop_reason the
 * finish_reason. After an error nothing more is decoded; the pipeline ends the client's stream.
 */
export class AnthropicChatDecoder extends MessagesSseReport implements StreamDecoder {
  private id = '';
  private readonly created = Math.floor(Date.now() / 1000);
  /** Block index → tool call index, for tool_use blocks. */
  private readonly toolCalls = new Map<number, number>();

  push(chunk: Buffer): CanonicalChunk[] {
    return this.decode(this.reader.push(chunk));
  }

  end(): CanonicalChunk[] {
    return this.decode(this.reader.end());
  }

  private decode(events: SseEvent[]): CanonicalChunk[] {
    const chunks: CanonicalChunk[] = [];
    for (const event of events) {
      const hadError = this.reader.error !== null;
      const { type, parsed } = this.reader.read(event, true);
      if (hadError || this.reader.error !== null || parsed === null) continue;
      const chunk = this.chunkOf(type, parsed);
      if (chunk) chunks.push(chunk);
    }
    return chunks;
  }

  private chunk(delta: Json, finishReason: string | null = null): CanonicalChunk {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      // The client-facing side names the model the client asked for.
      model: '',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    };
  }

  private chunkOf(type: string | null, event: Json): CanonicalChunk | null {
    switch (type) {
      case 'message_start': {
        const message = isRecord(event.message) ? event.message : {};
        this.id = typeof message.id === 'string' ? message.id : '';
        return this.chunk({ role: 'assistant', content: '' });
      }
      case 'content_block_start':
        return this.blockStart(
          count(event.index) ?? 0,
          isRecord(event.content_block) ? event.content_block : {},
        );
      case 'content_block_delta':
        return this.blockDelta(count(event.index) ?? 0, isRecord(event.delta) ? event.delta : {});
      case 'message_delta': {
        const delta = isRecord(event.delta) ? event.delta : {};
        return delta.stop_reason == null ? null : this.chunk({}, finishReasonOf(delta.stop_reason));
      }
      default:
        return null;
    }
  }

  private blockStart(index: number, block: Json): CanonicalChunk | null {
    if (block.type === 'tool_use') {
      const toolIndex = this.toolCalls.size;
      this.toolCalls.set(index, toolIndex);
      const input =
        isRecord(block.input) && Object.keys(block.input).length > 0 ? argumentsOf(block.input) : '';
      return this.chunk({
        tool_calls: [
          {
            index: toolIndex,
            id: typeof block.id === 'string' ? block.id : '',
            type: 'function',
            function: { name: typeof block.name === 'string' ? block.name : '', arguments: input },
          },
        ],
      });
    }
    if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') {
      return this.chunk({ content: block.text });
    }
    if (block.type === 'thinking' && typeof block.thinking === 'string' && block.thinking !== '') {
      return this.chunk({ reasoning_content: block.thinking });
    }
    return null;
  }

  private blockDelta(index: number, delta: Json): CanonicalChunk | null {
    switch (delta.type) {
      case 'text_delta':
        return typeof delta.text === 'string' ? this.chunk({ content: delta.text }) : null;
      case 'thinking_delta':
        return typeof delta.thinking === 'string' ? this.chunk({ reasoning_content: delta.thinking }) : null;
      case 'input_json_delta': {
        const toolIndex = this.toolCalls.get(index);
        const piece = delta.partial_json;
        if (toolIndex === undefined || typeof piece !== 'string' || piece === '') return null;
        return this.chunk({ tool_calls: [{ index: toolIndex, function: { arguments: piece } }] });
      }
      default:
        return null;
    }
  }
}
