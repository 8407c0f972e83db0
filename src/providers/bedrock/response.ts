import { randomUUID } from 'node:crypto';
import { isRecord } from '../../json.ts';
import type { Usage } from '../../pricing/types.ts';
import { onlyReason } from '../finishReasons.ts';
import type { CanonicalCompletion } from '../types.ts';
import { finishReason, openAiUsageOf, usageFromConverse } from './usage.ts';

type Json = Record<string, unknown>;

export function completionId(): string {
  return `chatcmpl-${randomUUID().replaceAll('-', '')}`;
}

/** Tool input as OpenAI function arguments (a JSON string). */
function argumentsOf(input: unknown): string {
  try {
    return JSON.stringify(input ?? {}) ?? '{}';
  } catch {
    return '{}';
  }
}

/**
 * A Converse response → an OpenAI `chat.completion`: text blocks joined as the content,
 * toolUse blocks as tool_calls, reasoning as `reasoning_content`, and `stopReason` as it is
 * in `finishReasons`. The model field is left to the client-facing side, which knows the name
 * the client asked for. Never throws.
 */
export function completionFromConverse(body: unknown): {
  completion: CanonicalCompletion;
  usage: Usage | null;
  finishReasons: string[];
} {
  const root = isRecord(body) ? body : {};
  const output = isRecord(root.output) ? root.output : {};
  const message = isRecord(output.message) ? output.message : {};
  const blocks = Array.isArray(message.content) ? message.content : [];
  let text = '';
  let reasoning = '';
  const toolCalls: Json[] = [];
  for (const block of blocks) {
    if (!isRecord(block)) continue;
    if (typeof block.text === 'string') text += block.text;
    if (isRecord(block.toolUse)) {
      const use = block.toolUse;
      toolCalls.push({
        id: typeof use.toolUseId === 'string' ? use.toolUseId : `call_${toolCalls.length}`,
        type: 'function',
        function: { name: typeof use.name === 'string' ? use.name : '', arguments: argumentsOf(use.input) },
      });
    }
    const r = isRecord(block.reasoningContent) ? block.reasoningContent.reasoningText : undefined;
    if (isRecord(r) && typeof r.text === 'string') reasoning += r.text;
  }
  const usage = usageFromConverse(root.usage);
  const assistant: Json = {
    role: 'assistant',
    content: text.length > 0 || toolCalls.length === 0 ? text : null,
    refusal: null,
  };
  if (reasoning.length > 0) assistant.reasoning_content = reasoning;
  if (toolCalls.length > 0) assistant.tool_calls = toolCalls;
  const completion: CanonicalCompletion = {
    id: completionId(),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    // Converse does not name the model; the client-facing side fills in the one asked for.
    model: '',
    choices: [{ index: 0, message: assistant, logprobs: null, finish_reason: finishReason(root.stopReason) }],
  };
  if (usage) completion.usage = openAiUsageOf(usage);
  return { completion, usage, finishReasons: onlyReason(root.stopReason) };
}
