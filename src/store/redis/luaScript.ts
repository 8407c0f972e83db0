import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { classifyRedisError } from './errors.ts';

/**
 * A Lua script run by hash (EVALSHA), sent in full only when Redis does not know it — after a
 * restart its script cache is empty. Errors come back classified: unavailability as
 * CountersUnavailableError, error replies of ours as plain Errors.
 */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      try {
        return await client.evalsha(this.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return await client.eval(this.source, keys.length, ...keys, ...args);
      }
    } catch (err) {
      throw classifyRedisError(err, this.name);
    }
  }
}

/** Runs a plain client call with the same error classification as the scripts. */
export async function guarded<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw classifyRedisError(err, what);
  }
}

/** Reads a script reply that must be an array of integers. */
export function integers(reply: unknown, what: string): number[] {
  if (!Array.isArray(reply)) throw new Error(`${what}: unexpected reply ${String(reply)}`);
  return reply.map((v) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new Error(`${what}: unexpected value ${v}`);
    return v;
  });
}

/** Reads a script reply that must be an integer. */
export function integer(reply: unknown, what: string): number {
  if (typeof reply !== 'number' || !Number.isSafeInteger(reply)) {
    throw new Error(`${what}: unexpected reply ${String(reply)}`);
  }
  return reply;
}

/** Reads a script reply that must be an array of strings. */
export function strings(reply: unknown, what: string): string[] {
  if (!Array.isArray(reply)) throw new Error(`${what}: unexpected reply ${String(reply)}`);
  return reply.map((v) => {
    if (typeof v !== 'string') throw new Error(`${what}: unexpected value ${String(v)}`);
    return v;
  });
}
