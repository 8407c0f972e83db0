import { createHash, randomUUID } from 'node:crypto';
import { parseDuration } from '../budget/windows.ts';
import type { IdempotencyConfig } from './config.ts';
import type { IdempotencyStore, StoredAnswer } from './store.ts';

/** Header names a client uses (OpenAI's SDK sends `Idempotency-Key` on retries it makes itself). */
export const IDEMPOTENCY_HEADER = 'idempotency-key';
const MAX_KEY_LENGTH = 255;
const PURGE_EVERY_MS = 60_000;

export interface Claim {
  keyId: string;
  idemKey: string;
  bodyHash: string;
  /** This call's token in the store: only it may complete or abandon the claim. */
  owner: string;
}

export type Begin =
  | { kind: 'none' }
  | { kind: 'invalid'; message: string }
  | { kind: 'replay'; answer: StoredAnswer }
  | { kind: 'conflict'; callId: string }
  | { kind: 'in_progress' }
  | { kind: 'new'; claim: Claim };

/** The call outlived its lease and a retry took the key over: its answer is not the stored one. */
export class ClaimLostError extends Error {
  constructor(claim: Claim) {
    super(`Idempotency-Key '${claim.idemKey}' was taken over after its lease expired; answer not stored`);
  }
}

export interface IdempotencyServiceOptions {
  /**
   * How long a running call holds its key. Past it the call is presumed dead (its replica
   * crashed) and a retry may run: the ledger's lease, after which its reservation is reaped too.
   */
  leaseMs: number;
  /** Where a failed purge or abandon is reported (neither fails the call). */
  onError?: (err: unknown) => void;
}

/**
 * Idempotency-Key: the first call with a key runs and its successful answer is stored; a retry
 * with the same key and the same body replays it without calling the provider or billing again;
 * the same key with a different body is a conflict. A call still running holds the key (a
 * concurrent retry is told to wait); a failed call frees it, so a retry really runs. Claims and
 * answers live in the store, so in cluster mode this holds across replicas.
 */
export class IdempotencyService {
  private readonly ttlMs: number;
  private lastPurge = 0;

  constructor(
    private readonly store: IdempotencyStore,
    private readonly config: IdempotencyConfig,
    private readonly clock: () => number,
    private readonly options: IdempotencyServiceOptions,
  ) {
    this.ttlMs = parseDuration(config.ttl);
  }

  get maxResponseBytes(): number {
    return this.config.max_response_bytes;
  }

  async begin(
    keyId: string,
    header: string | string[] | undefined,
    endpoint: string,
    rawBody: Buffer,
  ): Promise<Begin> {
    if (header === undefined) return { kind: 'none' };
    const idemKey = Array.isArray(header) ? header[0] : header;
    if (idemKey === undefined || idemKey.length === 0 || idemKey.length > MAX_KEY_LENGTH) {
      return { kind: 'invalid', message: `Idempotency-Key must be 1-${MAX_KEY_LENGTH} characters.` };
    }
    const bodyHash = createHash('sha256').update(endpoint).update('\u0000').update(rawBody).digest('hex');
    const now = this.clock();
    this.maybePurge(now);
    const claim: Claim = { keyId, idemKey, bodyHash, owner: randomUUID() };
    const found = await this.store.claim({ ...claim, leaseUntilMs: now + this.options.leaseMs }, now);
    switch (found.kind) {
      case 'claimed':
        return { kind: 'new', claim };
      case 'running':
        return found.bodyHash === bodyHash ? { kind: 'in_progress' } : { kind: 'conflict', callId: '' };
      case 'done':
        return found.answer.bodyHash === bodyHash
          ? { kind: 'replay', answer: found.answer }
          : { kind: 'conflict', callId: found.answer.callId };
    }
  }

  /** Stores a successful answer in place of the claim. Throws ClaimLostError if the claim is no longer this call's. */
  async complete(
    claim: Claim,
    callId: string,
    status: number,
    headers: Record<string, string>,
    body: Buffer,
  ): Promise<void> {
    const now = this.clock();
    const stored = await this.store.complete(
      {
        keyId: claim.keyId,
        idemKey: claim.idemKey,
        bodyHash: claim.bodyHash,
        callId,
        status,
        headers,
        body,
        createdAt: now,
        expiresAt: now + this.ttlMs,
      },
      claim.owner,
    );
    if (!stored) throw new ClaimLostError(claim);
  }

  /**
   * The call failed or could not be stored: a retry with this key runs again. Never throws (it
   * runs in the call's `finally`); if the store cannot be reached the claim ends with its lease.
   */
  async abandon(claim: Claim): Promise<void> {
    try {
      await this.store.abandon(claim.keyId, claim.idemKey, claim.owner);
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  /** Off the call's path: a purge failing must not fail the call. */
  private maybePurge(now: number): void {
    if (now - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = now;
    this.store.purge(now).catch((err: unknown) => this.options.onError?.(err));
  }
}
