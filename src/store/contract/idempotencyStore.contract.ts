import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClaimRequest, ClaimResult, IdempotencyStore, StoredAnswer } from '../../idempotency/store.ts';

/**
 * Two store instances over one fresh, migrated database: two connections, as two replicas have
 * (SQLite: two connections to one file; PostgreSQL: two pools on one schema).
 */
export interface ReplicaPair<T> {
  one: T;
  two: T;
  close(): Promise<void>;
}

export type IdempotencyStoreFactory = () => Promise<ReplicaPair<IdempotencyStore>>;

const T0 = 1_767_225_600_000;
const LEASE_MS = 60_000;
/** Every byte value, so a store that treats the body as text is caught. */
const EVERY_BYTE = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function request(owner: string, overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return {
    keyId: 'key_1',
    idemKey: 'order-1',
    bodyHash: 'hash-a',
    owner,
    leaseUntilMs: T0 + LEASE_MS,
    ...overrides,
  };
}

function answer(overrides: Partial<StoredAnswer> = {}): StoredAnswer {
  return {
    keyId: 'key_1',
    idemKey: 'order-1',
    bodyHash: 'hash-a',
    callId: 'call_1',
    status: 200,
    headers: { 'content-type': 'application/json', 'x-tollgate-call-id': 'call_1' },
    body: EVERY_BYTE,
    createdAt: T0 + 10,
    expiresAt: T0 + 86_400_000,
    ...overrides,
  };
}

export function idempotencyStoreContract(name: string, open: IdempotencyStoreFactory): void {
  describe(`IdempotencyStore contract: ${name}`, () => {
    let pair: ReplicaPair<IdempotencyStore>;
    let one: IdempotencyStore;
    let two: IdempotencyStore;
    beforeEach(async () => {
      pair = await open();
      one = pair.one;
      two = pair.two;
    });
    afterEach(async () => {
      await pair.close();
    });

    it('a claim holds the key for its owner; others see it running, with its body hash', async () => {
      expect(await one.claim(request('A'), T0)).toEqual({ kind: 'claimed' });
      expect(await two.claim(request('B'), T0 + 1)).toEqual({ kind: 'running', bodyHash: 'hash-a' });
      expect(await two.claim(request('C', { bodyHash: 'hash-b' }), T0 + 2)).toEqual({
        kind: 'running',
        bodyHash: 'hash-a',
      });
      // Keys are per virtual key.
      expect(await two.claim(request('D', { keyId: 'key_2' }), T0 + 3)).toEqual({ kind: 'claimed' });
    });

    it('of 20 concurrent claims of one key from two instances exactly one wins', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? one : two).claim(request(`owner-${i}`), T0)),
      );
      expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1);
      expect(results.filter((r) => r.kind === 'running')).toHaveLength(19);
    });

    it('complete stores the answer byte for byte; a retry on the other instance replays it', async () => {
      await one.claim(request('A'), T0);
      expect(await one.complete(answer(), 'A')).toBe(true);
      const replay = await two.claim(request('B'), T0 + 1_000);
      expect(replay).toEqual({ kind: 'done', answer: answer() });
      const body = (replay as Extract<ClaimResult, { kind: 'done' }>).answer.body;
      expect(Buffer.compare(body, EVERY_BYTE)).toBe(0);
      // A different body under the same key sees the stored answer (the service calls it a conflict).
      expect(await two.claim(request('C', { bodyHash: 'hash-b' }), T0 + 2_000)).toEqual({
        kind: 'done',
        answer: answer(),
      });
    });

    it('only the owner completes or abandons a claim', async () => {
      await one.claim(request('A'), T0);
      expect(await two.complete(answer(), 'B')).toBe(false);
      expect(await two.abandon('key_1', 'order-1', 'B')).toBe(false);
      expect(await two.claim(request('C'), T0 + 1)).toEqual({ kind: 'running', bodyHash: 'hash-a' });
      expect(await one.complete(answer(), 'A')).toBe(true);
      // Done: neither complete nor abandon touches a stored answer again.
      expect(await one.complete(answer({ callId: 'call_2' }), 'A')).toBe(false);
      expect(await one.abandon('key_1', 'order-1', 'A')).toBe(false);
      expect(await two.claim(request('D'), T0 + 2)).toEqual({ kind: 'done', answer: answer() });
    });

    it('abandon frees the key: the next claim, on either instance, runs', async () => {
      await one.claim(request('A'), T0);
      expect(await one.abandon('key_1', 'order-1', 'A')).toBe(true);
      expect(await two.claim(request('B', { bodyHash: 'hash-b' }), T0 + 1)).toEqual({ kind: 'claimed' });
      expect(await one.claim(request('C'), T0 + 2)).toEqual({ kind: 'running', bodyHash: 'hash-b' });
    });

    it('a running claim past its lease (its replica died) is taken over, once', async () => {
      await one.claim(request('dead', { leaseUntilMs: T0 + 100 }), T0);
      expect(await two.claim(request('early'), T0 + 99)).toEqual({ kind: 'running', bodyHash: 'hash-a' });
      const racers = await Promise.all([
        two.claim(request('B', { bodyHash: 'hash-b' }), T0 + 100),
        one.claim(request('C', { bodyHash: 'hash-c' }), T0 + 100),
      ]);
      expect(racers.filter((r) => r.kind === 'claimed')).toHaveLength(1);
      const winner = racers[0]?.kind === 'claimed' ? 'B' : 'C';
      const winnerHash = winner === 'B' ? 'hash-b' : 'hash-c';
      expect(racers.find((r) => r.kind === 'running')).toEqual({ kind: 'running', bodyHash: winnerHash });
      // The dead call can no longer store or free what is now the new call's.
      expect(await one.complete(answer(), 'dead')).toBe(false);
      expect(await one.abandon('key_1', 'order-1', 'dead')).toBe(false);
      expect(await two.complete(answer({ bodyHash: winnerHash }), winner)).toBe(true);
      expect(await one.claim(request('D'), T0 + 200)).toEqual({
        kind: 'done',
        answer: answer({ bodyHash: winnerHash }),
      });
    });

    it('an answer past its TTL is replaced by a new claim', async () => {
      await one.claim(request('A'), T0);
      await one.complete(answer({ expiresAt: T0 + 5_000 }), 'A');
      expect((await two.claim(request('B'), T0 + 4_999)).kind).toBe('done');
      expect(await two.claim(request('C', { bodyHash: 'hash-b' }), T0 + 5_000)).toEqual({ kind: 'claimed' });
    });

    it('purge deletes expired answers and dead claims, and nothing live', async () => {
      await one.claim(request('A', { idemKey: 'old-answer' }), T0);
      await one.complete(answer({ idemKey: 'old-answer', expiresAt: T0 + 1_000 }), 'A');
      await one.claim(request('B', { idemKey: 'live-answer' }), T0);
      await one.complete(answer({ idemKey: 'live-answer', expiresAt: T0 + 10_000 }), 'B');
      await one.claim(request('C', { idemKey: 'dead-claim', leaseUntilMs: T0 + 1_000 }), T0);
      await one.claim(request('D', { idemKey: 'live-claim', leaseUntilMs: T0 + 10_000 }), T0);
      expect(await two.purge(T0 + 1_000)).toBe(2);
      expect(await two.purge(T0 + 1_000)).toBe(0);
      expect((await one.claim(request('E', { idemKey: 'live-answer' }), T0 + 1_000)).kind).toBe('done');
      expect((await one.claim(request('F', { idemKey: 'live-claim' }), T0 + 1_000)).kind).toBe('running');
      // The dead claim's row is gone, so its owner cannot complete it.
      expect(await one.complete(answer({ idemKey: 'dead-claim' }), 'C')).toBe(false);
    });
  });
}
