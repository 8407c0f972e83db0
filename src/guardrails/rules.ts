import { parseDuration } from '../budget/windows.ts';
import type { CallIdentity } from '../identity/types.ts';
import { type Nanos, usdToNanos } from '../money.ts';
import type { RawGuardrail } from './config.ts';

export interface LoopCap {
  maxCalls: number | null;
  maxNanos: Nanos | null;
  windowMs: number;
}

export interface Guardrail {
  id: string;
  match: { team?: string; project?: string; env?: string; feature?: string };
  maxPromptTokens: number | null;
  maxPromptBytes: number | null;
  maxOutputTokens: number | null;
  perRequest: LoopCap | null;
  perSession: LoopCap | null;
}

function loopCap(raw: RawGuardrail['per_request']): LoopCap | null {
  if (!raw) return null;
  return {
    maxCalls: raw.max_calls ?? null,
    maxNanos: raw.max_usd === undefined ? null : usdToNanos(raw.max_usd),
    windowMs: parseDuration(raw.window),
  };
}

/** Throws RangeError naming the field when a duration or amount is out of range. */
export function compileGuardrails(raw: RawGuardrail[]): Guardrail[] {
  return raw.map((g, i) => {
    try {
      return {
        id: g.id,
        match: g.match,
        maxPromptTokens: g.max_prompt_tokens ?? null,
        maxPromptBytes: g.max_prompt_bytes ?? null,
        maxOutputTokens: g.max_output_tokens ?? null,
        perRequest: loopCap(g.per_request),
        perSession: loopCap(g.per_session),
      };
    } catch (err) {
      throw new RangeError(`guardrails.${i}: ${(err as Error).message}`);
    }
  });
}

/** Every guardrail whose selector matches the call (all of them apply; the strictest binds). */
export function matchingGuardrails(rules: readonly Guardrail[], id: CallIdentity): Guardrail[] {
  if (rules.length === 0) return [];
  return rules.filter(
    (g) =>
      (g.match.team === undefined || g.match.team === id.team) &&
      (g.match.project === undefined || g.match.project === id.project) &&
      (g.match.env === undefined || g.match.env === id.env) &&
      (g.match.feature === undefined || g.match.feature === id.feature),
  );
}

/** The lowest output ceiling among the rules, or null. */
export function outputCeiling(rules: readonly Guardrail[]): { tokens: number; ruleId: string } | null {
  let best: { tokens: number; ruleId: string } | null = null;
  for (const g of rules) {
    if (g.maxOutputTokens !== null && (best === null || g.maxOutputTokens < best.tokens))
      best = { tokens: g.maxOutputTokens, ruleId: g.id };
  }
  return best;
}

export type PromptVerdict = { ok: true } | { ok: false; ruleId: string; message: string };

/** Prompt size checks, before anything is reserved or sent. */
export function checkPrompt(
  rules: readonly Guardrail[],
  promptBytes: number,
  promptTokens: number,
): PromptVerdict {
  for (const g of rules) {
    if (g.maxPromptBytes !== null && promptBytes > g.maxPromptBytes) {
      return {
        ok: false,
        ruleId: g.id,
        message: `The request body is ${promptBytes} bytes; guardrail '${g.id}' allows at most ${g.maxPromptBytes}.`,
      };
    }
    if (g.maxPromptTokens !== null && promptTokens > g.maxPromptTokens) {
      return {
        ok: false,
        ruleId: g.id,
        message: `The prompt is about ${promptTokens} tokens; guardrail '${g.id}' allows at most ${g.maxPromptTokens}.`,
      };
    }
  }
  return { ok: true };
}
