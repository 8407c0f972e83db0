import { chatCompletionBody } from './chatCompletion.ts';
import { planChat } from './chatPlan.ts';
import { parseChatRequest } from './chatRequest.ts';
import { streamChat } from './chatStream.ts';
import { embeddingsBody, parseEmbeddingsRequest } from './embeddings.ts';
import { type Exchange, sendSuccess } from './exchange.ts';
import { sendInvalidRequest, sendStatusFault } from './openaiErrors.ts';

/** Faults that answer before any real work: a status error, or `timeout`'s silence. True when one did. */
async function answeredByFault(ex: Exchange, model: string): Promise<boolean> {
  if (await sendStatusFault(ex, model)) return true;
  // `timeout`: hold the request open; the client's timeout or close() ends it.
  return ex.knobs.fault === 'timeout';
}

export async function handleChatCompletions(ex: Exchange, body: unknown): Promise<void> {
  const parsed = parseChatRequest(body);
  if (!parsed.ok) {
    const { message, param, code } = parsed.problem;
    return sendInvalidRequest(ex, message, param, code);
  }
  if (await answeredByFault(ex, parsed.body.model)) return;
  const plan = planChat(parsed.body, ex.knobs);
  if (parsed.body.stream === true) {
    return streamChat(ex, plan, parsed.body.stream_options?.include_usage === true);
  }
  return sendSuccess(ex, chatCompletionBody(plan));
}

export async function handleEmbeddings(ex: Exchange, body: unknown): Promise<void> {
  const parsed = parseEmbeddingsRequest(body);
  if (!parsed.ok) {
    const { message, param, code } = parsed.problem;
    return sendInvalidRequest(ex, message, param, code);
  }
  if (await answeredByFault(ex, parsed.request.model)) return;
  return sendSuccess(ex, embeddingsBody(parsed.request));
}
