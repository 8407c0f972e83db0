import type { Database } from 'better-sqlite3';
import type {
  CallFilter,
  CallRecord,
  CallStatus,
  UsageDimension,
  UsageRow,
  UsageSource,
} from '../../ledger/types.ts';
import type { LedgerStore } from '../interface.ts';

type SqlRow = Record<string, unknown>;

/** camelCase field → snake_case column, in table order. */
const COLUMNS: [keyof CallRecord, string][] = [
  ['callId', 'call_id'],
  ['attempt', 'attempt'],
  ['requestId', 'request_id'],
  ['sessionId', 'session_id'],
  ['tsStart', 'ts_start'],
  ['tsEnd', 'ts_end'],
  ['keyId', 'key_id'],
  ['org', 'org'],
  ['team', 'team'],
  ['project', 'project'],
  ['env', 'env'],
  ['costCenter', 'cost_center'],
  ['user', 'user'],
  ['feature', 'feature'],
  ['provider', 'provider'],
  ['modelRequested', 'model_requested'],
  ['modelUsed', 'model_used'],
  ['endpoint', 'endpoint'],
  ['stream', 'stream'],
  ['inputTokens', 'input_tokens'],
  ['outputTokens', 'output_tokens'],
  ['cacheReadTokens', 'cache_read_tokens'],
  ['cacheWriteTokens', 'cache_write_tokens'],
  ['reasoningTokens', 'reasoning_tokens'],
  ['toolCallTokens', 'tool_call_tokens'],
  ['usageSource', 'usage_source'],
  ['cost', 'cost'],
  ['reserved', 'reserved'],
  ['reservedTokens', 'reserved_tokens'],
  ['status', 'status'],
  ['httpStatus', 'http_status'],
  ['errorCode', 'error_code'],
  ['denialPolicy', 'denial_policy'],
  ['fallbackFrom', 'fallback_from'],
  ['action', 'action'],
  ['queueMs', 'queue_ms'],
  ['latencyMs', 'latency_ms'],
  ['ttftMs', 'ttft_ms'],
  ['flags', 'flags'],
  ['leaseUntil', 'lease_until'],
];

function toParams(r: CallRecord): unknown[] {
  return COLUMNS.map(([field]) => {
    const v = r[field];
    return typeof v === 'boolean' ? (v ? 1 : 0) : v;
  });
}

export function rowToCall(r: SqlRow): CallRecord {
  const out: Record<string, unknown> = {};
  for (const [field, col] of COLUMNS) out[field] = r[col] ?? null;
  out.stream = Boolean(r.stream);
  out.status = String(r.status) as CallStatus;
  out.usageSource = String(r.usage_source) as UsageSource;
  return out as unknown as CallRecord;
}

const DIMENSION_COLUMN: Record<UsageDimension, string> = {
  team: 'team',
  project: 'project',
  env: 'env',
  key: 'key_id',
  model: 'model_used',
  user: 'user',
  feature: 'feature',
  provider: 'provider',
  cost_center: 'cost_center',
};

function whereClause(f: CallFilter): { sql: string; params: Record<string, unknown> } {
  const parts: string[] = [];
  const params: Record<string, unknown> = {};
  const add = (cond: string, name: string, value: unknown) => {
    if (value === undefined) return;
    parts.push(cond);
    params[name] = value;
  };
  add('ts_start >= @from', 'from', f.from);
  add('ts_start < @to', 'to', f.to);
  add('team = @team', 'team', f.team);
  add('project = @project', 'project', f.project);
  add('env = @env', 'env', f.env);
  add('key_id = @keyId', 'keyId', f.keyId);
  add('model_used = @model', 'model', f.model);
  add('status = @status', 'status', f.status);
  add('request_id = @requestId', 'requestId', f.requestId);
  add('ts_start < @before', 'before', f.before);
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** The tables that can hold rows of this status: pending rows are only in calls_pending. */
function tablesFor(status: CallStatus | undefined): string[] {
  if (status === undefined) return ['calls', 'calls_pending'];
  return status === 'pending' ? ['calls_pending'] : ['calls'];
}

export function sqliteLedgerStore(db: Database): LedgerStore {
  const cols = COLUMNS.map(([, c]) => c);
  // An upsert, not INSERT OR REPLACE: the final row updates the pending one in place instead of
  // deleting and re-inserting it through every index.
  const updates = cols.filter((c) => c !== 'call_id' && c !== 'attempt').map((c) => `${c} = excluded.${c}`);
  const upsertInto = (table: string) =>
    db.prepare(
      `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})
       ON CONFLICT (call_id, attempt) DO UPDATE SET ${updates.join(', ')}`,
    );
  // Pending rows have their own table (see the schema): the commit a call waits for before it goes
  // upstream stays small. A final row moves the call into calls.
  const upsertFinal = upsertInto('calls');
  const upsertPending = upsertInto('calls_pending');
  const dropPending = db.prepare('DELETE FROM calls_pending WHERE call_id = ? AND attempt = ?');
  const writeMany = db.transaction((rows: CallRecord[]) => {
    for (const r of rows) {
      if (r.status === 'pending') {
        upsertPending.run(toParams(r));
      } else {
        upsertFinal.run(toParams(r));
        dropPending.run(r.callId, r.attempt);
      }
    }
  });
  const pending = db.prepare('SELECT * FROM calls_pending ORDER BY ts_start');
  // One statement for the whole list: the ids travel as one JSON array of [call_id, attempt].
  // Only calls_pending is touched, so a final row never gets a lease back.
  const renewLeases = db.prepare(
    `UPDATE calls_pending SET lease_until = MAX(COALESCE(lease_until, @at), @at)
     WHERE (call_id, attempt) IN (
       SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(@ids)
     )`,
  );
  const settledSince = db.prepare(
    `SELECT * FROM calls WHERE ts_start >= ? AND status != 'pending' ORDER BY ts_start`,
  );
  const countAll = db.prepare(
    'SELECT (SELECT COUNT(*) FROM calls) + (SELECT COUNT(*) FROM calls_pending) AS n',
  );
  const hourly = db.prepare(
    `SELECT hour, team, SUM(calls) AS calls, SUM(cost) AS cost, SUM(denied) AS denied, SUM(errors) AS errors,
       SUM(degraded) AS degraded, SUM(rerouted) AS rerouted, SUM(queued) AS queued, SUM(queue_ms) AS queue_ms,
       SUM(retried) AS retried
     FROM calls_hourly WHERE hour >= @fromHour AND hour < @toHour AND (@team IS NULL OR team = @team)
     GROUP BY hour, team HAVING SUM(calls) > 0 ORDER BY hour, team`,
  );

  return {
    async writeBatch(rows) {
      writeMany(rows);
    },
    async pendingRows() {
      return (pending.all() as SqlRow[]).map(rowToCall);
    },
    async renewPendingLeases(ids, leaseUntilMs) {
      if (ids.length === 0) return 0;
      const pairs = JSON.stringify(ids.map((id) => [id.callId, id.attempt]));
      return renewLeases.run({ at: leaseUntilMs, ids: pairs }).changes;
    },
    async *iterateSettledSince(fromMs) {
      for (const r of settledSince.iterate(fromMs) as IterableIterator<SqlRow>) yield rowToCall(r);
    },
    async queryCalls(filter) {
      const { sql, params } = whereClause(filter);
      const limit = Math.min(Math.max(filter.limit ?? 100, 1), 10_000);
      const query = (table: string) =>
        db
          .prepare(`SELECT * FROM ${table} ${sql} ORDER BY ts_start DESC, call_id LIMIT ${limit}`)
          .all(params) as SqlRow[];
      const rows = tablesFor(filter.status).flatMap(query).map(rowToCall);
      // Newest first across both tables, as one table would give them.
      rows.sort((a, b) => b.tsStart - a.tsStart || (a.callId < b.callId ? -1 : a.callId > b.callId ? 1 : 0));
      return rows.slice(0, limit);
    },
    async usage(by, filter) {
      const { sql, params } = whereClause(filter);
      const col = DIMENSION_COLUMN[by];
      const rows = db
        .prepare(
          `SELECT ${col} AS grp, COUNT(*) AS calls, SUM(input_tokens) AS inp, SUM(output_tokens) AS outp,
             SUM(cache_read_tokens) AS cr, SUM(cache_write_tokens) AS cw, SUM(reasoning_tokens) AS rs,
             SUM(cost) AS cost, SUM(status = 'denied') AS denied,
             SUM(status IN ('upstream_error', 'client_aborted', 'orphaned')) AS errors,
             SUM(instr(action, 'degraded') > 0) AS degraded, SUM(instr(action, 'rerouted') > 0) AS rerouted,
             SUM(instr(action, 'queued') > 0 OR queue_ms IS NOT NULL) AS queued, SUM(COALESCE(queue_ms, 0)) AS queue_ms,
             SUM(instr(action, 'failover') > 0 OR instr(action, 'retry') > 0) AS retried
           FROM (${tablesFor(filter.status)
             .map((t) => `SELECT ${cols.join(', ')} FROM ${t} ${sql}`)
             .join(' UNION ALL ')})
           GROUP BY ${col} ORDER BY cost DESC, grp`,
        )
        .all(params) as SqlRow[];
      return rows.map(
        (r): UsageRow => ({
          group: r.grp == null ? null : String(r.grp),
          calls: Number(r.calls),
          inputTokens: Number(r.inp ?? 0),
          outputTokens: Number(r.outp ?? 0),
          cacheReadTokens: Number(r.cr ?? 0),
          cacheWriteTokens: Number(r.cw ?? 0),
          reasoningTokens: Number(r.rs ?? 0),
          cost: Number(r.cost ?? 0),
          denied: Number(r.denied ?? 0),
          errors: Number(r.errors ?? 0),
          degraded: Number(r.degraded ?? 0),
          rerouted: Number(r.rerouted ?? 0),
          queued: Number(r.queued ?? 0),
          queueMs: Number(r.queue_ms ?? 0),
          retried: Number(r.retried ?? 0),
        }),
      );
    },
    async count() {
      return Number((countAll.get() as SqlRow).n);
    },
    async hourlyUsage(f) {
      const rows = hourly.all({ fromHour: f.fromHour, toHour: f.toHour, team: f.team ?? null }) as SqlRow[];
      return rows.map((r) => ({
        hour: Number(r.hour),
        team: String(r.team),
        calls: Number(r.calls),
        cost: Number(r.cost),
        denied: Number(r.denied),
        errors: Number(r.errors),
        degraded: Number(r.degraded),
        rerouted: Number(r.rerouted),
        queued: Number(r.queued),
        queueMs: Number(r.queue_ms),
        retried: Number(r.retried),
      }));
    },
  };
}
