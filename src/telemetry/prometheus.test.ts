import { describe, expect, it } from 'vitest';
import { BudgetService } from '../budget/service.ts';
import { policy as testPolicy } from '../budget/testPolicies.ts';
import type { CallRecord } from '../ledger/types.ts';
import { MemoryBudgetCounters } from '../store/memory/budgetCounters.ts';
import { fromSync } from '../store/redis/fromSync.ts';
import { PrometheusMetrics } from './prometheus.ts';
import { testRow } from './testRows.ts';
import type { LiveState } from './types.ts';

function final(over: Partial<CallRecord>): CallRecord {
  return testRow({ cost: 0, inputTokens: 1, outputTokens: 2, latencyMs: 100, ttftMs: null, ...over });
}

function live(budgets = new BudgetService(fromSync(new MemoryBudgetCounters()), [])): LiveState {
  return { clock: () => 0, queue: { size: 3 }, ledger: { backlog: 2 }, budgets };
}

function sample(text: string, name: string): string | undefined {
  return text
    .split('\n')
    .find((l) => l.startsWith(name))
    ?.split(' ')
    .at(-1);
}

describe('PrometheusMetrics', () => {
  it('spend is summed in integer nanos: ten 0.1 USD calls render 1, not 0.9999999999999999', async () => {
    const m = new PrometheusMetrics('/metrics', false);
    for (let i = 0; i < 10; i++) m.recordFinal(final({ cost: 100_000_000 }));
    expect(sample(await m.render(live()), 'tollgate_spend_usd_total{')).toBe('1');
    let float = 0;
    for (let i = 0; i < 10; i++) float += 0.1;
    expect(float).not.toBe(1);
  });

  it('denials by code and policy; errors by provider; route actions split', async () => {
    const m = new PrometheusMetrics('/metrics', false);
    m.recordFinal(final({ status: 'denied', errorCode: 'budget_exceeded', denialPolicy: 'cap' }));
    m.recordFinal(
      final({ status: 'upstream_error', errorCode: 'upstream_timeout', action: 'degraded,retry' }),
    );
    m.recordRefusal('invalid_api_key');
    const text = await m.render(live());
    expect(text).toContain('tollgate_denials_total{code="budget_exceeded",policy="cap",team="search"} 1');
    expect(text).toContain('tollgate_denials_total{code="invalid_api_key",policy="",team=""} 1');
    expect(text).toContain('tollgate_upstream_errors_total{provider="mock",code="upstream_timeout"} 1');
    expect(text).toContain(
      'tollgate_route_actions_total{action="degraded",team="search",project="ranker",env="prod"} 1',
    );
    expect(text).toContain(
      'tollgate_route_actions_total{action="retry",team="search",project="ranker",env="prod"} 1',
    );
    // The denied row is not a latency sample; the failed attempt is.
    expect(text).toContain(
      'tollgate_call_latency_seconds_count{provider="mock",model="gpt-4.1-mini",status="upstream_error"} 1',
    );
    expect(text).not.toContain(
      'tollgate_call_latency_seconds_count{provider="mock",model="gpt-4.1-mini",status="denied"}',
    );
  });

  it('gauges read the live state at scrape time', async () => {
    const policy = testPolicy('cap', {}, { usdNanos: 10_000_000_000 });
    const budgets = new BudgetService(fromSync(new MemoryBudgetCounters()), [policy]);
    await budgets.reserve('r1', [policy], { nanos: 2_500_000_000, tokens: 10, requests: 1 }, 0);
    const m = new PrometheusMetrics('/metrics', false);
    m.attemptStarted(2_500_000_000);
    const text = await m.render(live(budgets));
    expect(sample(text, 'tollgate_queue_depth')).toBe('3');
    expect(sample(text, 'tollgate_ledger_backlog')).toBe('2');
    expect(sample(text, 'tollgate_reservations_open')).toBe('1');
    expect(sample(text, 'tollgate_inflight_attempts')).toBe('1');
    expect(sample(text, 'tollgate_inflight_reserved_usd')).toBe('2.5');
    expect(sample(text, 'tollgate_budget_reserved_usd{policy="cap"}')).toBe('2.5');
    m.attemptEnded(2_500_000_000);
    expect(sample(await m.render(live(budgets)), 'tollgate_inflight_attempts')).toBe('0');
  });
});
