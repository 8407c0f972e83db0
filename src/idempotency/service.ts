import { createHash } from 'node:crypto';
import { parseDuration } from '../budget/windows.ts';
import type { IdempotencyConfig } from './config.ts';
import type { IdempotencyStore, StoredAnswer } from './store.ts';

/** Header names a client uses (OpenAI's SDK sends `Idempotency-Key` on retries it makes itself). */
export const IDEMPOTENCY_HEADER = 'idempotency-key';
const MAX_KEY_LENGTH = 255;

export interface Claim {
  keyId: string;
  idemKey: string;
  bodyHash: string;
}

export type Begin =
  | { kind: 'none' }
  | { kind: 'invalid'; message: string }
  | { kind: 'replay'; answer: StoredAnswer }
  | { kind: 'conflict'; callId: string }
  | { kind: 'in_progress' }
  | { kind: 'new'; claim: Claim };

/**
 * Idempotency-Key: the first call with a key runs and its successful answer is stored; a retry
 * with the same key and the same body replays it without calling the provider or billing again;
 * the same key with a different body is a conflict. A call still running holds the key (a
 * concurrent retry is told to wait); a failed call frees it, so a retry really runs.
 */
export class IdempotencyService {
  private readonly inFlight = new Map<string, string>();
  private readonly ttlMs: number;
  private lastPurge = 0;

  constructor(
    private readonly store: IdempotencyStore,
    private readonly config: IdempotencyConfig,
    private readonly clock: () => number,
  ) {
    this.ttlMs = parseDuration(config.ttl);
  }

  get maxResponseBytes(): number {
    return this.config.max_response_bytes;
  }

  begin(keyId: string, header: string | string[] | undefined, endpoint: string, rawBody: Buffer): Begin {
    if (header === undefined) return { kind: 'none' };
    const idemKey = Array.isArray(header) ? header[0] : header;
    if (idemKey === undefined || idemKey.length === 0 || idemKey.length > MAX_KEY_LENGTH) {
      return { kind: 'invalid', message: `Idempotency-Key must be 1-${MAX_KEY_LENGTH} characters.` };
    }
    const bodyHash = createHash('sha256').update(endpoint).update('\u0000').update(rawBody).digest('hex');
    const slot = `${keyId}\u0000${idemKey}`;
    const running = this.inFlight.get(slot);
    if (running !== undefined) {
      return running === bodyHash ? { kind: 'in_progress' } : { kind: 'conflict', callId: '' };
    }
    const now = this.clock();
    this.maybePurge(now);
    const stored = this.store.get(keyId, idemKey, now);
    if (stored) {
      return stored.bodyHash === bodyHash
        ? { kind: 'replay', answer: stored }
        : { kind: 'conflict', callId: stored.callId };
    }
    this.inFlight.set(slot, bodyHash);
    return { kind: 'new', claim: { keyId, idemKey, bodyHash } };
  }

  /** Stores a successful answer and frees the key. */
  complete(
    claim: Claim,
    callId: string,
    status: number,
    headers: Record<string, string>,
    body: Buffer,
  ): void {
    const now = this.clock();
    try {
      this.store.put({
        ...claim,
        callId,
        status,
        headers,
        body,
        createdAt: now,
        expiresAt: now + this.ttlMs,
      });
    } finally {
      this.inFlight.delete(`${claim.keyId}\u0000${claim.idemKey}`);
    }
  }

  /** The call failed or could not be stored: a retry with this key runs again. */
  abandon(claim: Claim): void {
    this.inFlight.delete(`${claim.keyId}\u0000${claim.idemKey}`);
  }

  private maybePurge(now: number): void {
    if (now - this.lastPurge < 60_000) return;
    this.lastPurge = now;
    this.store.purge(now);
  }
}
