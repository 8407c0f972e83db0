import { isRecord } from '../json.ts';
/**
 * The output-token allowance of a chat-completions request: what the reservation must
 * cover, and how the gateway rewrites it when a budget can only afford a smaller reply.
 */

export type MaxOutputSource = 'max_completion_tokens' | 'max_tokens' | 'model_limit';

export interface MaxOutput {
  /** Across all `n` choices. */
  tokens: number;
  /** Which bound applied per choice; 'model_limit' also when the client asked for more than the model allows. */
  source: MaxOutputSource;
}

const CAP_FIELDS = ['max_completion_tokens', 'max_tokens'] as const;

/**
 * max_completion_tokens ?? max_tokens ?? model limit, capped at the model limit, times n.
 * A cap field that is present but not a non-negative number is treated as absent-with-no-
 * fallback (model limit): the upstream will reject it anyway, and guessing low is unsafe.
 */
export function maxOutputTokens(body: unknown, modelMaxOutput: number): MaxOutput {
  const limit = Number.isFinite(modelMaxOutput)
    ? Math.max(0, Math.ceil(modelMaxOutput))
    : Number.MAX_SAFE_INTEGER;
  const record = isRecord(body) ? body : {};
  const choices = choiceCount(record.n);
  const used = CAP_FIELDS.find((key) => isSet(record[key]));
  const requested = used === undefined ? undefined : asCount(record[used]);
  const [perChoice, source]: [number, MaxOutputSource] =
    used !== undefined && requested !== undefined && requested <= limit
      ? [requested, used]
      : [limit, 'model_limit'];
  // Clamped so an absurd n cannot overflow into Infinity, which no price can bound.
  return { tokens: Math.min(perChoice * choices, Number.MAX_SAFE_INTEGER), source };
}

/**
 * Rewrites the body so the reply, across all n choices, cannot exceed `tokens`: each
 * choice gets floor(tokens / n). Writes the field(s) the client used, or max_tokens — the
 * field every OpenAI-compatible upstream understands — when it used none. Only ever
 * lowers a cap: a smaller one the client asked for is kept.
 */
export function setMaxOutputTokens(body: Record<string, unknown>, tokens: number): void {
  const total = Number.isNaN(tokens) ? 0 : Math.max(0, Math.min(tokens, Number.MAX_SAFE_INTEGER));
  const perChoice = Math.floor(total / choiceCount(body.n));
  const used = CAP_FIELDS.filter((key) => isSet(body[key]));
  for (const key of used.length > 0 ? used : (['max_tokens'] as const)) {
    const current = asCount(body[key]);
    if (current === undefined || current > perChoice) body[key] = perChoice;
  }
}

/** n: integer >= 1 per the API; anything else is treated as 1 (the upstream rejects it). */
function choiceCount(n: unknown): number {
  return typeof n === 'number' && Number.isFinite(n) && n >= 1 ? Math.ceil(n) : 1;
}

function asCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.ceil(value) : undefined;
}

/** null means "default" in the OpenAI API, the same as absent. */
function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}
