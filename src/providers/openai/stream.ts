import type { Usage } from '../../pricing/types.ts';
import { FinishReasons } from '../finishReasons.ts';
import { parseJsonObject, type SseEvent, SseSplitter } from '../sse.ts';
import type { CanonicalChunk, StreamDecoder, StreamMeter } from '../types.ts';
import { noteChatChoices } from './finishReasons.ts';
import { usageFromOpenAi } from './usage.ts';

/** Text a chat chunk generated: content, reasoning, refusals and tool-call names/arguments. */
export function chunkText(chunk: Record<string, unknown> | null): string {
  let text = '';
  const choices = chunk?.choices;
  if (!Array.isArray(choices)) return text;
  for (const choice of choices as Array<{ delta?: Record<string, unknown> }>) {
    const delta = choice?.delta ?? {};
    for (const field of ['content', 'reasoning_content', 'reasoning', 'refusal'] as const) {
      const v = delta[field];
      if (typeof v === 'string') text += v;
    }
    const toolCalls = delta.tool_calls;
    if (Array.isArray(toolCalls)) {
      for (const call of toolCalls as Array<{ function?: { name?: unknown; arguments?: unknown } }>) {
        if (typeof call?.function?.name === 'string') text += call.function.name;
        if (typeof call?.function?.arguments === 'string') text += call.function.arguments;
      }
    }
  }
  return text;
}

/** A chunk whose choice finished: `"finish_reason":null` on every other chunk never matches. */
function carriesFinishReason(data: string): boolean {
  return data.includes('"finish_reason":"') || data.includes('"finish_reason": "');
}

/**
 * Reads OpenAI chat SSE event by event: usage, finish reasons, errors, the end marker. Parses
 * only the events that can carry usage, a finish reason (the last chunk of each choice) or an
 * error; keeps the other data strings so the generated text can be counted if the stream ends
 * without usage (cut, abandoned, provider omitted it).
 */
class ChatSseReader {
  private readonly splitter = new SseSplitter();
  private dataEvents: string[] = [];
  readonly finishReasons = new FinishReasons();
  reported: Usage | null = null;
  done = false;
  error: string | null = null;

  push(chunk: Buffer): SseEvent[] {
    return this.splitter.push(chunk);
  }

  end(): SseEvent[] {
    // A truncated last event is not forwarded, but whatever it generated is still metered.
    return this.splitter.end((partial) => {
      if (partial.data !== null) this.dataEvents.push(partial.data);
    });
  }

  /** Meters one event; returns its parsed JSON when it had to parse it. */
  read(event: SseEvent): { usageOnly: boolean; parsed: Record<string, unknown> | null } {
    const data = event.data;
    if (data === null) return { usageOnly: false, parsed: null };
    if (data === '[DONE]') {
      this.done = true;
      return { usageOnly: false, parsed: null };
    }
    let parsed: Record<string, unknown> | null = null;
    if (carriesFinishReason(data)) {
      parsed = parseJsonObject(data);
      noteChatChoices(this.finishReasons, parsed?.choices);
    }
    if (data.includes('"usage":{') || data.includes('"usage": {')) {
      parsed ??= parseJsonObject(data);
      const usage = usageFromOpenAi(parsed?.usage);
      if (usage) {
        this.reported = usage;
        this.dataEvents = [];
        const choices = parsed?.choices;
        return { usageOnly: Array.isArray(choices) && choices.length === 0, parsed };
      }
    }
    if (data.startsWith('{"error"') || data.includes('"error":{')) {
      parsed ??= parseJsonObject(data);
      const err = parsed?.error as { message?: unknown } | undefined;
      if (err) this.error = typeof err.message === 'string' ? err.message : JSON.stringify(err);
    }
    if (this.reported === null) this.dataEvents.push(data);
    return { usageOnly: false, parsed };
  }

  generatedText(): string {
    let text = '';
    for (const data of this.dataEvents) text += chunkText(parseJsonObject(data));
    return text;
  }
}

/** What a meter and a decoder both report about the stream they read. */
abstract class ChatSseReport {
  protected readonly reader = new ChatSseReader();

  usage(): Usage | null {
    return this.reader.reported;
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
    return this.reader.finishReasons.list();
  }
}

/** Passes OpenAI chat SSE through unchanged, except the usage chunk the client did not ask for. */
export class OpenAiStreamMeter extends ChatSseReport implements StreamMeter {
  constructor(private readonly clientWantsUsage: boolean) {
    super();
  }

  push(chunk: Buffer): Buffer | null {
    return this.forward(this.reader.push(chunk));
  }

  end(): Buffer | null {
    return this.forward(this.reader.end());
  }

  private forward(events: SseEvent[]): Buffer | null {
    let out = '';
    for (const event of events) {
      const { usageOnly } = this.reader.read(event);
      if (usageOnly && !this.clientWantsUsage) continue;
      out += event.raw;
    }
    return out.length > 0 ? Buffer.from(out) : null;
  }
}

/** OpenAI chat SSE → canonical chunk objects (for clients that speak another dialect). */
export class OpenAiChatDecoder extends ChatSseReport implements StreamDecoder {
  push(chunk: Buffer): CanonicalChunk[] {
    return this.decode(this.reader.push(chunk));
  }

  end(): CanonicalChunk[] {
    return this.decode(this.reader.end());
  }

  private decode(events: SseEvent[]): CanonicalChunk[] {
    const chunks: CanonicalChunk[] = [];
    for (const event of events) {
      const { parsed } = this.reader.read(event);
      if (event.data === null || event.data === '[DONE]') continue;
      const chunk = parsed ?? parseJsonObject(event.data);
      if (chunk && !('error' in chunk)) chunks.push(chunk);
    }
    return chunks;
  }
}
