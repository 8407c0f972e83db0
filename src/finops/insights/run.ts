import type { CallRecord } from '../../ledger/types.ts';
import type { Services } from '../../server/services.ts';
import { computeInsights, DEFAULT_INSIGHT_LIMITS, type InsightsReport } from './insights.ts';

export interface InsightsRequest {
  /** Look back this far from now. */
  windowMs: number;
  /** Length of the top lists (default 10). */
  limit?: number;
}

/** Insights over the last `windowMs` of the ledger, with forecasts from the live counters. */
export async function runInsights(svc: Services, req: InsightsRequest): Promise<InsightsReport> {
  await svc.ledger.flush();
  const now = svc.clock();
  const fromMs = now - req.windowMs;
  const rows: CallRecord[] = [];
  for await (const row of svc.store.ledger.iterateSettledSince(fromMs)) rows.push(row);
  const budgets = await Promise.all(
    svc.budgets.policies().map(async (policy) => ({ policy, state: await svc.budgets.state(policy, now) })),
  );
  return computeInsights(rows, budgets, {
    ...DEFAULT_INSIGHT_LIMITS,
    limit: req.limit ?? DEFAULT_INSIGHT_LIMITS.limit,
    fromMs,
    // Inclusive of calls made at this very millisecond.
    toMs: now + 1,
    nowMs: now,
  });
}
