import type { Usage } from '../../pricing/types.ts';
import { onlyReason } from '../finishReasons.ts';
import type { CanonicalCompletion } from '../types.ts';
import { finishReasonOf, openAiUsageOf, usageFromAnthropic } from './usage.ts';

type Json = Record<string, unknown>;

export function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Tool input as OpenAI's arguments string. */
export function argumentsOf(input: unknown): string {
  try {
    return JSON.stringify(input ?? {}) ?? '{}';
  } catch {
    return '{}';
  }
}

/**
 * A Message → an OpenAI `chat.completion`: text blocks as content, thinking blocks as
 * `reasoning_content`, tool_use blocks as tool_calls (Anthropic's `toolu_` ids kept, so the
 * tool results the client sends back match them), stop_reason as finish_reason (and as it is,
 * in `finishReasons`). The model field is left to the client-facing side. Never throws.
 */
export function completionFromMessage(body: unknown): {
  completion: CanonicalCompletion;
  usage: Usage | null;
  finishReasons: string[];
} {
  const root = isRecord(body) ? body : {};
  const blocks = Array.isArray(root.content) ? root.content.filter(isRecord) : [];
  let text = '';
  let reasoning = '';
  const toolCalls: Json[] = [];
  for (const block of blocks) {
    if (block.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block.type === 'thinking' && typeof block.thinking === 'string') reasoning += block.thinking;
    else if (block.type === 'tool_use') {
      toolCalls.push({
        id: typeof block.id === 'string' ? block.id : '',
        type: 'function',
        function: {
          name: typeof block.name === 'string' ? block.name : '',
          arguments: argumentsOf(block.input),
        },
      });
    }
  }
  const message: Json = {
    role: 'assistant',
    content: text.length > 0 || toolCalls.length === 0 ? text : null,
    refusal: null,
  };
  if (reasoning.length > 0) message.reasoning_content = reasoning;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  const usage = usageFromAnthropic(root.usage);
  const completion: CanonicalCompletion = {
    id: typeof root.id === 'string' ? root.id : '',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    // The client-facing side names the model the client asked for.
    model: '',
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReasonOf(root.stop_reason) }],
  };
  if (usage) completion.usage = openAiUsageOf(usage);
  return { completion, usage, finishReasons: onlyReason(root.stop_reason) };
}
