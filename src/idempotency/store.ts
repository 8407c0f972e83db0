import type { Database } from 'better-sqlite3';

/** A finished answer, kept to be replayed byte for byte. */
export interface StoredAnswer {
  keyId: string;
  idemKey: string;
  bodyHash: string;
  callId: string;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  createdAt: number;
  expiresAt: number;
}

/** A call asking to hold an Idempotency-Key while it runs. */
export interface ClaimRequest {
  keyId: string;
  idemKey: string;
  bodyHash: string;
  /** Unique per call: only the claim's owner may complete or abandon it. */
  owner: string;
  /**
   * A running claim still held at this time belongs to a call that died with its replica: a
   * retry may take the key over.
   */
  leaseUntilMs: number;
}

export type ClaimResult =
  /** The key is this call's now (new, or taken over from a dead call or an expired answer). */
  | { kind: 'claimed' }
  /** Another call holds the key and is still running. */
  | { kind: 'running'; bodyHash: string }
  /** The key's answer is stored. */
  | { kind: 'done'; answer: StoredAnswer };

/**
 * Idempotency-Key records, shared by every replica that uses the same store: running claims
 * (so a concurrent retry anywhere is told to wait) and finished answers (so a retry anywhere
 * replays). A record whose expiry (lease or TTL) has passed is dead and may be replaced.
 */
export interface IdempotencyStore {
  /** Atomically either takes the key for this call or returns who has it: exactly one concurrent claim wins. */
  claim(request: ClaimRequest, nowMs: number): Promise<ClaimResult>;
  /** Turns the owner's running claim into its answer; false (nothing written) if the claim is no longer the owner's. */
  complete(answer: StoredAnswer, owner: string): Promise<boolean>;
  /** Frees the owner's running claim so a retry runs; false if it no longer held one. */
  abandon(keyId: string, idemKey: string, owner: string): Promise<boolean>;
  /** Deletes expired answers and dead claims; returns how many. */
  purge(nowMs: number): Promise<number>;
}

type SqlRow = Record<string, unknown>;

function toAnswer(r: SqlRow): StoredAnswer {
  return {
    keyId: String(r.key_id),
    idemKey: String(r.idem_key),
    bodyHash: String(r.body_hash),
    callId: String(r.call_id),
    status: Number(r.status),
    headers: JSON.parse(String(r.headers)) as Record<string, string>,
    body: r.body as Buffer,
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
  };
}

/**
 * Embedded mode: one process owns the file (lock file), so running claims left in it belong to
 * a process that is gone. Call once at open, before serving, so a retry after a crash runs at
 * once instead of waiting out the lease.
 */
export function forgetRunningClaims(db: Database): number {
  return db.prepare(`DELETE FROM idempotency WHERE state = 'running'`).run().changes;
}

/** The SQLite store (table from schema migrations 4 and 6). Each claim is one IMMEDIATE transaction. */
export function sqliteIdempotencyStore(db: Database): IdempotencyStore {
  const take = db.prepare(
    `INSERT INTO idempotency
       (key_id, idem_key, body_hash, call_id, status, headers, body, created_at, expires_at, state, owner)
     VALUES (@key_id, @idem_key, @body_hash, '', 0, '{}', x'', @now, @lease_until, 'running', @owner)
     ON CONFLICT (key_id, idem_key) DO UPDATE SET
       body_hash = excluded.body_hash, call_id = '', status = 0, headers = '{}', body = x'',
       created_at = excluded.created_at, expires_at = excluded.expires_at, state = 'running',
       owner = excluded.owner
     WHERE idempotency.expires_at <= @now`,
  );
  const find = db.prepare('SELECT * FROM idempotency WHERE key_id = ? AND idem_key = ?');
  const complete = db.prepare(
    `UPDATE idempotency SET body_hash = @body_hash, call_id = @call_id, status = @status, headers = @headers,
       body = @body, created_at = @created_at, expires_at = @expires_at, state = 'done', owner = NULL
     WHERE key_id = @key_id AND idem_key = @idem_key AND state = 'running' AND owner = @owner`,
  );
  const abandon = db.prepare(
    `DELETE FROM idempotency WHERE key_id = ? AND idem_key = ? AND state = 'running' AND owner = ?`,
  );
  const purge = db.prepare('DELETE FROM idempotency WHERE expires_at <= ?');

  const claim = db.transaction((c: ClaimRequest, nowMs: number): ClaimResult => {
    const taken = take.run({
      key_id: c.keyId,
      idem_key: c.idemKey,
      body_hash: c.bodyHash,
      now: nowMs,
      lease_until: c.leaseUntilMs,
      owner: c.owner,
    });
    if (taken.changes === 1) return { kind: 'claimed' };
    const row = find.get(c.keyId, c.idemKey) as SqlRow | undefined;
    // The upsert saw a live row and this transaction holds the write lock: it is still there.
    if (!row) throw new Error('idempotency row vanished inside its own transaction');
    return row.state === 'running'
      ? { kind: 'running', bodyHash: String(row.body_hash) }
      : { kind: 'done', answer: toAnswer(row) };
  });

  return {
    async claim(request, nowMs) {
      return claim.immediate(request, nowMs);
    },
    async complete(a, owner) {
      const info = complete.run({
        key_id: a.keyId,
        idem_key: a.idemKey,
        body_hash: a.bodyHash,
        call_id: a.callId,
        status: a.status,
        headers: JSON.stringify(a.headers),
        body: a.body,
        created_at: a.createdAt,
        expires_at: a.expiresAt,
        owner,
      });
      return info.changes === 1;
    },
    async abandon(keyId, idemKey, owner) {
      return abandon.run(keyId, idemKey, owner).changes === 1;
    },
    async purge(nowMs) {
      return purge.run(nowMs).changes;
    },
  };
}
