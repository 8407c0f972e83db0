import { randomUUID } from 'node:crypto';
import type { Knobs } from '../knobs.ts';
import { mockContent, mockWord } from '../words.ts';
import { mockResponsesInputTokens } from './inputTokens.ts';
import type { ResponsesRequest } from './request.ts';

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number; cache_write_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** Everything about a response that is decided before any byte is written. */
export interface ResponsesPlan {
  request: ResponsesRequest;
  id: string;
  createdAt: number;
  /** A reasoning item leads the output when the reply reasoned. */
  reasoningItemId: string | null;
  /** The message or function_call item carrying the visible output. */
  itemId: string;
  callId: string;
  /** Visible tokens: words of the text, or of the function call's `text` argument. */
  contentTokens: number;
  /** The output cap cut the reply short. */
  incomplete: boolean;
  usage: ResponsesUsage;
}

const hex = (n: number) => randomUUID().replaceAll('-', '').slice(0, n);

/**
 * As OpenAI does, max_output_tokens covers reasoning too: reasoning takes its share first
 * and the visible output gets the rest, so output_tokens never exceeds the cap. A function
 * call's arguments are `{"text":"<words>"}`; only the words count as output tokens.
 */
export function planResponse(request: ResponsesRequest, knobs: Knobs): ResponsesPlan {
  const cap = request.maxOutputTokens;
  const reasoning = cap === null ? knobs.reasoningTokens : Math.min(knobs.reasoningTokens, cap);
  const room = cap === null ? Number.POSITIVE_INFINITY : cap - reasoning;
  const contentTokens = Math.min(room, knobs.outputTokens);
  const input = mockResponsesInputTokens(request.body);
  const output = contentTokens + reasoning;
  return {
    request,
    id: `resp_${hex(32)}${hex(16)}`,
    createdAt: Math.floor(Date.now() / 1000),
    reasoningItemId: reasoning > 0 ? `rs_${hex(32)}` : null,
    itemId: request.forcedFunction === null ? `msg_${hex(32)}` : `fc_${hex(32)}`,
    callId: `call_${hex(24)}`,
    contentTokens,
    incomplete: room < knobs.outputTokens,
    usage: {
      input_tokens: input,
      input_tokens_details: { cached_tokens: Math.min(knobs.cachedTokens, input), cache_write_tokens: 0 },
      output_tokens: output,
      output_tokens_details: { reasoning_tokens: reasoning },
      total_tokens: input + output,
    },
  };
}

/** The visible output in the pieces a stream sends: one word per delta, JSON framing on the ends of a call. */
export function outputDeltas(plan: ResponsesPlan): string[] {
  const words: string[] = [];
  for (let i = 0; i < plan.contentTokens; i++) words.push(mockWord(i));
  if (plan.request.forcedFunction === null) return words;
  if (words.length === 0) return ['{"text":""}'];
  words[0] = `{"text":"${words[0]}`;
  words[words.length - 1] = `${words[words.length - 1]}"}`;
  return words;
}

export function outputText(plan: ResponsesPlan): string {
  const text = mockContent(plan.contentTokens);
  return plan.request.forcedFunction === null ? text : `{"text":"${text}"}`;
}
