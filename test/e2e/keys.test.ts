import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/identity/secrets.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

interface ErrorBody {
  error: { message: string; type: string; code: string };
}

let h: Harness;
/** Every secret this file ever saw, to prove none of them is stored. */
const secrets: string[] = [];

beforeAll(async () => {
  h = await startHarness({ mock: { outputTokens: 10 } });
});
afterAll(async () => h.close());

async function newKey(input: Record<string, unknown> = {}) {
  const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod', ...input });
  secrets.push(k.secret);
  return k;
}

type Outcome =
  | { ok: true; callId: string }
  | { ok: false; status: number | undefined; code: string | undefined; policy: string | null | undefined };

async function chat(secret: string): Promise<Outcome> {
  try {
    const { response } = await h
      .openai(secret)
      .chat.completions.create({
        model: 'gpt-4.1-mini',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 20,
      })
      .withResponse();
    return { ok: true, callId: response.headers.get('x-tollgate-call-id') ?? '' };
  } catch (err) {
    const e = err as { status?: number; code?: string; headers?: Headers };
    return { ok: false, status: e.status, code: e.code, policy: e.headers?.get('x-budget-exceeded') };
  }
}

async function rowOf(callId: string) {
  await h.gateway.services.ledger.flush();
  const rows = await h.gateway.services.store.ledger.queryCalls({ limit: 10_000 });
  const row = rows.find((r) => r.callId === callId);
  if (!row) throw new Error(`no ledger row for ${callId}`);
  return row;
}

describe('virtual key lifecycle through the real server', () => {
  it('an unknown or missing key is 401', async () => {
    expect(await chat('tg-not-a-real-key')).toMatchObject({
      ok: false,
      status: 401,
      code: 'invalid_api_key',
    });
    const res = await fetch(`${h.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as ErrorBody).error.code).toBe('missing_api_key');
  });

  it('revocation takes effect on the very next call (401 key_revoked); other keys keep working', async () => {
    const k = await newKey();
    const other = await newKey();
    expect((await chat(k.secret)).ok).toBe(true);
    const del = await h.admin('DELETE', `/admin/v1/keys/${k.id}`);
    expect(del.status).toBe(200);
    expect(await chat(k.secret)).toMatchObject({ ok: false, status: 401, code: 'key_revoked' });
    // x-api-key (Anthropic style) is refused the same way.
    const res = await fetch(`${h.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': k.secret },
      body: JSON.stringify({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as ErrorBody).error.code).toBe('key_revoked');
    expect((await chat(other.secret)).ok).toBe(true);
    // Revoking twice is harmless; a revoked key cannot be rotated back to life.
    expect((await h.admin('DELETE', `/admin/v1/keys/${k.id}`)).status).toBe(200);
    expect((await h.admin('POST', `/admin/v1/keys/${k.id}/rotate`)).status).toBe(404);
  });

  it('rotation: the old secret is 401 at once, the new one works and bills the same team/project/env', async () => {
    const k = await newKey({ env: 'staging', user: 'carol', cost_center: 'CC-77' });
    expect((await chat(k.secret)).ok).toBe(true);
    const r = await h.admin<{ id: string; key: string }>('POST', `/admin/v1/keys/${k.id}/rotate`);
    expect(r.status).toBe(201);
    secrets.push(r.body.key);
    expect(await chat(k.secret)).toMatchObject({ ok: false, status: 401, code: 'key_revoked' });
    const out = await chat(r.body.key);
    expect(out.ok).toBe(true);
    const row = out.ok ? await rowOf(out.callId) : null;
    expect(row).toMatchObject({
      keyId: r.body.id,
      org: 'acme',
      team: 'search',
      project: 'ranker',
      env: 'staging',
      user: 'carol',
      costCenter: 'CC-77',
      status: 'ok',
    });
  });

  it("rotation keeps the key's own budget in force", async () => {
    const created = await h.admin<{ id: string; key: string; budget: { id: string } | null }>(
      'POST',
      '/admin/v1/keys',
      { team: 'search', project: 'ranker', env: 'dev', budget: { usd: 0.000001, window: '30d' } },
    );
    expect(created.status).toBe(201);
    secrets.push(created.body.key);
    const policy = created.body.budget?.id;
    expect(policy).toBe(`key:${created.body.id}`);
    expect(await chat(created.body.key)).toMatchObject({ ok: false, status: 429, policy });

    const r = await h.admin<{ id: string; key: string }>('POST', `/admin/v1/keys/${created.body.id}/rotate`);
    expect(r.status).toBe(201);
    secrets.push(r.body.key);
    // Rotation replaces the secret, not the spending rules: the new secret is still capped.
    const after = await chat(r.body.key);
    expect(after).toMatchObject({ ok: false, status: 429 });
  });

  it('an expired key (expires_in 1s) gets 401 key_expired', async () => {
    const k = await newKey({ expires_in: '1s' });
    expect((await chat(k.secret)).ok).toBe(true);
    const view = await h.admin<{ expiresAt: string }>('GET', `/admin/v1/keys/${k.id}`);
    expect(Date.parse(view.body.expiresAt)).toBeLessThanOrEqual(Date.now() + 1000);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await chat(k.secret)).toMatchObject({ ok: false, status: 401, code: 'key_expired' });
  });

  it('PATCH expires_at in the past expires the key at once', async () => {
    const k = await newKey();
    expect((await chat(k.secret)).ok).toBe(true);
    const p = await h.admin('PATCH', `/admin/v1/keys/${k.id}`, {
      expires_at: new Date(Date.now() - 60_000).toISOString(),
    });
    expect(p.status).toBe(200);
    expect(await chat(k.secret)).toMatchObject({ ok: false, status: 401, code: 'key_expired' });
    const bad = await h.admin<ErrorBody>('PATCH', `/admin/v1/keys/${k.id}`, { expires_at: 'soon' });
    expect(bad.status).toBe(400);
    const badIn = await h.admin<ErrorBody>('POST', '/admin/v1/keys', {
      team: 'search',
      project: 'ranker',
      env: 'dev',
      expires_in: 'forever',
    });
    expect(badIn.status).toBe(400);
  });

  it('revocations and rotations survive a restart', async () => {
    const revoked = await newKey();
    await h.admin('DELETE', `/admin/v1/keys/${revoked.id}`);
    const old = await newKey();
    const rotated = await h.admin<{ id: string; key: string }>('POST', `/admin/v1/keys/${old.id}/rotate`);
    secrets.push(rotated.body.key);
    await h.restart();
    expect(await chat(revoked.secret)).toMatchObject({ ok: false, status: 401, code: 'key_revoked' });
    expect(await chat(old.secret)).toMatchObject({ ok: false, status: 401, code: 'key_revoked' });
    expect((await chat(rotated.body.key)).ok).toBe(true);
  });

  it('keys are stored hashed: the store has the sha256, never the secret', async () => {
    const k = await newKey({ name: 'hashed' });
    const stored = await h.gateway.services.store.entities.getKey(k.id);
    expect(stored?.hash).toBe(hashSecret(k.secret));
    expect(JSON.stringify(stored)).not.toContain(k.secret.slice(9));
  });

  it('no column of any table in the SQLite file contains a secret', async () => {
    expect(secrets.length).toBeGreaterThan(5);
    await h.gateway.close();
    const db = new Database(h.dbFile, { readonly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{
        name: string;
      }>;
      // Live secrets are in keys; rotated-away ones in retired_secrets (so they are refused as revoked).
      const hashes = (
        db.prepare('SELECT hash FROM keys UNION ALL SELECT hash FROM retired_secrets').all() as Array<{
          hash: string;
        }>
      ).map((r) => r.hash);
      for (const s of secrets) expect(hashes).toContain(hashSecret(s));
      let cells = 0;
      for (const { name } of tables) {
        for (const row of db.prepare(`SELECT * FROM "${name}"`).all() as Array<Record<string, unknown>>) {
          for (const v of Object.values(row)) {
            cells++;
            const text = typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
            for (const s of secrets) expect(text.includes(s.slice(3))).toBe(false);
          }
        }
      }
      expect(cells).toBeGreaterThan(100);
    } finally {
      db.close();
    }
  });
});
