import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CallRecord } from '../ledger/types.ts';
import type { LiveState, PrometheusExposition } from './types.ts';

const IDENTITY = ['team', 'project', 'env', 'model', 'provider'] as const;
type IdentityLabel = (typeof IDENTITY)[number];
type IdentityLabels = Record<IdentityLabel, string>;

export const TOKEN_KINDS = ['input', 'output', 'cache_read', 'cache_write', 'reasoning'] as const;

/** What one team/project/env/model/provider has been billed, summed from final ledger rows. */
interface Tally {
  labels: IdentityLabels;
  /** Integer nano-USD: summed exactly, turned into USD only when rendered. */
  nanos: number;
  tokens: Record<(typeof TOKEN_KINDS)[number], number>;
  calls: Map<string, number>;
}

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const TTFT_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

/**
 * Prometheus metrics on their own registry (no process defaults). Spend and tokens are summed
 * from the final ledger rows in integers and rendered at scrape time, so `tollgate_spend_usd_total`
 * equals the ledger to the nano; gauges (queue, reservations, budgets) are read at scrape time.
 */
export class PrometheusMetrics implements PrometheusExposition {
  readonly contentType: string;
  private readonly registry = new Registry();
  private readonly tallies = new Map<string, Tally>();
  private inflightAttempts = 0;
  private inflightNanos = 0;
  private live: LiveState | null = null;

  private readonly denials: Counter<'code' | 'policy' | 'team'>;
  private readonly routeActions: Counter<'action' | 'team' | 'project' | 'env'>;
  private readonly upstreamErrors: Counter<'provider' | 'code'>;
  private readonly latency: Histogram<'provider' | 'model' | 'status'>;
  private readonly ttft: Histogram<'provider' | 'model'>;

  constructor(
    readonly path: string,
    readonly requireMasterKey: boolean,
  ) {
    const registers = [this.registry];
    this.contentType = this.registry.contentType;
    const tallies = this.tallies;
    const self = () => this;

    new Counter({
      name: 'tollgate_spend_usd_total',
      help: 'Settled spend in USD from final ledger rows (exact: summed in nano-USD).',
      labelNames: IDENTITY,
      registers,
      collect() {
        this.reset();
        for (const t of tallies.values()) this.inc(t.labels, t.nanos / 1e9);
      },
    });
    new Counter({
      name: 'tollgate_tokens_total',
      help: 'Tokens by kind from final ledger rows; input excludes cache tokens, reasoning is part of output.',
      labelNames: [...IDENTITY, 'kind'],
      registers,
      collect() {
        this.reset();
        for (const t of tallies.values())
          for (const kind of TOKEN_KINDS) this.inc({ ...t.labels, kind }, t.tokens[kind]);
      },
    });
    new Counter({
      name: 'tollgate_calls_total',
      help: 'Final ledger rows (one per upstream attempt, denials included) by status.',
      labelNames: [...IDENTITY, 'status'],
      registers,
      collect() {
        this.reset();
        for (const t of tallies.values())
          for (const [status, n] of t.calls) this.inc({ ...t.labels, status }, n);
      },
    });
    this.denials = new Counter({
      name: 'tollgate_denials_total',
      help: 'Calls refused by the gateway (never forwarded), by error code and binding policy.',
      labelNames: ['code', 'policy', 'team'],
      registers,
    });
    this.routeActions = new Counter({
      name: 'tollgate_route_actions_total',
      help: 'Attempts the router changed: degraded, rerouted, queued, clamped, retry, failover, replayed.',
      labelNames: ['action', 'team', 'project', 'env'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'tollgate_upstream_errors_total',
      help: 'Upstream attempts that failed, by provider and error code.',
      labelNames: ['provider', 'code'],
      registers,
    });
    this.latency = new Histogram({
      name: 'tollgate_call_latency_seconds',
      help: 'From the call reaching the gateway to the settlement of its forwarded attempt.',
      labelNames: ['provider', 'model', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.ttft = new Histogram({
      name: 'tollgate_ttft_seconds',
      help: 'From the call reaching the gateway to the first byte of the answer.',
      labelNames: ['provider', 'model'],
      buckets: TTFT_BUCKETS,
      registers,
    });
    this.liveGauges(registers, self);
  }

  attemptStarted(reservedNanos: number): void {
    this.inflightAttempts++;
    this.inflightNanos += reservedNanos;
  }

  attemptEnded(reservedNanos: number): void {
    this.inflightAttempts--;
    this.inflightNanos -= reservedNanos;
  }

  recordFinal(row: CallRecord): void {
    this.tally(row);
    if (row.status === 'denied') {
      this.denials.inc({ code: row.errorCode ?? 'unknown', policy: row.denialPolicy ?? '', team: row.team });
    } else {
      if (row.latencyMs !== null)
        this.latency.observe(
          { provider: row.provider, model: row.modelUsed, status: row.status },
          row.latencyMs / 1000,
        );
      if (row.ttftMs !== null)
        this.ttft.observe({ provider: row.provider, model: row.modelUsed }, row.ttftMs / 1000);
      if (row.status === 'upstream_error')
        this.upstreamErrors.inc({ provider: row.provider, code: row.errorCode ?? 'unknown' });
    }
    if (row.action) {
      for (const action of row.action.split(','))
        this.routeActions.inc({ action, team: row.team, project: row.project, env: row.env });
    }
  }

  recordRefusal(code: string): void {
    this.denials.inc({ code, policy: '', team: '' });
  }

  render(live: LiveState): Promise<string> {
    this.live = live;
    return this.registry.metrics();
  }

  private tally(row: CallRecord): void {
    const key = `${row.team}\u0000${row.project}\u0000${row.env}\u0000${row.modelUsed}\u0000${row.provider}`;
    let t = this.tallies.get(key);
    if (!t) {
      t = {
        labels: {
          team: row.team,
          project: row.project,
          env: row.env,
          model: row.modelUsed,
          provider: row.provider,
        },
        nanos: 0,
        tokens: { input: 0, output: 0, cache_read: 0, cache_write: 0, reasoning: 0 },
        calls: new Map(),
      };
      this.tallies.set(key, t);
    }
    t.nanos += row.cost;
    t.tokens.input += row.inputTokens;
    t.tokens.output += row.outputTokens;
    t.tokens.cache_read += row.cacheReadTokens;
    t.tokens.cache_write += row.cacheWriteTokens;
    t.tokens.reasoning += row.reasoningTokens;
    t.calls.set(row.status, (t.calls.get(row.status) ?? 0) + 1);
  }

  private liveGauges(registers: Registry[], self: () => PrometheusMetrics): void {
    const scalar = (
      name: string,
      help: string,
      read: (live: LiveState, m: PrometheusMetrics) => number | Promise<number>,
    ) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const m = self();
          if (m.live) this.set(await read(m.live, m));
        },
      });
    scalar('tollgate_queue_depth', 'Calls waiting in the budget queue.', (live) => live.queue.size);
    scalar(
      'tollgate_reservations_open',
      'Budget reservations currently held (reserved, not yet settled or released).',
      (live) => live.budgets.counters.openReservations(),
    );
    scalar(
      'tollgate_inflight_attempts',
      'Upstream attempts sent and not yet settled.',
      (_live, m) => m.inflightAttempts,
    );
    scalar(
      'tollgate_inflight_reserved_usd',
      'Worst-case USD reserved by the upstream attempts in flight.',
      (_live, m) => m.inflightNanos / 1e9,
    );
    scalar(
      'tollgate_ledger_backlog',
      'Ledger rows queued for the next batched write.',
      (live) => live.ledger.backlog,
    );
    const perPolicy = (name: string, help: string, pick: 'reserved' | 'spent') =>
      new Gauge({
        name,
        help,
        labelNames: ['policy'],
        registers,
        async collect() {
          const live = self().live;
          this.reset();
          if (!live) return;
          const now = live.clock();
          const policies = live.budgets.policies();
          const states = await Promise.all(policies.map((p) => live.budgets.state(p, now)));
          policies.forEach((p, i) => {
            const state = states[i];
            if (state) this.set({ policy: p.id }, state[pick].nanos / 1e9);
          });
        },
      });
    perPolicy(
      'tollgate_budget_reserved_usd',
      'USD reserved against each budget policy by calls in flight.',
      'reserved',
    );
    perPolicy(
      'tollgate_budget_spent_usd',
      'USD settled in the current window of each budget policy.',
      'spent',
    );
  }
}
