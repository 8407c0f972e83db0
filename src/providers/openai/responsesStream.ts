import type { Usage } from '../../pricing/types.ts';
import { parseJsonObject, type SseEvent, SseSplitter } from '../sse.ts';
import type { StreamMeter } from '../types.ts';
import { responsesFinishReasons } from './finishReasons.ts';
import { usageFromResponses } from './usage.ts';

/** Events whose `delta` is generated output: text, refusals, tool arguments, reasoning. */
const DELTA_EVENTS = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.function_call_arguments.delta',
  'response.custom_tool_call_input.delta',
  'response.reasoning_text.delta',
  'response.reasoning_summary_text.delta',
]);
/** A clean end: `incomplete` is how a response cut by max_output_tokens ends, with usage. */
const FINAL_EVENTS = new Set(['response.completed', 'response.incomplete']);
const ITEM_ADDED = 'response.output_item.added';

const TYPE_PREFIX = /^\{\s*"type"\s*:\s*"([^"\\]+)"/;

/** The event's type: its `event:` field, else the `type` its JSON starts with (or contains). */
function eventType(event: SseEvent, data: string): string | null {
  if (event.event !== null) return event.event;
  const prefix = TYPE_PREFIX.exec(data);
  if (prefix) return prefix[1] ?? null;
  const parsed = parseJsonObject(data);
  return typeof parsed?.type === 'string' ? parsed.type : null;
}

function errorMessage(value: unknown, fallback: string): string {
  if (value === null || typeof value !== 'object') return fallback;
  const message = (value as { message?: unknown }).message;
  return typeof message === 'string' && message !== '' ? message : fallback;
}

/**
 * Passes OpenAI Responses SSE through unchanged while metering it: usage and the finish
 * reason from `response.completed` / `response.incomplete`, errors from `response.failed` and
 * `error` events. Delta events are kept as strings (parsed only if the stream ends without usage),
 * so the hot path parses just the final event.
 */
export class ResponsesStreamMeter implements StreamMeter {
  private readonly splitter = new SseSplitter();
  private generated: string[] = [];
  private reported: Usage | null = null;
  private done = false;
  private error: string | null = null;
  private reasons: string[] = [];

  push(chunk: Buffer): Buffer | null {
    return this.forward(this.splitter.push(chunk));
  }

  end(): Buffer | null {
    // A truncated last event is not forwarded, but whatever it generated is still metered.
    const events = this.splitter.end((partial) => {
      if (partial.data !== null && this.reported === null) this.generated.push(partial.data);
    });
    return this.forward(events);
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

  finishReasons(): string[] {
    return this.reasons;
  }

  generatedText(): string {
    let text = '';
    for (const data of this.generated) {
      const parsed = parseJsonObject(data);
      if (typeof parsed?.delta === 'string') text += parsed.delta;
      const item = parsed?.item as { type?: unknown; name?: unknown } | undefined;
      if (item?.type === 'function_call' && typeof item.name === 'string') text += item.name;
    }
    return text;
  }

  private forward(events: SseEvent[]): Buffer | null {
    let out = '';
    for (const event of events) {
      this.read(event);
      out += event.raw;
    }
    return out.length > 0 ? Buffer.from(out) : null;
  }

  private read(event: SseEvent): void {
    const data = event.data;
    if (data === null || data === '[DONE]') return;
    const type = eventType(event, data);
    if (type === null) return;
    if (DELTA_EVENTS.has(type) || (type === ITEM_ADDED && data.includes('"function_call"'))) {
      if (this.reported === null) this.generated.push(data);
      return;
    }
    if (FINAL_EVENTS.has(type)) {
      const response = parseJsonObject(data)?.response;
      if (response === null || typeof response !== 'object') {
        this.error = `malformed ${type} event`;
        return;
      }
      this.done = true;
      this.reasons = responsesFinishReasons(response);
      const usage = usageFromResponses((response as { usage?: unknown }).usage);
      if (usage) {
        this.reported = usage;
        this.generated = [];
      }
      return;
    }
    if (type === 'response.failed') {
      const response = parseJsonObject(data)?.response as { error?: unknown } | undefined;
      this.reasons = responsesFinishReasons(response);
      this.error = errorMessage(response?.error, 'the response failed');
    } else if (type === 'error') {
      const parsed = parseJsonObject(data);
      this.error = errorMessage(parsed, errorMessage(parsed?.error, 'error event'));
    }
  }
}
