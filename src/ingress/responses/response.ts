import { randomUUID } from 'node:crypto';
import type { Usage } from '../../pricing/types.ts';
import type { CanonicalCompletion } from '../../providers/types.ts';

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete';

/** Tollgate's Usage in the Responses shape (input includes cached and cache-written tokens; output includes reasoning). */
export function responsesUsage(u: Usage) {
  const input = u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: u.cacheReadTokens, cache_write_tokens: u.cacheWriteTokens },
    output_tokens: u.outputTokens,
    output_tokens_details: { reasoning_tokens: u.reasoningTokens },
    total_tokens: input + u.outputTokens,
  };
}

export function itemId(prefix: 'msg' | 'fc' | 'rs'): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

export function responseId(completionId: unknown): string {
  const id = typeof completionId === 'string' ? completionId.replace(/[^A-Za-z0-9_-]/g, '') : '';
  return id === '' ? `resp_${randomUUID().replaceAll('-', '')}` : `resp_${id}`;
}

/** Why chat stopped → the Responses status (a cut reply is `incomplete`, with the reason). */
export function statusOf(finishReason: unknown): {
  status: 'completed' | 'incomplete';
  incomplete: { reason: string } | null;
} {
  if (finishReason === 'length') return { status: 'incomplete', incomplete: { reason: 'max_output_tokens' } };
  if (finishReason === 'content_filter')
    return { status: 'incomplete', incomplete: { reason: 'content_filter' } };
  return { status: 'completed', incomplete: null };
}

export interface ResponseShell {
  id: string;
  createdAt: number;
  model: string;
}

/**
 * A `response` object with the request settings the translation does not carry back set to
 * their defaults. `store: false`: nothing is stored, so previous_response_id cannot refer to it.
 */
export function responseObject(
  shell: ResponseShell,
  status: ResponseStatus,
  output: Record<string, unknown>[],
  usage: Usage | null,
  incomplete: { reason: string } | null = null,
): Record<string, unknown> {
  return {
    id: shell.id,
    object: 'response',
    created_at: shell.createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: incomplete,
    instructions: null,
    max_output_tokens: null,
    model: shell.model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: null,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: null,
    truncation: 'disabled',
    usage: usage ? responsesUsage(usage) : null,
    metadata: {},
  };
}

export function textPart(text: string): Record<string, unknown> {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

export function messageItem(id: string, status: ResponseStatus, text: string): Record<string, unknown> {
  return {
    id,
    type: 'message',
    status,
    role: 'assistant',
    content: status === 'in_progress' ? [] : [textPart(text)],
  };
}

export function functionCallItem(
  id: string,
  status: ResponseStatus,
  call: { callId: string; name: string; arguments: string },
): Record<string, unknown> {
  return {
    id,
    type: 'function_call',
    status,
    arguments: call.arguments,
    call_id: call.callId,
    name: call.name,
  };
}

export function reasoningItem(id: string, text: string | null): Record<string, unknown> {
  return { id, type: 'reasoning', summary: text === null ? [] : [{ type: 'summary_text', text }] };
}

/** A canonical chat.completion as a `response` object: reasoning, text and function calls become output items. */
export function chatToResponse(
  completion: CanonicalCompletion,
  usage: Usage | null,
  model: string,
): Record<string, unknown> {
  const choices = Array.isArray(completion.choices) ? completion.choices : [];
  const choice = (choices[0] ?? {}) as { message?: Record<string, unknown>; finish_reason?: unknown };
  const message = choice.message ?? {};
  const { status, incomplete } = statusOf(choice.finish_reason);
  const output: Record<string, unknown>[] = [];
  const reasoning = message.reasoning_content ?? message.reasoning;
  if (typeof reasoning === 'string' && reasoning !== '') output.push(reasoningItem(itemId('rs'), reasoning));
  const text = [message.content, message.refusal].filter((t) => typeof t === 'string' && t !== '').join('');
  if (text !== '') output.push(messageItem(itemId('msg'), status, text));
  if (Array.isArray(message.tool_calls)) {
    for (const raw of message.tool_calls as unknown[]) {
      const call = (raw ?? {}) as { id?: unknown; function?: { name?: unknown; arguments?: unknown } };
      output.push(
        functionCallItem(itemId('fc'), 'completed', {
          callId: typeof call.id === 'string' ? call.id : '',
          name: typeof call.function?.name === 'string' ? call.function.name : '',
          arguments: typeof call.function?.arguments === 'string' ? call.function.arguments : '',
        }),
      );
    }
  }
  const shell = {
    id: responseId(completion.id),
    createdAt: typeof completion.created === 'number' ? completion.created : Math.floor(Date.now() / 1000),
    model,
  };
  return responseObject(shell, status, output, usage, incomplete);
}
