import { randomUUID } from 'node:crypto';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type { Knobs } from '../knobs.ts';
import { mockContent } from '../words.ts';
import type { FunctionDeclaration, GeminiBody, GeminiPart, Json } from './request.ts';

/** What Gemini bills a (small) image or other media part: a fixed 258 tokens. */
const MEDIA_TOKENS = 258;
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

function tokens(text: unknown): number {
  return typeof text === 'string' && text.length > 0 ? countTokens(text, AS_PLAIN_TEXT) : 0;
}

function partTokens(part: GeminiPart): number {
  if (typeof part.text === 'string') return tokens(part.text);
  if (part.inlineData || part.fileData) return MEDIA_TOKENS;
  if (part.functionCall)
    return tokens(part.functionCall.name) + tokens(JSON.stringify(part.functionCall.args ?? {}));
  if (part.functionResponse) {
    return tokens(part.functionResponse.name) + tokens(JSON.stringify(part.functionResponse.response));
  }
  return 0;
}

/**
 * The exact promptTokenCount the mock reports (o200k, no framing):
 *   Σ systemInstruction texts + Σ content parts + tokens(JSON of tools) when tools are sent,
 * a part being its text, 258 per inlineData / fileData, a functionCall's name + JSON args,
 * a functionResponse's name + JSON response.
 */
export function geminiPromptTokens(body: GeminiBody): number {
  let sum = 0;
  for (const part of body.systemInstruction?.parts ?? []) sum += partTokens(part);
  for (const content of body.contents) for (const part of content.parts) sum += partTokens(part);
  if (body.tools !== undefined) sum += tokens(JSON.stringify(body.tools));
  return sum;
}

export interface GeminiUsage {
  promptTokenCount: number;
  candidatesTokenCount?: number;
  totalTokenCount: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
  promptTokensDetails: { modality: string; tokenCount: number }[];
  cacheTokensDetails?: { modality: string; tokenCount: number }[];
}

export type GeminiFinish = 'STOP' | 'MAX_TOKENS';

/** Everything about an answer decided before any byte is written. */
export interface GeminiPlan {
  model: string;
  responseId: string;
  candidates: number;
  /** Visible thought-summary words (only when includeThoughts); counted either way. */
  thoughts: string[];
  thoughtsTokens: number;
  /** Text words per candidate, each one token. */
  text: string[];
  functionCall: { name: string; args: Json } | null;
  finishReason: GeminiFinish;
  promptTokens: number;
  cachedTokens: number;
  /** Output tokens per candidate (text words, or the function call's name + JSON args). */
  candidateTokens: number;
}

function words(count: number): string[] {
  return count > 0 ? mockContent(count).split(/(?= )/) : [];
}

/** Arguments that fit the declared schema: strings get mock words, other types a fixed value. */
function argsFor(declaration: FunctionDeclaration, count: number): Json {
  const schema = declaration.parametersJsonSchema ?? declaration.parameters;
  const properties = schema?.properties;
  const args: Json = {};
  if (typeof properties !== 'object' || properties === null) return args;
  for (const [name, prop] of Object.entries(properties as Json)) {
    const raw = typeof prop === 'object' && prop !== null ? (prop as Json).type : undefined;
    const type = typeof raw === 'string' ? raw.toLowerCase() : undefined;
    if (type === 'number' || type === 'integer') args[name] = 1;
    else if (type === 'boolean') args[name] = true;
    else if (type === 'array') args[name] = [];
    else if (type === 'object') args[name] = {};
    else args[name] = mockContent(Math.max(count, 1)).trim();
  }
  return args;
}

/** The function the model "decides" to call: functions offered, mode not NONE, the last turn no function result. */
function chosenFunction(body: GeminiBody): FunctionDeclaration | null {
  const declarations = (body.tools ?? []).flatMap((t) => t.functionDeclarations ?? []);
  if (declarations.length === 0) return null;
  const config = body.toolConfig?.functionCallingConfig;
  if (config?.mode === 'NONE') return null;
  if (body.contents.at(-1)?.parts.some((p) => p.functionResponse !== undefined)) return null;
  const allowed = config?.allowedFunctionNames ?? [];
  return declarations.find((d) => allowed.includes(d.name)) ?? declarations[0]!;
}

/**
 * Output as the OpenAI mock plans it: `outputTokens` single-token words per candidate, cut
 * by maxOutputTokens — thinking takes its share of the cap first, as on Gemini 2.5 — or at
 * the first word equal to a stop sequence. x-mock-reasoning-tokens become thoughtsTokenCount
 * (visible as thought parts only with thinkingConfig.includeThoughts); x-mock-cached-tokens
 * become cachedContentTokenCount, which promptTokenCount includes.
 */
export function planGenerate(body: GeminiBody, model: string, knobs: Knobs): GeminiPlan {
  const config = body.generationConfig ?? {};
  const cap = config.maxOutputTokens ?? Number.POSITIVE_INFINITY;
  const thoughtsTokens = Math.min(knobs.reasoningTokens, cap);
  const room = cap - thoughtsTokens;
  const count = Math.min(room, knobs.outputTokens);
  const fn = chosenFunction(body);
  let text: string[] = [];
  let finishReason: GeminiFinish = room < knobs.outputTokens ? 'MAX_TOKENS' : 'STOP';
  let functionCall: GeminiPlan['functionCall'] = null;
  let candidateTokens = count;
  if (fn) {
    functionCall = { name: fn.name, args: argsFor(fn, count) };
    const callTokens = tokens(fn.name) + tokens(JSON.stringify(functionCall.args));
    // Gemini never bills past maxOutputTokens, function calls included: a call that does not fit is cut.
    finishReason = callTokens > room ? 'MAX_TOKENS' : 'STOP';
    candidateTokens = Math.min(callTokens, room);
  } else {
    text = words(count);
    const stops = config.stopSequences ?? [];
    const hit = text.findIndex((w) => stops.includes(w.trim()));
    if (hit >= 0) {
      text = text.slice(0, hit);
      finishReason = 'STOP';
      candidateTokens = hit;
    }
  }
  const promptTokens = geminiPromptTokens(body);
  return {
    model,
    responseId: randomUUID().replaceAll('-', '').slice(0, 22),
    candidates: config.candidateCount ?? 1,
    thoughts: config.thinkingConfig?.includeThoughts === true ? words(thoughtsTokens) : [],
    thoughtsTokens,
    text,
    functionCall,
    finishReason,
    promptTokens,
    cachedTokens: Math.min(knobs.cachedTokens, promptTokens),
    candidateTokens,
  };
}

/**
 * usageMetadata after `candidates` output and `thoughts` thinking tokens. Gemini leaves out
 * the counts that are zero; a stream's running totals grow chunk by chunk.
 */
export function usageMetadata(plan: GeminiPlan, candidates: number, thoughts: number): GeminiUsage {
  const usage: GeminiUsage = {
    promptTokenCount: plan.promptTokens,
    totalTokenCount: plan.promptTokens + candidates + thoughts,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: plan.promptTokens }],
  };
  if (candidates > 0) usage.candidatesTokenCount = candidates;
  if (thoughts > 0) usage.thoughtsTokenCount = thoughts;
  if (plan.cachedTokens > 0) {
    usage.cachedContentTokenCount = plan.cachedTokens;
    usage.cacheTokensDetails = [{ modality: 'TEXT', tokenCount: plan.cachedTokens }];
  }
  return usage;
}

/** The complete usage of the whole answer. */
export function finalUsage(plan: GeminiPlan): GeminiUsage {
  return usageMetadata(plan, plan.candidates * plan.candidateTokens, plan.thoughtsTokens);
}
