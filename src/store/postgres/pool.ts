import pg from 'pg';

export interface PoolOptions {
  /** Connections per replica (at least 2: migrations hold one for their lock). */
  poolSize?: number;
  /** How long to wait for a connection before the call fails (and the ledger spools). */
  connectTimeoutMs?: number;
  /**
   * Limit on one statement. The server cancels it (statement_timeout), so a timed-out write cannot
   * commit later behind rows spooled after it; the client gives up a little later
   * (query_timeout), so a silent network partition cannot hang a write forever.
   */
  queryTimeoutMs?: number;
  onError?: (message: string) => void;
}

const INT8_OID = 20;

/**
 * pg hands BIGINT back as a string. Money (nanos), epoch ms and token counts fit a JS number
 * exactly up to 2^53; beyond that a number would silently round, so refuse instead.
 */
export function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`BIGINT ${text} is outside the exact JS integer range`);
  return n;
}

export function createPool(url: string, opts: PoolOptions = {}): pg.Pool {
  // Per pool, not pg.types.setTypeParser: other pools in the process keep their own parsing.
  const types = new pg.TypeOverrides();
  types.setTypeParser(INT8_OID, parseInt8);
  const queryTimeoutMs = opts.queryTimeoutMs ?? 30_000;
  const pool = new pg.Pool({
    connectionString: url,
    max: Math.max(2, opts.poolSize ?? 10),
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
    statement_timeout: queryTimeoutMs,
    query_timeout: queryTimeoutMs + 5_000,
    keepAlive: true,
    types,
  });
  // A connection the server drops (restart, crash, failover) emits 'error': on the pool while
  // idle, on the client itself while checked out between two queries. Either one unhandled
  // would crash the process. The pool discards such a client and connects afresh later.
  pool.on('error', (err) => opts.onError?.(`idle PostgreSQL connection lost: ${err.message}`));
  pool.on('connect', (client) => {
    client.on('error', (err) => opts.onError?.(`PostgreSQL connection lost: ${err.message}`));
  });
  return pool;
}
