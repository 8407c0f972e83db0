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

export interface IdempotencyStore {
  get(keyId: string, idemKey: string, nowMs: number): StoredAnswer | undefined;
  put(answer: StoredAnswer): void;
  /** Deletes expired answers; returns how many. */
  purge(nowMs: number): number;
}

type SqlRow = Record<string, unknown>;

export function sqliteIdempotencyStore(db: Database): IdempotencyStore {
  const get = db.prepare('SELECT * FROM idempotency WHERE key_id = ? AND idem_key = ? AND expires_at > ?');
  const put = db.prepare(
    `INSERT OR REPLACE INTO idempotency (key_id, idem_key, body_hash, call_id, status, headers, body, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const purge = db.prepare('DELETE FROM idempotency WHERE expires_at <= ?');
  return {
    get(keyId, idemKey, nowMs) {
      const r = get.get(keyId, idemKey, nowMs) as SqlRow | undefined;
      if (!r) return undefined;
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
    },
    put(a) {
      put.run(
        a.keyId,
        a.idemKey,
        a.bodyHash,
        a.callId,
        a.status,
        JSON.stringify(a.headers),
        a.body,
        a.createdAt,
        a.expiresAt,
      );
    },
    purge(nowMs) {
      return purge.run(nowMs).changes;
    },
  };
}
