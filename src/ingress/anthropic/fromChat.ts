import { randomUUID } from 'node:crypto';
import type { Usage } from '../../pricing/types.ts';
import { toolArgumentsObject } from '../../providers/canonicalText.ts';
import type { CanonicalCompletion } from '../../providers/types.ts';
import type { EncoderContext } from '../types.ts';

/** The Anthropic side of canonical answers: stop reasons, usage and ids in the Messages API's shape. */

type Json = Record<string, unknown>;

export function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An OpenAI finish_reason as Anthropic's stop_reason. */
export function stopReasonOf(finishReason: unknown): string {
  switch (finishReason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/** Tollgate's Usage as Anthropic reports it: input excludes both cache kinds, output includes thinking. */
export function anthropicUsage(u: Usage | null) {
  return {
    input_tokens: u?.inputTokens ?? 0,
    cache_creation_input_tokens: u?.cacheWriteTokens ?? 0,
    cache_read_input_tokens: u?.cacheReadTokens ?? 0,
    output_tokens: u?.outputTokens ?? 0,
  };
}

/** A `msg_` id for an answer that came from elsewhere (derived from its own id when it has one). */
export function messageId(id: unknown): string {
  if (typeof id === 'string' && id.startsWith('msg_')) return id;
  const tail = typeof id === 'string' ? id.replace(/^chatcmpl-/, '').replace(/[^A-Za-z0-9]/g, '') : '';
  return `msg_${tail !== '' ? tail : randomUUID().replaceAll('-', '')}`;
}

/**
 * A `chat.completion` → an Anthropic Message: reasoning as a thinking block, content (or a
 * refusal) as a text block, tool_calls as tool_use blocks, finish_reason as stop_reason, and
 * the settled usage. Only the first choice: Messages has no `n`.
 */
export function messageFromCompletion(
  completion: CanonicalCompletion,
  usage: Usage | null,
  ctx: EncoderContext,
) {
  const choices = Array.isArray(completion.choices) ? completion.choices : [];
  const choice = isRecord(choices[0]) ? choices[0] : {};
  const message = isRecord(choice.message) ? choice.message : {};
  const content: Json[] = [];
  const reasoning = message.reasoning_content ?? message.reasoning;
  if (typeof reasoning === 'string' && reasoning !== '') {
    content.push({ type: 'thinking', thinking: reasoning, signature: '' });
  }
  const text =
    typeof message.content === 'string'
      ? message.content
      : typeof message.refusal === 'string'
        ? message.refusal
        : '';
  if (text !== '') content.push({ type: 'text', text });
  for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    if (!isRecord(call) || !isRecord(call.function)) continue;
    content.push({
      type: 'tool_use',
      id: typeof call.id === 'string' ? call.id : '',
      name: typeof call.function.name === 'string' ? call.function.name : '',
      input: toolArgumentsObject(call.function.arguments),
    });
  }
  return {
    id: messageId(completion.id),
    type: 'message',
    role: 'assistant',
    model: ctx.model,
    content,
    stop_reason: stopReasonOf(choice.finish_reason),
    stop_sequence: null,
    usage: anthropicUsage(usage),
  };
}
