import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  /** The event's text as received, blank-line terminator included (for pass-through). */
  raw: string;
  /** `event:` field, or null. */
  event: string | null;
  /** `data:` lines joined with \n, or null when the event has none. */
  data: string | null;
}

/**
 * Splits a byte stream into server-sent events. Bytes split anywhere (inside a UTF-8 char, a
 * line, an event) come out whole; an incomplete event at the end is dropped, as the SSE spec says.
 */
export class SseSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private tail = '';

  push(chunk: Buffer): SseEvent[] {
    return this.split(this.tail + this.decoder.write(chunk));
  }

  /** Events left at the end of the stream; `incomplete` receives a truncated last event, if any. */
  end(incomplete?: (event: SseEvent) => void): SseEvent[] {
    const events = this.split(this.tail + this.decoder.end());
    if (this.tail.trim().length > 0 && incomplete) incomplete(parseEvent(this.tail));
    this.tail = '';
    return events;
  }

  private split(input: string): SseEvent[] {
    const text = input.includes('\r') ? input.replace(/\r\n?/g, '\n') : input;
    const events: SseEvent[] = [];
    let pos = 0;
    for (;;) {
      const idx = text.indexOf('\n\n', pos);
      if (idx < 0) break;
      events.push(parseEvent(text.slice(pos, idx + 2)));
      pos = idx + 2;
    }
    this.tail = text.slice(pos);
    return events;
  }
}

function parseEvent(raw: string): SseEvent {
  let event: string | null = null;
  let data: string | null = null;
  for (const line of raw.split('\n')) {
    if (line.startsWith('data:')) {
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      data = data === null ? value : `${data}\n${value}`;
    } else if (line.startsWith('event:')) {
      event = line.slice(line.charCodeAt(6) === 32 ? 7 : 6);
    }
  }
  return { raw, event, data };
}

export function sseData(data: string, event?: string): string {
  return `${event ? `event: ${event}\n` : ''}data: ${data}\n\n`;
}

export function parseJsonObject(data: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(data);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
