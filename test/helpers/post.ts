import type { Harness } from './harness.ts';

/** A raw answer from the gateway: status, headers, the body as text and (when JSON) parsed. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
}

/** POSTs a chat completion with plain fetch, so tests see every header and status as sent. */
export async function postChat(
  h: Harness,
  secret: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${h.gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // SSE bodies are not JSON.
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/** The catalogued error code of an error answer. */
export const errorCode = (a: Answer): string | undefined =>
  (a.body.error as { code?: string } | undefined)?.code;
