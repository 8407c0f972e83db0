import type { Kysely, Selectable } from 'kysely';
import type { ClaimResult, IdempotencyStore, StoredAnswer } from '../../idempotency/store.ts';
import type { IdempotencyTable, TollgateDatabase } from './schema.ts';

const toAnswer = (r: Selectable<IdempotencyTable>): StoredAnswer => ({
  keyId: r.key_id,
  idemKey: r.idem_key,
  bodyHash: r.body_hash,
  callId: r.call_id,
  status: r.status,
  headers: JSON.parse(r.headers) as Record<string, string>,
  body: r.body,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

/**
 * A claim reads the row after its upsert lost; an abandon or purge on another replica may delete
 * it in between, and then the key is free again: try once more.
 */
const CLAIM_TRIES = 5;

/**
 * Idempotency-Key records shared by cluster replicas. A claim is one upsert that inserts a
 * running row, or replaces a dead one (lease or TTL passed), and otherwise leaves the row alone:
 * PostgreSQL serialises concurrent upserts of one key, so exactly one call gets its row back.
 */
export function postgresIdempotencyStore(db: Kysely<TollgateDatabase>): IdempotencyStore {
  return {
    async claim(c, nowMs) {
      for (let tries = 0; tries < CLAIM_TRIES; tries++) {
        const running = {
          key_id: c.keyId,
          idem_key: c.idemKey,
          body_hash: c.bodyHash,
          state: 'running' as const,
          owner: c.owner,
          call_id: '',
          status: 0,
          headers: '{}',
          body: Buffer.alloc(0),
          created_at: nowMs,
          expires_at: c.leaseUntilMs,
        };
        const taken = await db
          .insertInto('idempotency')
          .values(running)
          .onConflict((oc) =>
            oc
              .columns(['key_id', 'idem_key'])
              .doUpdateSet(running)
              .where('idempotency.expires_at', '<=', nowMs),
          )
          .returning('owner')
          .executeTakeFirst();
        if (taken !== undefined) return { kind: 'claimed' };
        const row = await db
          .selectFrom('idempotency')
          .selectAll()
          .where('key_id', '=', c.keyId)
          .where('idem_key', '=', c.idemKey)
          .executeTakeFirst();
        if (row !== undefined) return heldBy(row);
      }
      throw new Error(`Idempotency-Key '${c.idemKey}' kept changing hands; gave up claiming it`);
    },
    async complete(a, owner) {
      const done = await db
        .updateTable('idempotency')
        .set({
          body_hash: a.bodyHash,
          state: 'done',
          owner: null,
          call_id: a.callId,
          status: a.status,
          headers: JSON.stringify(a.headers),
          body: a.body,
          created_at: a.createdAt,
          expires_at: a.expiresAt,
        })
        .where('key_id', '=', a.keyId)
        .where('idem_key', '=', a.idemKey)
        .where('state', '=', 'running')
        .where('owner', '=', owner)
        .executeTakeFirst();
      return done.numUpdatedRows === 1n;
    },
    async abandon(keyId, idemKey, owner) {
      const gone = await db
        .deleteFrom('idempotency')
        .where('key_id', '=', keyId)
        .where('idem_key', '=', idemKey)
        .where('state', '=', 'running')
        .where('owner', '=', owner)
        .executeTakeFirst();
      return gone.numDeletedRows === 1n;
    },
    async purge(nowMs) {
      const gone = await db.deleteFrom('idempotency').where('expires_at', '<=', nowMs).executeTakeFirst();
      return Number(gone.numDeletedRows);
    },
  };
}

function heldBy(row: Selectable<IdempotencyTable>): ClaimResult {
  return row.state === 'running'
    ? { kind: 'running', bodyHash: row.body_hash }
    : { kind: 'done', answer: toAnswer(row) };
}
