import type { Usage } from '../../pricing/types.ts';
import type { CanonicalChunk } from '../../providers/types.ts';
import type { EncoderContext, StreamEncoder } from '../types.ts';
import { anthropicUsage, isRecord, messageId, stopReasonOf } from './fromChat.ts';

type Json = Record<string, unknown>;
type BlockKind = 'text' | 'thinking' | 'tool_use';

/** One SSE event as Anthropic writes it: the `event:` name and the same name as the JSON `type`. */
export function anthropicEvent(type: string, data: Json): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

function nonEmpty(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/**
 * Canonical chat chunks → Anthropic's event sequence: message_start (input usage as
 * estimated; the real numbers follow in message_delta, which the SDK applies), a ping, then
 * one content block per run of text, reasoning or tool call (start, deltas, stop), and at the
 * end message_delta with the stop reason and the settled usage, then message_stop.
 */
export class AnthropicMessagesEncoder implements StreamEncoder {
  private started = false;
  private open: { kind: BlockKind; index: number } | null = null;
  private nextIndex = 0;
  /** Chat tool-call index → content block index. */
  private readonly toolBlocks = new Map<number, number>();
  private stopReason = 'end_turn';

  constructor(private readonly ctx: EncoderContext) {}

  encode(chunk: CanonicalChunk): string {
    let out = this.start(chunk.id);
    const choices = Array.isArray(chunk.choices) ? chunk.choices.filter(isRecord) : [];
    // Messages has no `n`: only the first choice is the answer.
    const choice = choices.find((c) => (c.index ?? 0) === 0);
    if (!choice) return out;
    const delta = isRecord(choice.delta) ? choice.delta : {};
    const thinking = nonEmpty(delta.reasoning_content) ?? nonEmpty(delta.reasoning);
    if (thinking !== null) {
      out += this.ensure('thinking', { type: 'thinking', thinking: '', signature: '' });
      out += this.delta({ type: 'thinking_delta', thinking });
    }
    const text = nonEmpty(delta.content) ?? nonEmpty(delta.refusal);
    if (text !== null) {
      out += this.ensure('text', { type: 'text', text: '' });
      out += this.delta({ type: 'text_delta', text });
    }
    for (const call of Array.isArray(delta.tool_calls) ? delta.tool_calls.filter(isRecord) : []) {
      out += this.toolCall(call);
    }
    if (typeof choice.finish_reason === 'string') this.stopReason = stopReasonOf(choice.finish_reason);
    return out;
  }

  finish(usage: Usage | null): string {
    let out = this.start(undefined) + this.close();
    out += anthropicEvent('message_delta', {
      delta: { stop_reason: this.stopReason, stop_sequence: null },
      usage: anthropicUsage(usage),
    });
    return out + anthropicEvent('message_stop', {});
  }

  private start(id: unknown): string {
    if (this.started) return '';
    this.started = true;
    return (
      anthropicEvent('message_start', {
        message: {
          id: messageId(id),
          type: 'message',
          role: 'assistant',
          model: this.ctx.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: this.ctx.estimatedInputTokens,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            output_tokens: 1,
          },
        },
      }) + anthropicEvent('ping', {})
    );
  }

  private close(): string {
    if (this.open === null) return '';
    const index = this.open.index;
    this.open = null;
    return anthropicEvent('content_block_stop', { index });
  }

  /** The open block if it is of this kind, else a new one. */
  private ensure(kind: Exclude<BlockKind, 'tool_use'>, block: Json): string {
    if (this.open?.kind === kind) return '';
    const out = this.close();
    this.open = { kind, index: this.nextIndex++ };
    return out + anthropicEvent('content_block_start', { index: this.open.index, content_block: block });
  }

  private delta(delta: Json, index = this.open?.index ?? 0): string {
    return anthropicEvent('content_block_delta', { index, delta });
  }

  /** A tool call's first chunk (id, name) opens a tool_use block; its argument pieces become input_json_delta. */
  private toolCall(call: Json): string {
    const toolIndex = typeof call.index === 'number' ? call.index : 0;
    const fn = isRecord(call.function) ? call.function : {};
    let out = '';
    let index = this.toolBlocks.get(toolIndex);
    if (index === undefined) {
      out += this.close();
      index = this.nextIndex++;
      this.toolBlocks.set(toolIndex, index);
      this.open = { kind: 'tool_use', index };
      const block = {
        type: 'tool_use',
        id: typeof call.id === 'string' ? call.id : '',
        name: typeof fn.name === 'string' ? fn.name : '',
        input: {},
      };
      out += anthropicEvent('content_block_start', { index, content_block: block });
    }
    const args = nonEmpty(fn.arguments);
    // Pieces of a call whose block is already closed still name its index: the SDK appends by index.
    if (args !== null) out += this.delta({ type: 'input_json_delta', partial_json: args }, index);
    return out;
  }
}
