import { isRecord } from '../json.ts';

/** Text of an OpenAI content value (string or parts), for system prompts and tool results. */
export function plainText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
    .filter((t) => t.length > 0)
    .join('\n');
}

/**
 * Tool-call arguments (a JSON string in OpenAI chat) as the JSON object Anthropic, Bedrock and
 * Gemini expect. Arguments that are not a JSON object are kept, never dropped: a model can
 * emit broken arguments.
 */
export function toolArgumentsObject(args: unknown): Record<string, unknown> {
  if (isRecord(args)) return args;
  if (typeof args !== 'string' || args.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(args);
    return isRecord(parsed) ? parsed : { value: parsed };
  } catch {
    return { arguments: args };
  }
}
