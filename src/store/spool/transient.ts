/** Node socket errors that mean the database host could not be reached or dropped us. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
]);

/**
 * SQLSTATEs where the server is going away, starting up, out of resources or gave up on the
 * statement: the rows themselves are fine and will be accepted later.
 */
function transientSqlState(code: string): boolean {
  return (
    code.startsWith('08') || // connection exception
    code.startsWith('53') || // insufficient resources (too many connections, disk full)
    code.startsWith('57P') || // admin / crash shutdown, cannot connect now
    code === '57014' || // statement_timeout: canceled on the server, so it will not commit later
    code.startsWith('58') || // system I/O error
    code === '40001' || // serialization failure
    code === '40P01' || // deadlock
    code === '25006' // read-only transaction: a failover in progress
  );
}

/** Errors node-postgres raises itself when a connection dies or cannot be had. */
const CLIENT_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'is not queryable',
];

/**
 * True when a ledger write failed because the database was unreachable or temporarily unable,
 * not because of the rows: those writes are spooled and replayed. Anything else (a constraint,
 * a bug) propagates so it is seen rather than parked on disk.
 */
export function isTransientDatabaseError(err: unknown, depth = 0): boolean {
  if (depth > 4 || typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string') {
    if (NETWORK_CODES.has(e.code)) return true;
    if (/^[0-9A-Z]{5}$/.test(e.code) && transientSqlState(e.code)) return true;
  }
  if (typeof e.message === 'string' && CLIENT_MESSAGES.some((m) => String(e.message).includes(m)))
    return true;
  // Node's happy-eyeballs connect reports every address it tried in an AggregateError.
  if (Array.isArray(e.errors) && e.errors.some((inner) => isTransientDatabaseError(inner, depth + 1)))
    return true;
  return isTransientDatabaseError(e.cause, depth + 1);
}
