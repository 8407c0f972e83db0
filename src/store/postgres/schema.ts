import type { ColumnType, Generated } from 'kysely';

/** A jsonb column: written as JSON text, read back parsed by pg. */
type Json<T> = ColumnType<T, string, string>;

/** BIGINT columns (money in nanos, epoch ms, token counts) read as exact JS numbers: see pool.ts. */
type BigInt8 = number;

export interface OrgsTable {
  id: string;
  name: string;
  source: string;
}

export interface TeamsTable {
  id: string;
  org: string;
  name: string;
  cost_center: string | null;
  source: string;
  metadata: Json<Record<string, unknown>>;
  created_at: BigInt8;
}

export interface ProjectsTable {
  id: string;
  team: string;
  name: string;
  source: string;
  created_at: BigInt8;
}

export interface KeysTable {
  id: string;
  hash: string;
  prefix: string;
  name: string | null;
  org: string;
  team: string;
  project: string;
  env: string;
  user: string | null;
  cost_center: string | null;
  models: ColumnType<string[] | null, string | null, string | null>;
  scopes: Json<Record<string, unknown>>;
  expires_at: BigInt8 | null;
  revoked_at: BigInt8 | null;
  created_at: BigInt8;
  rotated_from: string | null;
  metadata: Json<Record<string, unknown>>;
}

export interface RetiredSecretsTable {
  hash: string;
  key_id: string;
  retired_at: BigInt8;
}

export interface BudgetsTable {
  id: string;
  spec: Json<unknown>;
  source: string;
  created_at: BigInt8;
  updated_at: BigInt8;
}

export interface CallsTable {
  call_id: string;
  attempt: number;
  request_id: string | null;
  session_id: string | null;
  ts_start: BigInt8;
  ts_end: BigInt8 | null;
  key_id: string;
  org: string;
  team: string;
  project: string;
  env: string;
  cost_center: string | null;
  user: string | null;
  feature: string | null;
  provider: string;
  model_requested: string;
  model_used: string;
  endpoint: string;
  stream: boolean;
  input_tokens: BigInt8;
  output_tokens: BigInt8;
  cache_read_tokens: BigInt8;
  cache_write_tokens: BigInt8;
  reasoning_tokens: BigInt8;
  tool_call_tokens: BigInt8;
  usage_source: string;
  cost: BigInt8;
  reserved: BigInt8;
  reserved_tokens: BigInt8;
  status: string;
  http_status: number | null;
  error_code: string | null;
  denial_policy: string | null;
  fallback_from: string | null;
  action: string | null;
  queue_ms: BigInt8 | null;
  latency_ms: BigInt8 | null;
  ttft_ms: BigInt8 | null;
  flags: string | null;
  lease_until: BigInt8 | null;
}

/** Alert events, budget and runaway (policy_id `runaway/<key>`); `seq` orders rows written in the same ms. */
export interface AlertEventsTable {
  seq: Generated<BigInt8>;
  id: string;
  policy_id: string;
  window_id: string;
  threshold: number;
  /** The event as JSON text, returned exactly as stored. */
  payload: string;
  created_at: BigInt8;
}

export interface AlertDeliveriesTable {
  seq: Generated<BigInt8>;
  event_id: string;
  target_id: string;
  attempt: number;
  ts: BigInt8;
  ok: boolean;
  http_status: number | null;
  error: string | null;
}

/** Idempotency-Key records: a running claim (`owner` set, expires at its lease) or a stored answer. */
export interface IdempotencyTable {
  key_id: string;
  idem_key: string;
  body_hash: string;
  state: 'running' | 'done';
  owner: string | null;
  call_id: string;
  status: number;
  /** JSON text: header order is kept as answered. */
  headers: string;
  body: Buffer;
  created_at: BigInt8;
  expires_at: BigInt8;
}

export interface TollgateDatabase {
  orgs: OrgsTable;
  teams: TeamsTable;
  projects: ProjectsTable;
  keys: KeysTable;
  retired_secrets: RetiredSecretsTable;
  budgets: BudgetsTable;
  calls: CallsTable;
  alert_events: AlertEventsTable;
  alert_deliveries: AlertDeliveriesTable;
  idempotency: IdempotencyTable;
}
