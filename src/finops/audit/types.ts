/**
 * The audit report: every check passes or fails with the items that made it fail, named
 * (call ids, policy ids, model × day), so nobody has to trust the gateway blindly.
 */

export type CheckName =
  | 'attribution'
  | 'caps_held'
  | 'counters_match_ledger'
  | 'no_orphaned_reservations'
  | 'estimated_usage'
  | 'provider_reconciliation'
  | 'self_check';

/** Money in a report: the exact decimal string and the integer nano-USD it came from. */
export interface MoneyView {
  usd: string;
  nanos: number;
}

export interface AmountView {
  usd: string;
  nanos: number;
  tokens: number;
  requests: number;
}

export type AttributionItem =
  | { kind: 'unknown_key'; keyId: string; callIds: string[] }
  | {
      kind: 'key_rebound';
      keyId: string;
      /** Fields where the row and the key record disagree. */
      fields: Array<{
        field: 'org' | 'team' | 'project' | 'env' | 'cost_center';
        row: string | null;
        key: string | null;
      }>;
      callIds: string[];
    }
  | { kind: 'unknown_team'; team: string; callIds: string[] }
  | { kind: 'team_outside_org'; team: string; org: string; teamOrg: string; callIds: string[] }
  | { kind: 'unknown_project'; project: string; callIds: string[] }
  | { kind: 'project_outside_team'; project: string; team: string; projectTeam: string; callIds: string[] }
  | { kind: 'unknown_env'; env: string; callIds: string[] };

export interface CapExceededItem {
  kind: 'cap_exceeded';
  policyId: string;
  unit: 'usd' | 'tokens' | 'requests';
  limit: number | string;
  spent: number | string;
  windowStart: string;
  /** Calendar: the window's end; rolling: the time of the row that crossed the cap. */
  windowEnd: string;
  /** The call whose settled spend took the window over its cap. */
  callId: string;
  attempt: number;
}

export interface CounterMismatchItem {
  kind: 'counter_mismatch';
  policyId: string;
  windowStart: string;
  windowEnd: string;
  counter: AmountView;
  ledger: AmountView;
}

export type ReservationItem =
  | {
      kind: 'expired_lease';
      callId: string;
      attempt: number;
      leaseUntil: string | null;
      reserved: MoneyView;
    }
  | {
      kind: 'open_reservations_mismatch';
      openReservations: number;
      pendingRows: number;
      pendingCallIds: string[];
    };

export interface EstimatedUsageItem {
  kind: 'estimated_usage';
  callId: string;
  attempt: number;
  status: string;
  usageSource: string;
  flags: string | null;
  cost: MoneyView;
}

export type ReconciliationMetric =
  | 'input_tokens'
  | 'uncached_input_tokens'
  | 'cache_read_tokens'
  | 'cache_write_tokens'
  | 'output_tokens'
  | 'requests'
  | 'cost_usd';

export interface ReconciliationItem {
  kind: 'usage_mismatch';
  /** UTC day, YYYY-MM-DD. */
  day: string;
  /** The provider's model name ('*' when the export is not grouped by model). */
  model: string;
  metric: ReconciliationMetric;
  provider: number | string;
  ledger: number | string;
  /** |ledger - provider| / provider (1 when the provider reports 0 and the ledger does not). */
  relativeDifference: number;
}

export type Layer = 'logging' | 'attribution' | 'allocation' | 'enforcement';

export interface LayerItem {
  kind: 'layer';
  layer: Layer;
  ok: boolean;
  reason: string;
}

export interface CheckItems {
  attribution: AttributionItem;
  caps_held: CapExceededItem;
  counters_match_ledger: CounterMismatchItem;
  no_orphaned_reservations: ReservationItem;
  estimated_usage: EstimatedUsageItem;
  provider_reconciliation: ReconciliationItem;
  self_check: LayerItem;
}

export interface AuditCheck<N extends CheckName = CheckName> {
  name: N;
  ok: boolean;
  /** True when the check could not run (e.g. no provider export given); a skipped check is ok. */
  skipped?: boolean;
  summary: string;
  items: Array<CheckItems[N]>;
}

export interface AuditReport {
  ok: boolean;
  from: string;
  to: string;
  generatedAt: string;
  tolerance: number;
  checks: AuditCheck[];
}
