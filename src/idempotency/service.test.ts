import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../store/sqlite/schema.ts';
import { idempotencySchema } from './config.ts';
import { type Begin, type Claim, ClaimLostError, IdempotencyService } from './service.ts';
import { forgetRunningClaims, type IdempotencyStore, sqliteIdempotencyStore } from './store.ts';

const T0 = 1_767_225_600_000;
const LEASE_MS = 60_000;
const BODY = Buffer.from('{"model":"gpt-4.1-mini"}');

let db: Database.Database;
let store: IdempotencyStore;
let now: number;
let errors: unknown[];

function service(over: IdempotencyStore = store): IdempotencyService {
  return new IdempotencyService(over, idempotencySchema.parse({ ttl: '1h' }), () => now, {
    leaseMs: LEASE_MS,
    onError: (err) => errors.push(err),
  });
}

function claimOf(begin: Begin): Claim {
  if (begin.kind !== 'new') throw new Error(`expected a new claim, got ${begin.kind}`);
  return begin.claim;
}

beforeEach(() => {
  db = new Database(':memory:');
  migrate(db);
  store = sqliteIdempotencyStore(db);
  now = T0;
  errors = [];
});
afterEach(() => db.close());

describe('IdempotencyService', () => {
  it('runs the first call, tells a concurrent duplicate to wait and a different body it conflicts', async () => {
    const a = service();
    const b = service();
    expect(await a.begin('key_1', undefined, '/v1/chat/completions', BODY)).toEqual({ kind: 'none' });
    expect(await a.begin('key_1', '', '/v1/chat/completions', BODY)).toEqual({
      kind: 'invalid',
      message: 'Idempotency-Key must be 1-255 characters.',
    });
    const claim = claimOf(await a.begin('key_1', 'k1', '/v1/chat/completions', BODY));
    expect(await b.begin('key_1', 'k1', '/v1/chat/completions', BODY)).toEqual({ kind: 'in_progress' });
    expect(await b.begin('key_1', 'k1', '/v1/embeddings', BODY)).toEqual({ kind: 'conflict', callId: '' });

    await a.complete(claim, 'call_1', 200, { 'content-type': 'application/json' }, Buffer.from('{"ok":1}'));
    now += 1_000;
    const replay = await b.begin('key_1', 'k1', '/v1/chat/completions', BODY);
    expect(replay).toEqual({
      kind: 'replay',
      answer: {
        keyId: 'key_1',
        idemKey: 'k1',
        bodyHash: claim.bodyHash,
        callId: 'call_1',
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from('{"ok":1}'),
        createdAt: T0,
        expiresAt: T0 + 3_600_000,
      },
    });
    expect(await b.begin('key_1', 'k1', '/v1/chat/completions', Buffer.from('other'))).toEqual({
      kind: 'conflict',
      callId: 'call_1',
    });
  });

  it('an abandoned claim lets the retry run; a claim past the lease is taken over and cannot be completed', async () => {
    const svc = service();
    await svc.abandon(claimOf(await svc.begin('key_1', 'k1', '/e', BODY)));
    const dead = claimOf(await svc.begin('key_1', 'k1', '/e', BODY));
    now += LEASE_MS - 1;
    expect((await svc.begin('key_1', 'k1', '/e', BODY)).kind).toBe('in_progress');
    now += 1;
    const next = claimOf(await svc.begin('key_1', 'k1', '/e', BODY));
    expect(next.owner).not.toBe(dead.owner);
    await expect(svc.complete(dead, 'call_dead', 200, {}, BODY)).rejects.toBeInstanceOf(ClaimLostError);
    await svc.complete(next, 'call_next', 200, {}, BODY);
    expect((await svc.begin('key_1', 'k1', '/e', BODY)).kind).toBe('replay');
  });

  it('abandon never throws: a store failure is reported and the claim ends with its lease', async () => {
    const broken: IdempotencyStore = {
      ...store,
      abandon: async () => {
        throw new Error('connection lost');
      },
    };
    const svc = service(broken);
    await expect(svc.abandon(claimOf(await svc.begin('key_1', 'k1', '/e', BODY)))).resolves.toBeUndefined();
    expect(errors.map((e) => (e as Error).message)).toEqual(['connection lost']);
  });

  it('an embedded restart forgets running claims but keeps stored answers', async () => {
    const svc = service();
    claimOf(await svc.begin('key_1', 'running', '/e', BODY));
    await svc.complete(claimOf(await svc.begin('key_1', 'done', '/e', BODY)), 'call_1', 200, {}, BODY);
    expect(forgetRunningClaims(db)).toBe(1);
    expect((await svc.begin('key_1', 'running', '/e', BODY)).kind).toBe('new');
    expect((await svc.begin('key_1', 'done', '/e', BODY)).kind).toBe('replay');
  });
});
