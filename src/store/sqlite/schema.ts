import type { Database } from 'better-sqlite3';

/** The ledger row's columns as the first schema made them (calls_pending repeats them). */
const CALL_COLUMNS = `call_id TEXT NOT NULL, attempt INTEGER NOT NULL, request_id TEXT, session_id TEXT,
    ts_start INTEGER NOT NULL, ts_end INTEGER, key_id TEXT NOT NULL,
    org TEXT NOT NULL, team TEXT NOT NULL, project TEXT NOT NULL, env TEXT NOT NULL, cost_center TEXT,
    user TEXT, feature TEXT, provider TEXT NOT NULL, model_requested TEXT NOT NULL, model_used TEXT NOT NULL,
    endpoint TEXT NOT NULL, stream INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL, tool_call_tokens INTEGER NOT NULL,
    usage_source TEXT NOT NULL, cost INTEGER NOT NULL, reserved INTEGER NOT NULL, reserved_tokens INTEGER NOT NULL,
    status TEXT NOT NULL, http_status INTEGER, error_code TEXT, denial_policy TEXT, fallback_from TEXT,
    latency_ms INTEGER, ttft_ms INTEGER, flags TEXT, lease_until INTEGER`;

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
    ${CALL_COLUMNS},
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
  // Issue 8: an hourly rollup of the ledger for the dashboard, kept by triggers in the ledger's own
  // transaction (so it always equals the rows' sums), and backfilled from the rows already there.
  `
  CREATE TABLE calls_hourly (
    hour INTEGER NOT NULL, team TEXT NOT NULL, project TEXT NOT NULL, env TEXT NOT NULL,
    calls INTEGER NOT NULL, cost INTEGER NOT NULL, denied INTEGER NOT NULL, errors INTEGER NOT NULL,
    degraded INTEGER NOT NULL, rerouted INTEGER NOT NULL, queued INTEGER NOT NULL, queue_ms INTEGER NOT NULL,
    retried INTEGER NOT NULL,
    PRIMARY KEY (hour, team, project, env)) WITHOUT ROWID;
  INSERT INTO calls_hourly
    SELECT ts_start / 3600000, team, project, env, COUNT(*), SUM(cost), SUM(status = 'denied'),
      SUM(status IN ('upstream_error', 'client_aborted', 'orphaned')), SUM(IFNULL(instr(action, 'degraded') > 0, 0)),
      SUM(IFNULL(instr(action, 'rerouted') > 0, 0)), SUM(IFNULL(instr(action, 'queued') > 0 OR queue_ms IS NOT NULL, 0)),
      SUM(IFNULL(queue_ms, 0)), SUM(IFNULL(instr(action, 'failover') > 0 OR instr(action, 'retry') > 0, 0))
    FROM calls GROUP BY 1, 2, 3, 4;
  CREATE TRIGGER calls_hourly_insert AFTER INSERT ON calls BEGIN
    INSERT INTO calls_hourly (hour, team, project, env, calls, cost, denied, errors, degraded, rerouted, queued, queue_ms, retried)
    VALUES (NEW.ts_start / 3600000, NEW.team, NEW.project, NEW.env, 1, NEW.cost, NEW.status = 'denied',
      NEW.status IN ('upstream_error', 'client_aborted', 'orphaned'), IFNULL(instr(NEW.action, 'degraded') > 0, 0),
      IFNULL(instr(NEW.action, 'rerouted') > 0, 0), IFNULL(instr(NEW.action, 'queued') > 0 OR NEW.queue_ms IS NOT NULL, 0),
      IFNULL(NEW.queue_ms, 0), IFNULL(instr(NEW.action, 'failover') > 0 OR instr(NEW.action, 'retry') > 0, 0))
    ON CONFLICT (hour, team, project, env) DO UPDATE SET calls = calls + excluded.calls, cost = cost + excluded.cost,
      denied = denied + excluded.denied, errors = errors + excluded.errors, degraded = degraded + excluded.degraded,
      rerouted = rerouted + excluded.rerouted, queued = queued + excluded.queued, queue_ms = queue_ms + excluded.queue_ms,
      retried = retried + excluded.retried;
  END;
  CREATE TRIGGER calls_hourly_update AFTER UPDATE ON calls BEGIN
    UPDATE calls_hourly SET calls = calls - 1, cost = cost - OLD.cost, denied = denied - (OLD.status = 'denied'),
      errors = errors - (OLD.status IN ('upstream_error', 'client_aborted', 'orphaned')),
      degraded = degraded - IFNULL(instr(OLD.action, 'degraded') > 0, 0),
      rerouted = rerouted - IFNULL(instr(OLD.action, 'rerouted') > 0, 0),
      queued = queued - IFNULL(instr(OLD.action, 'queued') > 0 OR OLD.queue_ms IS NOT NULL, 0),
      queue_ms = queue_ms - IFNULL(OLD.queue_ms, 0),
      retried = retried - IFNULL(instr(OLD.action, 'failover') > 0 OR instr(OLD.action, 'retry') > 0, 0)
    WHERE hour = OLD.ts_start / 3600000 AND team = OLD.team AND project = OLD.project AND env = OLD.env;
    INSERT INTO calls_hourly (hour, team, project, env, calls, cost, denied, errors, degraded, rerouted, queued, queue_ms, retried)
    VALUES (NEW.ts_start / 3600000, NEW.team, NEW.project, NEW.env, 1, NEW.cost, NEW.status = 'denied',
      NEW.status IN ('upstream_error', 'client_aborted', 'orphaned'), IFNULL(instr(NEW.action, 'degraded') > 0, 0),
      IFNULL(instr(NEW.action, 'rerouted') > 0, 0), IFNULL(instr(NEW.action, 'queued') > 0 OR NEW.queue_ms IS NOT NULL, 0),
      IFNULL(NEW.queue_ms, 0), IFNULL(instr(NEW.action, 'failover') > 0 OR instr(NEW.action, 'retry') > 0, 0))
    ON CONFLICT (hour, team, project, env) DO UPDATE SET calls = calls + excluded.calls, cost = cost + excluded.cost,
      denied = denied + excluded.denied, errors = errors + excluded.errors, degraded = degraded + excluded.degraded,
      rerouted = rerouted + excluded.rerouted, queued = queued + excluded.queued, queue_ms = queue_ms + excluded.queue_ms,
      retried = retried + excluded.retried;
  END;
  CREATE TRIGGER calls_hourly_delete AFTER DELETE ON calls BEGIN
    UPDATE calls_hourly SET calls = calls - 1, cost = cost - OLD.cost, denied = denied - (OLD.status = 'denied'),
      errors = errors - (OLD.status IN ('upstream_error', 'client_aborted', 'orphaned')),
      degraded = degraded - IFNULL(instr(OLD.action, 'degraded') > 0, 0),
      rerouted = rerouted - IFNULL(instr(OLD.action, 'rerouted') > 0, 0),
      queued = queued - IFNULL(instr(OLD.action, 'queued') > 0 OR OLD.queue_ms IS NOT NULL, 0),
      queue_ms = queue_ms - IFNULL(OLD.queue_ms, 0),
      retried = retried - IFNULL(instr(OLD.action, 'failover') > 0 OR instr(OLD.action, 'retry') > 0, 0)
    WHERE hour = OLD.ts_start / 3600000 AND team = OLD.team AND project = OLD.project AND env = OLD.env;
  END;
  `,
  // Issue 7: Idempotency-Key claims of calls still running live in the table (no longer in one
  // process's memory), so every connection sees them; a 'done' row is a stored answer.
  `
  ALTER TABLE idempotency ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
  ALTER TABLE idempotency ADD COLUMN owner TEXT;
  `, // Pending rows live in their own small table (no secondary index, no rollup trigger): the
  // commit a call waits for before going upstream touches one b-tree. The final row goes to
  // calls and removes the pending one in the (batched, off-path) transaction that writes it.
  `
  CREATE TABLE calls_pending (
    ${CALL_COLUMNS}, action TEXT, queue_ms INTEGER,
    PRIMARY KEY (call_id, attempt)) WITHOUT ROWID;
  INSERT INTO calls_pending (call_id, attempt, request_id, session_id, ts_start, ts_end, key_id, org, team, project, env, cost_center,
    user, feature, provider, model_requested, model_used, endpoint, stream, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, reasoning_tokens, tool_call_tokens, usage_source, cost, reserved,
    reserved_tokens, status, http_status, error_code, denial_policy, fallback_from, latency_ms, ttft_ms, flags,
    lease_until, action, queue_ms)
    SELECT call_id, attempt, request_id, session_id, ts_start, ts_end, key_id, org, team, project, env, cost_center,
    user, feature, provider, model_requested, model_used, endpoint, stream, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, reasoning_tokens, tool_call_tokens, usage_source, cost, reserved,
    reserved_tokens, status, http_status, error_code, denial_policy, fallback_from, latency_ms, ttft_ms, flags,
    lease_until, action, queue_ms FROM calls WHERE status = 'pending';
  DELETE FROM calls WHERE status = 'pending';
  DROP INDEX calls_status;
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
