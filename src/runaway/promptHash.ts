import { createHash } from 'node:crypto';

/**
 * A stable fingerprint of what a request asks, for spotting an agent that sends the same prompt
 * over and over. It covers the conversation (`messages` for chat and Anthropic, `input` for
 * Responses and embeddings, `contents` for Gemini) and the system prompt wherever the API keeps
 * it, and nothing else: sampling settings, `stream`, `user` or metadata change between retries of
 * the same loop step and would hide the repeat. Bodies without a known prompt field hash whole.
 *
 * Key order is the client's; one client serialises the same request the same way every time,
 * which is all a repeat detector needs.
 */
export function promptHash(body: Record<string, unknown>): string {
  const prompt = body['messages'] ?? body['input'] ?? body['contents'];
  const system =
    body['system'] ?? body['instructions'] ?? body['systemInstruction'] ?? body['system_instruction'] ?? null;
  const subject = prompt === undefined ? body : [system, prompt];
  return createHash('sha1')
    .update(JSON.stringify(subject) ?? '')
    .digest('hex');
}
