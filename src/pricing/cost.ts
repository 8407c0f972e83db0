import type { Nanos } from '../money.ts';
import type { ModelPrices, Usage } from './types.ts';

/*
 * Cost arithmetic in BigInt pico-USD: tokens (up to ~1e7) times pico per token (up to ~1e8
 * for frontier output prices) can pass 2^53, where JS numbers stop being exact. A call's
 * cost is rounded up to whole nanos exactly once, so the provider is never under-billed
 * and ledger rows sum to the counters with no drift.
 */

const PICO_PER_NANO = 1000n;

/** The prices in force for a call with this many input-side tokens (the long-context tier, if any). */
export function pricesAt(p: ModelPrices, inputSideTokens: number): ModelPrices {
  let chosen = p;
  for (const tier of p.tiers ?? []) if (inputSideTokens > tier.aboveInputTokens) chosen = tier.prices;
  return chosen;
}

/** Actual cost of a call from its reported usage. */
export function costNanos(usage: Usage, base: ModelPrices): Nanos {
  const p = pricesAt(base, usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens);
  const output = tokens(usage.outputTokens);
  // Reasoning is inside outputTokens (OpenAI semantics); clamp so odd provider data
  // cannot bill more reasoning tokens than output tokens.
  const reasoning = minBig(tokens(usage.reasoningTokens), output);
  const pico =
    tokens(usage.inputTokens) * BigInt(p.input) +
    tokens(usage.cacheReadTokens) * BigInt(p.cacheRead) +
    tokens(usage.cacheWriteTokens) * BigInt(p.cacheWrite) +
    (output - reasoning) * BigInt(p.output) +
    reasoning * BigInt(p.reasoning);
  return picoToNanosCeil(pico);
}

/**
 * Upper bound of costNanos for any usage whose input-side tokens (plain + cache read +
 * cache write) total at most inputTokens and whose output is at most maxOutputTokens:
 * every input token at the dearest input-side price, every output token at the dearer of
 * output and reasoning.
 */
export function worstCaseNanos(inputTokens: number, maxOutputTokens: number, p: ModelPrices): Nanos {
  return picoToNanosCeil(worstCasePico(inputTokens, maxOutputTokens, p));
}

/**
 * The largest output token count whose worst case fits the budget, for clamping a
 * request's max output tokens. 0 when the input alone does not fit. When output is free
 * any count fits, so the answer is Number.MAX_SAFE_INTEGER (cap it with the model limit).
 */
export function maxAffordableOutputTokens(budgetNanos: Nanos, inputTokens: number, p: ModelPrices): number {
  if (!Number.isFinite(budgetNanos) || budgetNanos <= 0) return 0;
  // ceil(x / 1000) <= B  <=>  x <= 1000 B for integer x, so compare in pico exactly.
  const budgetPico = BigInt(Math.floor(budgetNanos)) * PICO_PER_NANO;
  const left = budgetPico - worstCasePico(inputTokens, 0, p);
  if (left < 0n) return 0;
  const outPrice = worstPrices(inputTokens, p).output;
  if (outPrice === 0n) return Number.MAX_SAFE_INTEGER;
  const affordable = left / outPrice;
  return affordable > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(affordable);
}

/**
 * Dearest input-side and output-side prices any call with at most inputTokens of input can
 * be billed at: the base prices and every tier the input could reach (the real input is at
 * most the estimate, so it can only land in the same or a lower tier).
 */
function worstPrices(inputTokens: number, p: ModelPrices): { input: bigint; output: bigint } {
  let input = Math.max(p.input, p.cacheRead, p.cacheWrite);
  let output = Math.max(p.output, p.reasoning);
  for (const tier of p.tiers ?? []) {
    if (inputTokens <= tier.aboveInputTokens) continue;
    const t = tier.prices;
    input = Math.max(input, t.input, t.cacheRead, t.cacheWrite);
    output = Math.max(output, t.output, t.reasoning);
  }
  return { input: BigInt(input), output: BigInt(output) };
}

function worstCasePico(inputTokens: number, maxOutputTokens: number, p: ModelPrices): bigint {
  const worst = worstPrices(inputTokens, p);
  return tokens(inputTokens) * worst.input + tokens(maxOutputTokens) * worst.output;
}

/**
 * Token counts come from providers and clients; a fractional, negative or non-finite
 * count must not throw in BigInt() on the billing path. Rounding up keeps bounds bounds,
 * and an infinite count must price as unaffordable, never as free.
 */
function tokens(n: number): bigint {
  if (n === Number.POSITIVE_INFINITY) return BigInt(Number.MAX_SAFE_INTEGER);
  return Number.isFinite(n) && n > 0 ? BigInt(Math.ceil(n)) : 0n;
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function picoToNanosCeil(pico: bigint): Nanos {
  return Number((pico + PICO_PER_NANO - 1n) / PICO_PER_NANO);
}
