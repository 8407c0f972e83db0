import {
  CompiledQuery,
  type Insertable,
  type Kysely,
  type Selectable,
  type SelectQueryBuilder,
  sql,
} from 'kysely';
import type {
  CallFilter,
  CallRecord,
  CallStatus,
  UsageDimension,
  UsageRow,
  UsageSource,
} from '../../ledger/types.ts';
import type { LedgerStore } from '../interface.ts';
import type { CallsTable, TollgateDatabase } from './schema.ts';

function toRow(r: CallRecord): Insertable<CallsTable> {
  return {
    call_id: r.callId,
    attempt: r.attempt,
    request_id: r.requestId,
    session_id: r.sessionId,
    ts_start: r.tsStart,
    ts_end: r.tsEnd,
    key_id: r.keyId,
    org: r.org,
    team: r.team,
    project: r.project,
    env: r.env,
    cost_center: r.costCenter,
    user: r.user,
    feature: r.feature,
    provider: r.provider,
    model_requested: r.modelRequested,
    model_used: r.modelUsed,
    endpoint: r.endpoint,
    stream: r.stream,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    cache_read_tokens: r.cacheReadTokens,
    cache_write_tokens: r.cacheWriteTokens,
    reasoning_tokens: r.reasoningTokens,
    tool_call_tokens: r.toolCallTokens,
    usage_source: r.usageSource,
    cost: r.cost,
    reserved: r.reserved,
    reserved_tokens: r.reservedTokens,
    status: r.status,
    http_status: r.httpStatus,
    error_code: r.errorCode,
    denial_policy: r.denialPolicy,
    fallback_from: r.fallbackFrom,
    action: r.action,
    queue_ms: r.queueMs,
    latency_ms: r.latencyMs,
    ttft_ms: r.ttftMs,
    flags: r.flags,
    lease_until: r.leaseUntil,
  };
}

export function rowToCall(r: Selectable<CallsTable>): CallRecord {
  return {
    callId: r.call_id,
    attempt: r.attempt,
    requestId: r.request_id,
    sessionId: r.session_id,
    tsStart: r.ts_start,
    tsEnd: r.ts_end,
    keyId: r.key_id,
    org: r.org,
    team: r.team,
    project: r.project,
    env: r.env,
    costCenter: r.cost_center,
    user: r.user,
    feature: r.feature,
    provider: r.provider,
    modelRequested: r.model_requested,
    modelUsed: r.model_used,
    endpoint: r.endpoint,
    stream: r.stream,
    inputTokens: r.input_tokens,
    outputTokens: r.output_tokens,
    cacheReadTokens: r.cache_read_tokens,
    cacheWriteTokens: r.cache_write_tokens,
    reasoningTokens: r.reasoning_tokens,
    toolCallTokens: r.tool_call_tokens,
    usageSource: r.usage_source as UsageSource,
    cost: r.cost,
    reserved: r.reserved,
    reservedTokens: r.reserved_tokens,
    status: r.status as CallStatus,
    httpStatus: r.http_status,
    errorCode: r.error_code,
    denialPolicy: r.denial_policy,
    fallbackFrom: r.fallback_from,
    action: r.action,
    queueMs: r.queue_ms,
    latencyMs: r.latency_ms,
    ttftMs: r.ttft_ms,
    flags: r.flags,
    leaseUntil: r.lease_until,
  };
}

type CallColumn = keyof CallsTable;

const SAMPLE_ROW = toRow({} as CallRecord);
const COLUMNS = Object.keys(SAMPLE_ROW) as CallColumn[];
const UPDATED_COLUMNS = COLUMNS.filter((c) => c !== 'call_id' && c !== 'attempt');

/** PostgreSQL's bind-parameter limit (a 16-bit count) per statement. */
const MAX_PARAMETERS = 65_535;
export const ROWS_PER_INSERT = Math.floor(MAX_PARAMETERS / COLUMNS.length);

/** Rows per page when streaming settled rows; keyset pagination keeps memory flat. */
const PAGE_ROWS = 1_000;

const DIMENSION_COLUMN: Record<UsageDimension, CallColumn> = {
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

/**
 * One INSERT … ON CONFLICT DO UPDATE may touch a row only once, and a batch can hold a call's
 * pending row and its final row: the later one is the state to keep.
 */
function lastWriteWins(rows: CallRecord[]): CallRecord[] {
  const byKey = new Map<string, CallRecord>();
  for (const r of rows) {
    const key = `${r.attempt}:${r.callId}`;
    byKey.delete(key);
    byKey.set(key, r);
  }
  return [...byKey.values()];
}

function applyFilter<O>(
  q: SelectQueryBuilder<TollgateDatabase, 'calls', O>,
  f: CallFilter,
): SelectQueryBuilder<TollgateDatabase, 'calls', O> {
  let out = q;
  if (f.from !== undefined) out = out.where('ts_start', '>=', f.from);
  if (f.to !== undefined) out = out.where('ts_start', '<', f.to);
  if (f.team !== undefined) out = out.where('team', '=', f.team);
  if (f.project !== undefined) out = out.where('project', '=', f.project);
  if (f.env !== undefined) out = out.where('env', '=', f.env);
  if (f.keyId !== undefined) out = out.where('key_id', '=', f.keyId);
  if (f.model !== undefined) out = out.where('model_used', '=', f.model);
  if (f.status !== undefined) out = out.where('status', '=', f.status);
  if (f.requestId !== undefined) out = out.where('request_id', '=', f.requestId);
  if (f.before !== undefined) out = out.where('ts_start', '<', f.before);
  return out;
}

function clampLimit(limit: number | undefined): number {
  const n = limit ?? 100;
  return Number.isFinite(n) ? Math.min(Math.max(Math.trunc(n), 1), 10_000) : 100;
}

/** A double-quoted SQL identifier (`user` is a reserved word; a schema name may be anything). */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The batch upsert as SQL text, built once per row count. Query-builder compilation of a
 * 40-column INSERT … ON CONFLICT DO UPDATE cost more CPU than the write itself, on every flush.
 */
class UpsertStatements {
  private readonly head: string;
  private readonly tail: string;
  private readonly byRows = new Map<number, string>();

  constructor(schema: string) {
    this.head = `INSERT INTO ${quoteIdent(schema)}.${quoteIdent('calls')} (${COLUMNS.map(quoteIdent).join(', ')}) VALUES `;
    const updates = UPDATED_COLUMNS.map((c) => `${quoteIdent(c)} = excluded.${quoteIdent(c)}`).join(', ');
    // The final row updates the pending one in place (same semantics as the SQLite store).
    this.tail = ` ON CONFLICT (${quoteIdent('call_id')}, ${quoteIdent('attempt')}) DO UPDATE SET ${updates}`;
  }

  forRows(rows: number): string {
    let text = this.byRows.get(rows);
    if (text === undefined) {
      const tuples: string[] = [];
      for (let r = 0; r < rows; r++) {
        const base = r * COLUMNS.length;
        tuples.push(`(${COLUMNS.map((_, c) => `$${base + c + 1}`).join(', ')})`);
      }
      text = this.head + tuples.join(', ') + this.tail;
      // Bounded: only common small batch sizes stay cached; bigger ones are rare (backlogs).
      if (rows <= 64) this.byRows.set(rows, text);
    }
    return text;
  }
}

function upsertParameters(rows: CallRecord[]): unknown[] {
  const params: unknown[] = [];
  for (const r of rows) {
    const row = toRow(r);
    for (const c of COLUMNS) params.push(row[c]);
  }
  return params;
}

/** `schema` must be the schema `db` was bound to (withSchema): batch writes name it in plain SQL. */
export function postgresLedgerStore(db: Kysely<TollgateDatabase>, schema = 'public'): LedgerStore {
  const statements = new UpsertStatements(schema);
  const upsert = (conn: Kysely<TollgateDatabase>, rows: CallRecord[]) =>
    conn.executeQuery(CompiledQuery.raw(statements.forRows(rows.length), upsertParameters(rows)));

  return {
    async writeBatch(rows) {
      if (rows.length === 0) return;
      const latest = lastWriteWins(rows);
      if (latest.length <= ROWS_PER_INSERT) {
        await upsert(db, latest);
        return;
      }
      await db.transaction().execute(async (trx) => {
        for (let i = 0; i < latest.length; i += ROWS_PER_INSERT) {
          await upsert(trx, latest.slice(i, i + ROWS_PER_INSERT));
        }
      });
    },
    async pendingRows() {
      const rows = await db
        .selectFrom('calls')
        .selectAll()
        .where('status', '=', 'pending')
        .orderBy('ts_start')
        .orderBy('call_id')
        .orderBy('attempt')
        .execute();
      return rows.map(rowToCall);
    },
    async renewPendingLeases(ids, leaseUntilMs) {
      if (ids.length === 0) return 0;
      // One statement per batch: the ids travel as two arrays (two bind parameters, whatever the
      // count), matched on the primary key. A final row is never given a lease back.
      const at = sql`${leaseUntilMs}::bigint`;
      const result = await db
        .updateTable('calls')
        .set({ lease_until: sql<number>`greatest(coalesce(lease_until, ${at}), ${at})` })
        .where('status', '=', 'pending')
        .where(
          sql<boolean>`(call_id, attempt) in (select * from unnest(${ids.map((id) => id.callId)}::text[], ${ids.map((id) => id.attempt)}::int[]))`,
        )
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },
    async *iterateSettledSince(fromMs) {
      let after: [number, string, number] | null = null;
      for (;;) {
        let q = db
          .selectFrom('calls')
          .selectAll()
          .where('ts_start', '>=', fromMs)
          .where('status', '!=', 'pending');
        if (after) {
          const [ts, id, attempt] = after;
          q = q.where((eb) =>
            eb(eb.refTuple('ts_start', 'call_id', 'attempt'), '>', eb.tuple(ts, id, attempt)),
          );
        }
        const page = await q
          .orderBy('ts_start')
          .orderBy('call_id')
          .orderBy('attempt')
          .limit(PAGE_ROWS)
          .execute();
        for (const r of page) yield rowToCall(r);
        const last = page.at(-1);
        if (!last || page.length < PAGE_ROWS) return;
        after = [last.ts_start, last.call_id, last.attempt];
      }
    },
    async queryCalls(filter) {
      const rows = await applyFilter(db.selectFrom('calls').selectAll(), filter)
        .orderBy('ts_start', 'desc')
        .orderBy('call_id')
        .limit(clampLimit(filter.limit))
        .execute();
      return rows.map(rowToCall);
    },
    async usage(by, filter) {
      const col = DIMENSION_COLUMN[by];
      // Sums of BIGINT are NUMERIC in PostgreSQL; cast back so they parse as exact integers.
      const total = (c: CallColumn) => sql<number>`coalesce(sum(${sql.ref(c)}), 0)::bigint`;
      const counted = (cond: ReturnType<typeof sql>) => sql<number>`count(*) filter (where ${cond})`;
      const hasAction = (word: string) => sql`strpos(${sql.ref('action')}, ${word}) > 0`;
      const rows = await applyFilter(
        db
          .selectFrom('calls')
          .select([
            sql<string | null>`${sql.ref(col)}`.as('grp'),
            sql<number>`count(*)`.as('calls'),
            total('input_tokens').as('inp'),
            total('output_tokens').as('outp'),
            total('cache_read_tokens').as('cr'),
            total('cache_write_tokens').as('cw'),
            total('reasoning_tokens').as('rs'),
            total('cost').as('total_cost'),
            counted(sql`status = 'denied'`).as('denied'),
            counted(sql`status in ('upstream_error', 'client_aborted', 'orphaned')`).as('errors'),
            counted(hasAction('degraded')).as('degraded'),
            counted(hasAction('rerouted')).as('rerouted'),
            counted(sql`${hasAction('queued')} or queue_ms is not null`).as('queued'),
            total('queue_ms').as('queue_ms_total'),
            counted(sql`${hasAction('failover')} or ${hasAction('retry')}`).as('retried'),
          ]),
        filter,
      )
        .groupBy(col)
        // NULLS FIRST: the order SQLite gives a NULL group.
        .orderBy(sql`total_cost desc, grp asc nulls first`)
        .execute();
      return rows.map(
        (r): UsageRow => ({
          group: r.grp,
          calls: r.calls,
          inputTokens: r.inp,
          outputTokens: r.outp,
          cacheReadTokens: r.cr,
          cacheWriteTokens: r.cw,
          reasoningTokens: r.rs,
          cost: r.total_cost,
          denied: r.denied,
          errors: r.errors,
          degraded: r.degraded,
          rerouted: r.rerouted,
          queued: r.queued,
          queueMs: r.queue_ms_total,
          retried: r.retried,
        }),
      );
    },
    async count() {
      const r = await db.selectFrom('calls').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      return r.n;
    },
  };
}
