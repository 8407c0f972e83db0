/**
 * Claude's tokenizer is not o200k: the same text usually takes more tokens (its vocabulary is
 * smaller), so the o200k estimate gets 30% headroom.
 */
const CLAUDE_TOKENIZER_HEADROOM = 1.3;
/**
 * With tools, Anthropic prepends a tool-use system prompt it bills as input: 264-530 tokens
 * depending on the model and tool_choice (Anthropic's pricing page).
 */
export const TOOL_USE_SYSTEM_PROMPT = 600;

/**
 * An upper bound of the input Anthropic counts, from the ingress's o200k estimate of any
 * dialect's body (chat, Responses and Messages all name their tools `tools`).
 */
export function anthropicInputBound(estimate: number, body: Record<string, unknown>): number {
  const tools = Array.isArray(body.tools) && body.tools.length > 0 ? TOOL_USE_SYSTEM_PROMPT : 0;
  return Math.ceil((estimate + tools) * CLAUDE_TOKENIZER_HEADROOM);
}
