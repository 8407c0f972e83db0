import type { ResponsesPlan, ResponsesUsage } from './plan.ts';
import { outputText } from './plan.ts';

type Status = 'in_progress' | 'completed' | 'incomplete' | 'failed';

export function reasoningItem(plan: ResponsesPlan): Record<string, unknown> | null {
  return plan.reasoningItemId === null ? null : { id: plan.reasoningItemId, type: 'reasoning', summary: [] };
}

export function textPart(text: string): Record<string, unknown> {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

/** The message or function_call item, with its output so far. */
export function mainItem(plan: ResponsesPlan, status: Status, text: string): Record<string, unknown> {
  const itemStatus = status === 'failed' ? 'incomplete' : status;
  const name = plan.request.forcedFunction;
  if (name !== null) {
    return {
      id: plan.itemId,
      type: 'function_call',
      status: itemStatus,
      arguments: text,
      call_id: plan.callId,
      name,
    };
  }
  return {
    id: plan.itemId,
    type: 'message',
    status: itemStatus,
    content: status === 'in_progress' ? [] : [textPart(text)],
    role: 'assistant',
  };
}

function field<T>(body: Record<string, unknown>, key: string, fallback: T): unknown {
  const value = body[key];
  return value === undefined ? fallback : value;
}

/**
 * A `response` object as OpenAI returns it: the request's settings echoed back, the output
 * items and, once finished, the usage.
 */
export function responseObject(
  plan: ResponsesPlan,
  status: Status,
  usage: ResponsesUsage | null,
  error: { code: string; message: string } | null = null,
): Record<string, unknown> {
  const body = plan.request.body;
  const output: Record<string, unknown>[] = [];
  if (status !== 'in_progress') {
    const reasoning = reasoningItem(plan);
    if (reasoning) output.push(reasoning);
    output.push(mainItem(plan, status, status === 'failed' ? '' : outputText(plan)));
  }
  return {
    id: plan.id,
    object: 'response',
    created_at: plan.createdAt,
    status,
    background: false,
    error,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: field(body, 'instructions', null),
    max_output_tokens: field(body, 'max_output_tokens', null),
    max_tool_calls: null,
    model: plan.request.model,
    output,
    parallel_tool_calls: field(body, 'parallel_tool_calls', true),
    previous_response_id: field(body, 'previous_response_id', null),
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: field(body, 'store', true),
    temperature: field(body, 'temperature', 1),
    text: field(body, 'text', { format: { type: 'text' }, verbosity: 'medium' }),
    tool_choice: field(body, 'tool_choice', 'auto'),
    tools: field(body, 'tools', []),
    top_logprobs: 0,
    top_p: field(body, 'top_p', 1),
    truncation: 'disabled',
    usage,
    user: null,
    metadata: field(body, 'metadata', {}),
  };
}

export function finalStatus(plan: ResponsesPlan): 'completed' | 'incomplete' {
  return plan.incomplete ? 'incomplete' : 'completed';
}
