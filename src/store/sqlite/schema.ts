import type { Database } from 'better-sqlite3';

/** Ordered migrations; PRAGMA user_version records how many ran. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE orgs (id TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT NOT NULL);
  CREATE TABLE teams (
    id TEXT PRIMARY KEY, org TEXT NOT NULL, name TEXT NOT NULL, cost_center TEXT,
    source TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL);
  CREATE TABLE projects (
    id TEXT PRIMARY KEY, team TEXT NOT NULL, name TEXT NOT NULL, source TEXT NOT NULL, created_at INTEGER NOT NULL);
  CREATE TABLE keys (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, name TEXT,
    org TEXT NOT NULL, team TEXT NOT NULL, project TEXT NOT NULL, env TEXT NOT NULL,
    user TEXT, cost_center TEXT, models TEXT, expires_at INTEGER, revoked_at INTEGER,
    created_at INTEGER NOT NULL, rotated_from TEXT, metadata TEXT NOT NULL DEFAULT '{}');
  CREATE INDEX keys_team ON keys(team);
  CREATE TABLE budgets (
    id TEXT PRIMARY KEY, spec TEXT NOT NULL, source TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
  CREATE TABLE calls (
    call_id TEXT NOT NULL, attempt INTEGER NOT NULL, request_id TEXT, session_id TEXT,
    ts_start INTEGER NOT NULL, ts_end INTEGER, key_id TEXT NOT NULL,
    org TEXT NOT NULL, team TEXT NOT NULL, project TEXT NOT NULL, env TEXT NOT NULL, cost_center TEXT,
    user TEXT, feature TEXT, provider TEXT NOT NULL, model_requested TEXT NOT NULL, model_used TEXT NOT NULL,
    endpoint TEXT NOT NULL, stream INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL, tool_call_tokens INTEGER NOT NULL,
    usage_source TEXT NOT NULL, cost INTEGER NOT NULL, reserved INTEGER NOT NULL, reserved_tokens INTEGER NOT NULL,
    status TEXT NOT NULL, http_status INTEGER, error_code TEXT, denial_policy TEXT, fallback_from TEXT,
    latency_ms INTEGER, ttft_ms INTEGER, flags TEXT, lease_until INTEGER,
    PRIMARY KEY (call_id, attempt));
  CREATE INDEX calls_ts ON calls(ts_start);
  CREATE INDEX calls_status ON calls(status) WHERE status = 'pending';
  CREATE INDEX calls_team_ts ON calls(team, ts_start);
  CREATE INDEX calls_request ON calls(request_id) WHERE request_id IS NOT NULL;
  `,
  `
  CREATE TABLE retired_secrets (hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, retired_at INTEGER NOT NULL);
  `,
  `
  CREATE TABLE alert_events (
    id TEXT PRIMARY KEY, policy_id TEXT NOT NULL, window_id TEXT NOT NULL, threshold REAL NOT NULL,
    payload TEXT NOT NULL, created_at INTEGER NOT NULL,
    UNIQUE (policy_id, window_id, threshold));
  CREATE INDEX alert_events_created ON alert_events(created_at);
  CREATE TABLE alert_deliveries (
    event_id TEXT NOT NULL, target_id TEXT NOT NULL, attempt INTEGER NOT NULL, ts INTEGER NOT NULL,
    ok INTEGER NOT NULL, http_status INTEGER, error TEXT);
  CREATE INDEX alert_deliveries_event ON alert_deliveries(event_id);
  `,
  // Issue 5: key scopes (provider allowlist, rate limits), how each call was routed, idempotent replays.
  `
  ALTER TABLE keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE calls ADD COLUMN action TEXT;
  ALTER TABLE calls ADD COLUMN queue_ms INTEGER;
  CREATE TABLE idempotency (
    key_id TEXT NOT NULL, idem_key TEXT NOT NULL, body_hash TEXT NOT NULL, call_id TEXT NOT NULL,
    status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, idem_key));
  CREATE INDEX idempotency_expires ON idempotency(expires_at);
  `,
];

export function migrate(db: Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] ?? '');
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
