import type { AlertStore } from '../alerts/store.ts';
import type { RawBudget } from '../config/schema.ts';
import type { IdempotencyStore } from '../idempotency/store.ts';
import type { CallFilter, CallRecord, UsageDimension, UsageRow } from '../ledger/types.ts';

export type Source = 'config' | 'api';

export interface OrgRow {
  id: string;
  name: string;
  source: Source;
}

export interface TeamRow {
  id: string;
  org: string;
  name: string;
  costCenter: string | null;
  source: Source;
  metadata: Record<string, unknown>;
  createdAt: number;
}

export interface ProjectRow {
  id: string;
  team: string;
  name: string;
  source: Source;
  createdAt: number;
}

export interface KeyRecord {
  id: string;
  /** sha256 of the secret, hex. */
  hash: string;
  /** First characters of the secret, shown in listings. */
  prefix: string;
  name: string | null;
  org: string;
  team: string;
  project: string;
  env: string;
  user: string | null;
  costCenter: string | null;
  /** Allowed model ids (globs with `*`); null = every configured model. */
  models: string[] | null;
  /** Provider allowlist, rate limits: independent of the key's $ budgets. */
  scopes: KeyScopes;
  expiresAt: number | null;
  revokedAt: number | null;
  createdAt: number;
  rotatedFrom: string | null;
  metadata: Record<string, unknown>;
}

export interface KeyScopes {
  /** Allowed provider ids (globs with `*`); absent = any provider serving an allowed model. */
  providers?: string[];
  rpm?: number;
  tpm?: number;
  maxConcurrent?: number;
  /** 'dashboard_read' keys sign in to the dashboard for their team only and cannot make LLM calls. */
  role?: KeyRole;
}

export type KeyRole = 'llm' | 'dashboard_read';

export interface RetiredSecret {
  hash: string;
  keyId: string;
  retiredAt: number;
}

export interface BudgetRow {
  id: string;
  spec: RawBudget;
  source: Source;
  createdAt: number;
  updatedAt: number;
}

/** Config entities, keys and budgets. */
export interface EntityStore {
  upsertOrg(row: OrgRow): Promise<void>;
  listOrgs(): Promise<OrgRow[]>;
  upsertTeam(row: TeamRow): Promise<void>;
  getTeam(id: string): Promise<TeamRow | undefined>;
  listTeams(org?: string): Promise<TeamRow[]>;
  upsertProject(row: ProjectRow): Promise<void>;
  getProject(id: string): Promise<ProjectRow | undefined>;
  listProjects(team?: string): Promise<ProjectRow[]>;
  insertKey(row: KeyRecord): Promise<void>;
  updateKey(row: KeyRecord): Promise<void>;
  getKey(id: string): Promise<KeyRecord | undefined>;
  listKeys(filter?: { team?: string; project?: string; includeRevoked?: boolean }): Promise<KeyRecord[]>;
  /** A rotated-away secret, remembered so it is refused as revoked rather than unknown. */
  retireSecret(row: RetiredSecret): Promise<void>;
  listRetiredSecrets(): Promise<RetiredSecret[]>;
  upsertBudget(row: BudgetRow): Promise<void>;
  deleteBudget(id: string): Promise<void>;
  listBudgets(): Promise<BudgetRow[]>;
}

/** The durable ledger. Writes come from the batched writer; reads serve admin and audit. */
export interface LedgerStore {
  /** Inserts or replaces rows (pending and final) in one transaction. */
  writeBatch(rows: CallRecord[]): Promise<void>;
  pendingRows(): Promise<CallRecord[]>;
  /**
   * Moves the lease of these calls' pending rows to `leaseUntilMs` while the calls still run, so
   * the audit and a counters rebuild do not take a live call for an orphan. Rows that are final,
   * unknown, or already leased later are left as they are (a lease never moves earlier). Returns
   * how many of the ids are pending rows, now leased until at least `leaseUntilMs`.
   */
  renewPendingLeases(
    ids: ReadonlyArray<{ callId: string; attempt: number }>,
    leaseUntilMs: number,
  ): Promise<number>;
  /** Final rows with ts_start >= fromMs, oldest first, for rebuilding counters. */
  iterateSettledSince(fromMs: number): AsyncIterable<CallRecord>;
  queryCalls(filter: CallFilter): Promise<CallRecord[]>;
  usage(by: UsageDimension, filter: CallFilter): Promise<UsageRow[]>;
  count(): Promise<number>;
  /**
   * Per hour and team, from a rollup kept with the ledger (SQLite); hours overlapping [from, to).
   * Optional: stores without it are read through usage().
   */
  hourlyUsage?(filter: HourlyFilter): Promise<HourlyUsageRow[]>;
}

export interface HourlyFilter {
  fromHour: number;
  /** Exclusive. */
  toHour: number;
  team?: string;
}

export interface HourlyUsageRow {
  /** Epoch hour (ms / 3 600 000). */
  hour: number;
  team: string;
  calls: number;
  cost: number;
  denied: number;
  errors: number;
  degraded: number;
  rerouted: number;
  queued: number;
  queueMs: number;
  retried: number;
}

export interface Store {
  entities: EntityStore;
  ledger: LedgerStore;
  alerts: AlertStore;
  idempotency: IdempotencyStore;
  close(): Promise<void>;
}
