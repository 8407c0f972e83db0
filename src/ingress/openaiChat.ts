import { type Denial, denial, toErrorResponse } from '../errors.ts';
import { estimateChatInputTokens } from '../estimate/chat.ts';
import { maxOutputTokens, setMaxOutputTokens } from '../estimate/output.ts';
import type { Usage } from '../pricing/types.ts';
import { sseData } from '../providers/sse.ts';
import type { CanonicalChunk } from '../providers/types.ts';
import { fail, ok, type Result } from '../result.ts';
import type { CallShape, EncoderContext, Ingress, StreamEncoder } from './types.ts';

/** Shape checks for a chat-completions body: enough to price and route it; everything else passes through. */
const bad = (message: string, param: string): Result<never> =>
  fail(denial('invalid_request', message, { param }));

function isPositiveInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

export function validateChatBody(body: Record<string, unknown>): Result<CallShape> {
  if (typeof body.model !== 'string' || body.model.trim() === '')
    return bad('model is required and must be a string', 'model');
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return bad('messages is required and must be a non-empty array', 'messages');
  }
  for (let i = 0; i < body.messages.length; i++) {
    const m: unknown = body.messages[i];
    if (m === null || typeof m !== 'object' || Array.isArray(m))
      return bad(`messages[${i}] must be an object`, `messages[${i}]`);
    const role = (m as Record<string, unknown>).role;
    if (typeof role !== 'string' || role === '')
      return bad(`messages[${i}].role must be a string`, `messages[${i}].role`);
    const content = (m as Record<string, unknown>).content;
    if (content !== undefined && content !== null && typeof content !== 'string' && !Array.isArray(content)) {
      return bad(
        `messages[${i}].content must be a string or an array of content parts`,
        `messages[${i}].content`,
      );
    }
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    return bad('stream must be a boolean', 'stream');
  }
  for (const field of ['max_tokens', 'max_completion_tokens'] as const) {
    if (body[field] !== undefined && body[field] !== null && !isPositiveInt(body[field])) {
      return bad(`${field} must be a positive integer`, field);
    }
  }
  if (body.n !== undefined && body.n !== null && (!isPositiveInt(body.n) || (body.n as number) > 128)) {
    return bad('n must be an integer from 1 to 128', 'n');
  }
  const so = body.stream_options;
  if (so !== undefined && so !== null && (typeof so !== 'object' || Array.isArray(so))) {
    return bad('stream_options must be an object', 'stream_options');
  }
  const stream = body.stream === true;
  const clientWantsUsage =
    stream && (so as { include_usage?: unknown } | null | undefined)?.include_usage === true;
  return ok({ model: body.model as string, stream, clientWantsUsage });
}

/** Tollgate's Usage back in OpenAI's shape (input includes cached tokens; output includes reasoning). */
export function openAiUsage(u: Usage) {
  const prompt = u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens;
  return {
    prompt_tokens: prompt,
    completion_tokens: u.outputTokens,
    total_tokens: prompt + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cacheReadTokens },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
  };
}

/** Translated answers name the model the client asked for when the provider's format does not carry one. */
function withModel<T extends Record<string, unknown>>(obj: T, model: string): T {
  return typeof obj.model === 'string' && obj.model !== '' ? obj : { ...obj, model };
}

class OpenAiChatEncoder implements StreamEncoder {
  constructor(private readonly ctx: EncoderContext) {}

  encode(chunk: CanonicalChunk): string {
    return sseData(JSON.stringify(withModel(chunk, this.ctx.model)));
  }

  finish(usage: Usage | null): string {
    let out = '';
    if (this.ctx.clientWantsUsage && usage) {
      out += sseData(
        JSON.stringify({
          id: 'chatcmpl-usage',
          object: 'chat.completion.chunk',
          created: Math.floor(Date.now() / 1000),
          model: this.ctx.model,
          choices: [],
          usage: openAiUsage(usage),
        }),
      );
    }
    return `${out}data: [DONE]\n\n`;
  }
}

/** POST /v1/chat/completions: the canonical dialect itself. */
export const openAiChatIngress: Ingress = {
  dialect: 'openai-chat',
  endpoint: '/v1/chat/completions',
  outputFields: ['max_tokens', 'max_completion_tokens'],
  validate: validateChatBody,
  estimateInput: (body) => estimateChatInputTokens(body),
  maxOutput: (body, modelMax) => maxOutputTokens(body, modelMax).tokens,
  setMaxOutput: setMaxOutputTokens,
  toCanonical: (body) => body,
  fromCanonical: (completion, _usage, ctx) => withModel(completion, ctx.model),
  createEncoder: (ctx) => new OpenAiChatEncoder(ctx),
  errorResponse: toErrorResponse,
  streamError: (d: Denial) => `\n\n${sseData(JSON.stringify(toErrorResponse(d).body))}`,
};
