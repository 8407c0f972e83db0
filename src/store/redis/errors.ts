/**
 * Why the shared counters could not answer:
 * - `unreachable`: no connection, the connection dropped mid-command, or a command timed out;
 * - `busy`: Redis answered but cannot serve now (loading its data set, a script is stuck, read-only replica);
 * - `not_seeded`: Redis is up but lost its counters (restart without persistence, flush) and no
 *   replica has rebuilt them from the ledger yet — counting from zero would let spend past the caps.
 */
export type CountersUnavailableReason = 'unreachable' | 'busy' | 'not_seeded';

/**
 * The shared counter store cannot decide. The pipeline maps it to `store_unavailable` (503):
 * hard budgets fail closed. The client reconnects on its own; later calls succeed once Redis is back.
 */
export class CountersUnavailableError extends Error {
  override readonly name = 'CountersUnavailableError';
  readonly code = 'store_unavailable' as const;

  constructor(
    readonly reason: CountersUnavailableReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Marker our scripts put at the start of an error reply when the counters are not seeded. */
export const UNSEEDED_REPLY = 'TOLLGATE_UNSEEDED';
/** Marker of a seeding write whose lock was taken over by another replica. */
export const SEED_LOST_REPLY = 'TOLLGATE_SEED_LOST';

/** Redis error replies that mean "not now" rather than "your command is wrong". */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|NOREPLICAS|OOM)\b/;

/**
 * Sorts an error from the Redis client into unavailability (typed) or a bug (rethrown as is).
 * An error reply is a bug unless it is transient; anything else — connection closed, stream not
 * writeable, max retries, command timeout — means Redis is unreachable.
 */
export function classifyRedisError(err: unknown, what: string): Error {
  if (err instanceof CountersUnavailableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isReplyError(err)) {
    if (message.startsWith(UNSEEDED_REPLY)) {
      return new CountersUnavailableError(
        'not_seeded',
        `${what}: the shared budget counters are empty (Redis lost its data) and are not rebuilt from the ledger yet`,
        { cause: err },
      );
    }
    if (TRANSIENT_REPLY.test(message)) {
      return new CountersUnavailableError('busy', `${what}: Redis cannot serve now: ${message}`, {
        cause: err,
      });
    }
    // Our scripts reply "ERR <message>" for programming errors such as a reused open id.
    return new Error(message.replace(/^ERR\s+/, '').replace(/^Error running script.*?: /, ''), {
      cause: err,
    });
  }
  return new CountersUnavailableError('unreachable', `${what}: Redis is unreachable: ${message}`, {
    cause: err,
  });
}

function isReplyError(err: unknown): boolean {
  return err instanceof Error && err.name === 'ReplyError';
}
