import type { Usage } from '../../pricing/types.ts';
import type { CanonicalChunk } from '../../providers/types.ts';
import type { EncoderContext, StreamEncoder } from '../types.ts';
import {
  functionCallItem,
  itemId,
  messageItem,
  type ResponseShell,
  type ResponseStatus,
  reasoningItem,
  responseId,
  responseObject,
  statusOf,
  textPart,
} from './response.ts';

/** One output item being streamed. */
type Item =
  | { kind: 'reasoning'; id: string; index: number; text: string; open: boolean }
  | { kind: 'message'; id: string; index: number; text: string; open: boolean }
  | {
      kind: 'function_call';
      id: string;
      index: number;
      callId: string;
      name: string;
      arguments: string;
      open: boolean;
    };

interface ChunkDelta {
  content?: unknown;
  refusal?: unknown;
  reasoning_content?: unknown;
  reasoning?: unknown;
  tool_calls?: unknown;
}

interface ToolCallDelta {
  index?: unknown;
  id?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}

/**
 * Canonical chat chunks → Responses SSE events: response.created / in_progress first, then
 * per output item its *.added, deltas and *.done events (reasoning as a summary, text as an
 * output_text part, each tool call as a function_call item), and response.completed (or
 * response.incomplete) with the full response and usage. Only the first choice is carried:
 * a response has one output.
 */
export class ResponsesEncoder implements StreamEncoder {
  private sequence = 0;
  private shell: ResponseShell | null = null;
  private readonly items: Item[] = [];
  private current: Item | null = null;
  private readonly calls = new Map<number, Item & { kind: 'function_call' }>();
  private finishReason: unknown = null;

  constructor(private readonly ctx: EncoderContext) {}

  encode(chunk: CanonicalChunk): string {
    let out = this.start(chunk);
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    const choice = choices.find((c: { index?: unknown }) => (c?.index ?? 0) === 0) as
      | { delta?: ChunkDelta; finish_reason?: unknown }
      | undefined;
    if (!choice) return out;
    const delta = choice.delta ?? {};
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (typeof reasoning === 'string' && reasoning !== '') out += this.reasoningDelta(reasoning);
    for (const text of [delta.content, delta.refusal]) {
      if (typeof text === 'string' && text !== '') out += this.textDelta(text);
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const call of delta.tool_calls as ToolCallDelta[]) out += this.toolDelta(call ?? {});
    }
    if (choice.finish_reason !== null && choice.finish_reason !== undefined)
      this.finishReason = choice.finish_reason;
    return out;
  }

  finish(usage: Usage | null): string {
    let out = this.start({});
    const { status, incomplete } = statusOf(this.finishReason);
    for (const item of this.items) out += this.close(item, status);
    const output = this.items.map((item) => this.itemObject(item, status));
    if (!this.shell) return out;
    return (
      out +
      this.event(`response.${status}`, {
        response: responseObject(this.shell, status, output, usage, incomplete),
      })
    );
  }

  private start(chunk: CanonicalChunk): string {
    if (this.shell) return '';
    this.shell = {
      id: responseId(chunk.id),
      createdAt: typeof chunk.created === 'number' ? chunk.created : Math.floor(Date.now() / 1000),
      model: this.ctx.model,
    };
    const response = responseObject(this.shell, 'in_progress', [], null);
    return this.event('response.created', { response }) + this.event('response.in_progress', { response });
  }

  private reasoningDelta(text: string): string {
    let out = '';
    let item = this.current;
    if (item?.kind !== 'reasoning') {
      out += this.closeCurrent();
      item = this.open({
        kind: 'reasoning',
        id: itemId('rs'),
        index: this.items.length,
        text: '',
        open: true,
      });
      out += this.event('response.output_item.added', {
        output_index: item.index,
        item: reasoningItem(item.id, null),
      });
      out += this.event('response.reasoning_summary_part.added', {
        ...this.at(item),
        summary_index: 0,
        part: { type: 'summary_text', text: '' },
      });
    }
    item.text += text;
    return (
      out +
      this.event('response.reasoning_summary_text.delta', { ...this.at(item), summary_index: 0, delta: text })
    );
  }

  private textDelta(text: string): string {
    let out = '';
    let item = this.current;
    if (item?.kind !== 'message') {
      out += this.closeCurrent();
      item = this.open({
        kind: 'message',
        id: itemId('msg'),
        index: this.items.length,
        text: '',
        open: true,
      });
      out += this.event('response.output_item.added', {
        output_index: item.index,
        item: messageItem(item.id, 'in_progress', ''),
      });
      out += this.event('response.content_part.added', {
        ...this.at(item),
        content_index: 0,
        part: textPart(''),
      });
    }
    item.text += text;
    return (
      out +
      this.event('response.output_text.delta', {
        ...this.at(item),
        content_index: 0,
        delta: text,
        logprobs: [],
      })
    );
  }

  private toolDelta(call: ToolCallDelta): string {
    let out = '';
    const key = typeof call.index === 'number' ? call.index : 0;
    let item = this.calls.get(key);
    if (!item) {
      out += this.closeCurrent();
      const opened: Item & { kind: 'function_call' } = {
        kind: 'function_call',
        id: itemId('fc'),
        index: this.items.length,
        callId: typeof call.id === 'string' ? call.id : `call_${itemId('fc').slice(3, 27)}`,
        name: '',
        arguments: '',
        open: true,
      };
      item = opened;
      this.calls.set(key, opened);
      this.open(opened);
      if (typeof call.function?.name === 'string') opened.name = call.function.name;
      out += this.event('response.output_item.added', {
        output_index: opened.index,
        item: functionCallItem(opened.id, 'in_progress', { ...opened, arguments: '' }),
      });
    } else if (typeof call.function?.name === 'string' && item.name === '') {
      item.name = call.function.name;
    }
    const args = call.function?.arguments;
    if (typeof args === 'string' && args !== '') {
      item.arguments += args;
      out += this.event('response.function_call_arguments.delta', { ...this.at(item), delta: args });
    }
    return out;
  }

  private open<T extends Item>(item: T): T {
    this.items.push(item);
    this.current = item;
    return item;
  }

  private closeCurrent(): string {
    // A tool call stays open until the end: later chunks may still carry its arguments.
    const item = this.current;
    this.current = null;
    return item && item.kind !== 'function_call' ? this.close(item) : '';
  }

  private close(item: Item, status: ResponseStatus = 'completed'): string {
    if (!item.open) return '';
    item.open = false;
    const at = this.at(item);
    let out = '';
    if (item.kind === 'reasoning') {
      const part = { type: 'summary_text', text: item.text };
      out += this.event('response.reasoning_summary_text.done', { ...at, summary_index: 0, text: item.text });
      out += this.event('response.reasoning_summary_part.done', { ...at, summary_index: 0, part });
    } else if (item.kind === 'message') {
      out += this.event('response.output_text.done', {
        ...at,
        content_index: 0,
        text: item.text,
        logprobs: [],
      });
      out += this.event('response.content_part.done', { ...at, content_index: 0, part: textPart(item.text) });
    } else {
      out += this.event('response.function_call_arguments.done', {
        ...at,
        name: item.name,
        arguments: item.arguments,
      });
    }
    return (
      out +
      this.event('response.output_item.done', {
        output_index: item.index,
        item: this.itemObject(item, status),
      })
    );
  }

  private itemObject(item: Item, status: ResponseStatus): Record<string, unknown> {
    if (item.kind === 'reasoning') return reasoningItem(item.id, item.text);
    if (item.kind === 'message') return messageItem(item.id, status, item.text);
    return functionCallItem(item.id, 'completed', item);
  }

  private at(item: Item) {
    return { item_id: item.id, output_index: item.index };
  }

  private event(type: string, fields: Record<string, unknown>): string {
    const data = JSON.stringify({ type, sequence_number: this.sequence++, ...fields });
    return `event: ${type}\ndata: ${data}\n\n`;
  }
}
