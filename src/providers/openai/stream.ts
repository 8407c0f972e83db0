import { StringDecoder } from 'node:string_decoder';
import type { Usage } from '../../pricing/types.ts';
import type { StreamMeter } from '../types.ts';
import { usageFromOpenAi } from './usage.ts';

/**
 * Passes OpenAI chat SSE through event by event. Parses only the events that can carry usage
 * or an error; keeps the raw data strings so the generated text can be counted if the stream
 * ends without usage (cut, abandoned, provider omitted it).
 */
export class OpenAiStreamMeter implements StreamMeter {
  private readonly decoder = new StringDecoder('utf8');
  private tail = '';
  private dataEvents: string[] = [];
  private reported: Usage | null = null;
  private done = false;
  private error: string | null = null;

  constructor(private readonly clientWantsUsage: boolean) {}

  push(chunk: Buffer): Buffer | null {
    return this.drain(this.tail + this.decoder.write(chunk), false);
  }

  end(): Buffer | null {
    return this.drain(this.tail + this.decoder.end(), true);
  }

  usage(): Usage | null {
    return this.reported;
  }

  completed(): boolean {
    return this.done;
  }

  streamError(): string | null {
    return this.error;
  }

  generatedText(): string {
    let text = '';
    for (const data of this.dataEvents) {
      const parsed = safeParse(data);
      const choices = (parsed?.choices ?? []) as Array<{ delta?: Record<string, unknown> }>;
      if (!Array.isArray(choices)) continue;
      for (const choice of choices) {
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
    }
    return text;
  }

  private drain(input: string, final: boolean): Buffer | null {
    const text = input.includes('\r') ? input.replace(/\r\n?/g, '\n') : input;
    let out = '';
    let pos = 0;
    for (;;) {
      const idx = text.indexOf('\n\n', pos);
      if (idx < 0) break;
      const event = text.slice(pos, idx + 2);
      pos = idx + 2;
      if (this.keep(event)) out += event;
    }
    this.tail = text.slice(pos);
    if (final && this.tail.length > 0) {
      // An incomplete event at EOF is discarded, as the SSE spec tells clients to do; meter it still.
      this.keep(this.tail);
      this.tail = '';
    }
    return out.length > 0 ? Buffer.from(out) : null;
  }

  /** Meters one SSE event; returns false when it must not reach the client. */
  private keep(event: string): boolean {
    const data = dataOf(event);
    if (data === null) return true;
    if (data === '[DONE]') {
      this.done = true;
      return true;
    }
    if (data.includes('"usage":{') || data.includes('"usage": {')) {
      const parsed = safeParse(data);
      const usage = usageFromOpenAi(parsed?.usage);
      if (usage) {
        this.reported = usage;
        this.dataEvents = [];
        const choices = parsed?.choices;
        if (!this.clientWantsUsage && Array.isArray(choices) && choices.length === 0) return false;
        return true;
      }
    }
    if (data.startsWith('{"error"') || data.includes('"error":{')) {
      const parsed = safeParse(data);
      const err = parsed?.error as { message?: unknown } | undefined;
      if (err) this.error = typeof err.message === 'string' ? err.message : JSON.stringify(err);
    }
    if (this.reported === null) this.dataEvents.push(data);
    return true;
  }
}

function dataOf(event: string): string | null {
  let data: string | null = null;
  for (const line of event.split('\n')) {
    if (line.startsWith('data:')) {
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      data = data === null ? value : `${data}\n${value}`;
    }
  }
  return data;
}

function safeParse(data: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(data);
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
