import { randomUUID } from 'node:crypto';
import type { Usage } from '../../pricing/types.ts';
import { FinishReasons, onlyReason } from '../finishReasons.ts';
import type { CanonicalCompletion } from '../types.ts';
import { finishReason, openAiUsageOf, usageFromGemini } from './usage.ts';

type Json = Record<string, unknown>;

export function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function completionId(): string {
  return `chatcmpl-${randomUUID().replaceAll('-', '')}`;
}

/** A functionCall part as an OpenAI tool call (Gemini's own call id when it sent one). */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** What a candidate's parts say, sorted into OpenAI's fields. */
export interface CandidateParts {
  text: string;
  /** Thought summaries (parts with `thought: true`), sent only when thoughts were asked for. */
  reasoning: string;
  calls: ToolCall[];
}

function argumentsOf(args: unknown): string {
  try {
    return JSON.stringify(args ?? {}) ?? '{}';
  } catch {
    return '{}';
  }
}

export function readParts(content: unknown): CandidateParts {
  const out: CandidateParts = { text: '', reasoning: '', calls: [] };
  const parts = isRecord(content) && Array.isArray(content.parts) ? content.parts : [];
  for (const part of parts) {
    if (!isRecord(part)) continue;
    if (typeof part.text === 'string') {
      if (part.thought === true) out.reasoning += part.text;
      else out.text += part.text;
    }
    if (isRecord(part.functionCall)) {
      const call = part.functionCall;
      out.calls.push({
        id:
          typeof call.id === 'string' && call.id !== ''
            ? call.id
            : `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
        name: typeof call.name === 'string' ? call.name : '',
        arguments: argumentsOf(call.args),
      });
    }
  }
  return out;
}

export function toolCallsOf(calls: ToolCall[]): Json[] {
  return calls.map((c) => ({
    id: c.id,
    type: 'function',
    function: { name: c.name, arguments: c.arguments },
  }));
}

/** The reason a prompt was refused before any candidate (promptFeedback.blockReason), if it was. */
export function blockReason(root: Json): string | null {
  const feedback = root.promptFeedback;
  return isRecord(feedback) && typeof feedback.blockReason === 'string' ? feedback.blockReason : null;
}

/** The candidate's index (Gemini omits it on the only candidate). */
function indexOf(candidate: Json, position: number): number {
  return typeof candidate.index === 'number' ? candidate.index : position;
}

/**
 * Gemini's own finishReason of each candidate (STOP, MAX_TOKENS, SAFETY, …); for a prompt
 * refused before any candidate, the promptFeedback.blockReason.
 */
export function geminiFinishReasons(body: unknown): string[] {
  const root = isRecord(body) ? body : {};
  const candidates = Array.isArray(root.candidates) ? root.candidates.filter(isRecord) : [];
  if (candidates.length === 0) return onlyReason(blockReason(root));
  const reasons = new FinishReasons();
  for (const [position, candidate] of candidates.entries())
    reasons.set(indexOf(candidate, position), candidate.finishReason);
  return reasons.list();
}

function choiceOf(candidate: Json, position: number): Json {
  const { text, reasoning, calls } = readParts(candidate.content);
  const message: Json = {
    role: 'assistant',
    content: text.length > 0 || calls.length === 0 ? text : null,
    refusal: null,
  };
  if (reasoning.length > 0) message.reasoning_content = reasoning;
  if (calls.length > 0) message.tool_calls = toolCallsOf(calls);
  return {
    index: indexOf(candidate, position),
    message,
    logprobs: null,
    finish_reason: finishReason(candidate.finishReason, calls.length > 0),
  };
}

/**
 * A GenerateContentResponse → an OpenAI `chat.completion`: one choice per candidate, text
 * parts as content, thought parts as `reasoning_content`, functionCall parts as tool_calls.
 * A prompt Gemini blocked (no candidates, a blockReason) becomes an empty `content_filter`
 * answer. `finishReasons` are Gemini's own (see geminiFinishReasons). The model field is left
 * to the client-facing side. Never throws.
 */
export function completionFromGemini(body: unknown): {
  completion: CanonicalCompletion;
  usage: Usage | null;
  finishReasons: string[];
} {
  const root = isRecord(body) ? body : {};
  const candidates = Array.isArray(root.candidates) ? root.candidates.filter(isRecord) : [];
  const choices = candidates.map(choiceOf);
  if (choices.length === 0) {
    choices.push({
      index: 0,
      message: { role: 'assistant', content: '', refusal: null },
      logprobs: null,
      finish_reason: blockReason(root) !== null ? 'content_filter' : 'stop',
    });
  }
  const usage = usageFromGemini(root.usageMetadata);
  const completion: CanonicalCompletion = {
    id: completionId(),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    // The client-facing side names the model the client asked for.
    model: '',
    choices,
  };
  if (usage) completion.usage = openAiUsageOf(usage);
  return { completion, usage, finishReasons: geminiFinishReasons(root) };
}
