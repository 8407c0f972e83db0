import type { CallRecord } from '../../ledger/types.ts';
import type { Nanos, PicoPerToken } from '../../money.ts';
import { counts, type Granularity } from './allocation.ts';
import { DAY_MS, HOUR_MS, startOfDay, startOfHour } from './range.ts';
import { type KindLine, type PriceLookup, splitCall, TOKEN_KINDS, type TokenKind } from './split.ts';

/**
 * FOCUS 1.3 charge lines. Each billed call is split across its token kinds exactly (split.ts),
 * then lines are summed per charge period, identity, model, provider, token kind and unit price:
 * per UTC day (by day / by request, the latter also per request id) or per UTC hour (by call).
 */

export interface FocusLine {
  chargeStartMs: number;
  chargeEndMs: number;
  org: string;
  team: string;
  project: string;
  env: string;
  feature: string | null;
  costCenter: string | null;
  model: string;
  provider: string;
  kind: TokenKind;
  tierAbove: number | null;
  unitPico: PicoPerToken | null;
  requestId: string | null;
  callId: string | null;
  attempt: number | null;
  calls: number;
  tokens: number;
  nanos: Nanos;
}

export const SKU_METER: Record<TokenKind, string> = {
  input: 'Input Tokens',
  cache_read: 'Cache Read Tokens',
  cache_write: 'Cache Write Tokens',
  output: 'Output Tokens',
  reasoning: 'Reasoning Tokens',
  reserved: 'Reserved Tokens (settled at reservation)',
};

export async function buildFocusLines(
  calls: AsyncIterable<CallRecord> | Iterable<CallRecord>,
  opts: { by: Granularity; prices: PriceLookup },
): Promise<FocusLine[]> {
  const lines = new Map<string, FocusLine>();
  for await (const r of calls) {
    if (!counts(r, {})) continue;
    for (const part of splitCall(r, opts.prices)) {
      const line = lineOf(r, part, opts.by);
      const key = JSON.stringify([
        line.chargeStartMs,
        line.org,
        line.team,
        line.project,
        line.env,
        line.feature,
        line.costCenter,
        line.model,
        line.provider,
        line.kind,
        line.tierAbove,
        line.unitPico,
        line.requestId,
        line.callId,
        line.attempt,
      ]);
      const seen = lines.get(key);
      if (seen) {
        seen.calls += 1;
        seen.tokens += line.tokens;
        seen.nanos += line.nanos;
      } else lines.set(key, line);
    }
  }
  return [...lines.values()].sort(compareLines);
}

function lineOf(r: CallRecord, part: KindLine, by: Granularity): FocusLine {
  const hourly = by === 'call';
  const chargeStartMs = hourly ? startOfHour(r.tsStart) : startOfDay(r.tsStart);
  return {
    chargeStartMs,
    chargeEndMs: chargeStartMs + (hourly ? HOUR_MS : DAY_MS),
    org: r.org,
    team: r.team,
    project: r.project,
    env: r.env,
    feature: r.feature,
    costCenter: r.costCenter,
    model: r.modelUsed,
    provider: r.provider,
    kind: part.kind,
    tierAbove: part.tierAbove,
    unitPico: part.unitPico,
    requestId: by === 'request' ? (r.requestId ?? r.callId) : by === 'call' ? r.requestId : null,
    callId: hourly ? r.callId : null,
    attempt: hourly ? r.attempt : null,
    calls: 1,
    tokens: part.tokens,
    nanos: part.nanos,
  };
}

/** SkuPriceId: one price of one SKU (model) for one token kind, and the tier when one applied. */
export function skuPriceId(l: FocusLine): string {
  const tier = l.tierAbove === null ? '' : `/above-${l.tierAbove}`;
  return `${l.provider}/${l.model}/${l.kind}${tier}`;
}

function compareLines(a: FocusLine, b: FocusLine): number {
  return (
    a.chargeStartMs - b.chargeStartMs ||
    cmp(a.org, b.org) ||
    cmp(a.team, b.team) ||
    cmp(a.project, b.project) ||
    cmp(a.env, b.env) ||
    cmp(a.feature ?? '', b.feature ?? '') ||
    cmp(a.model, b.model) ||
    cmp(a.provider, b.provider) ||
    cmp(a.requestId ?? '', b.requestId ?? '') ||
    cmp(a.callId ?? '', b.callId ?? '') ||
    (a.attempt ?? 0) - (b.attempt ?? 0) ||
    TOKEN_KINDS.indexOf(a.kind) - TOKEN_KINDS.indexOf(b.kind) ||
    (a.tierAbove ?? -1) - (b.tierAbove ?? -1) ||
    (a.unitPico ?? -1) - (b.unitPico ?? -1)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
