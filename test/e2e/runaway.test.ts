import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunawayEvent } from '../../src/alerts/events.ts';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, verifySignature } from '../../src/alerts/sign.ts';
import type { Suspension } from '../../src/runaway/types.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/**
 * Runaway detection through the real server: a key that loops on one prompt is suspended (429
 * key_suspended with retry-after), reported to a signed webhook, listed by the admin API and
 * lifted by it; in the default alert-only mode nothing is ever refused.
 */

const SECRET = 'whsec_runaway_0123456789abcdef';

interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
}

async function startReceiver(): Promise<{ url: string; got: Received[]; close: () => Promise<void> }> {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    got,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Outcome {
  status: number;
  code: string | null;
  callId: string | null;
  retryAfter: string | null;
  suspendedUntil: string | null;
}

/** One chat call with the official client; the outcome whether it succeeded or was refused. */
async function chat(h: Harness, secret: string, content: string): Promise<Outcome> {
  try {
    const { response } = await h
      .openai(secret, { maxRetries: 0 })
      .chat.completions.create({
        model: 'gpt-4.1-mini',
        messages: [{ role: 'user', content }],
        max_tokens: 20,
      })
      .withResponse();
    return {
      status: response.status,
      code: null,
      callId: response.headers.get('x-tollgate-call-id'),
      retryAfter: null,
      suspendedUntil: null,
    };
  } catch (err) {
    const e = err as { status?: number; code?: string; headers?: Headers };
    return {
      status: e.status ?? 0,
      code: e.code ?? null,
      callId: e.headers?.get('x-tollgate-call-id') ?? null,
      retryAfter: e.headers?.get('retry-after') ?? null,
      suspendedUntil: e.headers?.get('x-tollgate-suspended-until') ?? null,
    };
  }
}

async function waitFor(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (done()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

type RunawayView = {
  suspensions: Array<Suspension & { since: string; until: string }>;
  recent: RunawayEvent[];
  stats: { velocityTrackers: number; promptCounters: number; suspensions: number; repeatsQuiet: number };
};

const LOOP = 'summarise the ticket again';

describe('runaway action suspend: a key looping on one prompt', () => {
  let h: Harness;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let looper: { id: string; secret: string };
  let bystander: { id: string; secret: string };
  const refused: Outcome[] = [];

  beforeAll(async () => {
    receiver = await startReceiver();
    h = await startHarness({
      config: {
        runaway: { action: 'suspend', repeats: { max_identical: 5, window: '5m' }, cooldown: '1m' },
        alerts: {
          webhooks: [{ id: 'ops', url: receiver.url, secret: SECRET }],
          retry: { attempts: 3, initial_backoff_ms: 20, max_backoff_ms: 100 },
        },
      },
    });
    looper = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    bystander = await h.createKey({ team: 'search', project: 'ranker', env: 'dev' });
  });
  afterAll(async () => {
    await h?.close();
    await receiver?.close();
  });

  it('serves five identical prompts, refuses the sixth (the tripping one) and the next with 429 key_suspended', async () => {
    for (let i = 0; i < 5; i++) expect(await chat(h, looper.secret, LOOP)).toMatchObject({ status: 200 });
    const sixth = await chat(h, looper.secret, LOOP);
    expect(sixth).toMatchObject({ status: 429, code: 'key_suspended', retryAfter: '60' });
    const until = Date.parse(String(sixth.suspendedUntil));
    expect(until - Date.now()).toBeGreaterThan(55_000);
    expect(until - Date.now()).toBeLessThanOrEqual(60_000);
    // Any prompt now: the key as a whole is suspended.
    const seventh = await chat(h, looper.secret, 'something else entirely');
    expect(seventh).toMatchObject({
      status: 429,
      code: 'key_suspended',
      suspendedUntil: sixth.suspendedUntil,
    });
    expect(Number(seventh.retryAfter)).toBeGreaterThanOrEqual(58);
    expect(Number(seventh.retryAfter)).toBeLessThanOrEqual(60);
    refused.push(sixth, seventh);
  });

  it('leaves another key with the same prompt alone', async () => {
    expect(await chat(h, bystander.secret, LOOP)).toMatchObject({ status: 200, code: null });
  });

  it('writes a $0 denied ledger row with error_code key_suspended for each refused call', async () => {
    for (const r of refused) {
      const row = await h.finalRow(String(r.callId), looper.id);
      expect(row).toMatchObject({
        status: 'denied',
        httpStatus: 429,
        errorCode: 'key_suspended',
        cost: 0,
        keyId: looper.id,
        team: 'search',
      });
    }
  });

  it('sends one signed runaway.tripped event to the webhook', async () => {
    await waitFor('the runaway webhook', () => receiver.got.length >= 1);
    await h.gateway.services.alerts.flush();
    expect(receiver.got).toHaveLength(1);
    const [got] = receiver.got;
    const nowSec = Math.floor(Date.now() / 1000);
    expect(
      verifySignature(SECRET, String(got?.headers[SIGNATURE_HEADER]), String(got?.raw), 300, nowSec),
    ).toBe(true);
    const event = JSON.parse(String(got?.raw)) as RunawayEvent;
    expect(got?.headers[EVENT_ID_HEADER]).toBe(event.id);
    expect(event).toMatchObject({
      type: 'runaway.tripped',
      kind: 'repeats',
      action: 'suspend',
      keyId: looper.id,
      org: 'acme',
      team: 'search',
      project: 'ranker',
      env: 'prod',
      suspendedUntil: refused[0]?.suspendedUntil,
      detail: { count: 6, maxIdentical: 5, windowMs: 300_000 },
    });
    expect(event.reason).toBe(`key ${looper.id} sent the same prompt 6 times within 5m (limit 5)`);
  });

  it('GET /admin/v1/runaway lists the suspension and the trip', async () => {
    const r = await h.admin<RunawayView>('GET', '/admin/v1/runaway');
    expect(r.status).toBe(200);
    expect(r.body.suspensions).toHaveLength(1);
    expect(r.body.suspensions[0]).toMatchObject({
      keyId: looper.id,
      kind: 'repeats',
      feature: null,
      until: refused[0]?.suspendedUntil,
      reason: `key ${looper.id} sent the same prompt 6 times within 5m (limit 5)`,
    });
    expect(r.body.suspensions[0]?.untilMs).toBe(Date.parse(String(refused[0]?.suspendedUntil)));
    expect(r.body.recent).toHaveLength(1);
    expect(r.body.recent[0]).toEqual(JSON.parse(String(receiver.got[0]?.raw)));
    expect(r.body.stats.suspensions).toBe(1);
  });

  it('POST /admin/v1/keys/:id/resume lifts the suspension and the key works again', async () => {
    const resumed = await h.admin('POST', `/admin/v1/keys/${looper.id}/resume`);
    expect(resumed).toEqual({ status: 200, body: { id: looper.id, resumed: true } });
    expect(await chat(h, looper.secret, LOOP)).toMatchObject({ status: 200 });
    expect(await chat(h, looper.secret, 'a fresh question')).toMatchObject({ status: 200 });

    const again = await h.admin('POST', `/admin/v1/keys/${looper.id}/resume`);
    expect(again).toEqual({ status: 200, body: { id: looper.id, resumed: false } });
    const view = await h.admin<RunawayView>('GET', '/admin/v1/runaway');
    expect(view.body.suspensions).toEqual([]);
    expect(view.body.stats.suspensions).toBe(0);
    expect(view.body.recent).toHaveLength(1);

    const unknown = await h.admin<{ error: { code: string } }>('POST', '/admin/v1/keys/key_nope/resume');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
  });

  it('POST /admin/v1/keys/:id/rebaseline resets the key’s spend tracker', async () => {
    const r = await h.admin('POST', `/admin/v1/keys/${looper.id}/rebaseline`);
    expect(r).toEqual({ status: 200, body: { id: looper.id, rebaselined: 1 } });
    const unknown = await h.admin<{ error: { code: string } }>('POST', '/admin/v1/keys/key_nope/rebaseline');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    const unauthorized = await fetch(`${h.gateway.url}/admin/v1/keys/${looper.id}/resume`, {
      method: 'POST',
    });
    expect(unauthorized.status).toBe(401);
  });
});

describe('runaway action alert (the default): reports, never refuses', () => {
  let h: Harness;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
    h = await startHarness({
      config: {
        runaway: { repeats: { max_identical: 5, window: '5m' } },
        alerts: { webhooks: [{ id: 'ops', url: receiver.url, secret: SECRET }] },
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await receiver?.close();
  });

  it('serves every identical prompt and sends one alert-only runaway event', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    for (let i = 0; i < 12; i++) expect(await chat(h, key.secret, LOOP)).toMatchObject({ status: 200 });

    await waitFor('the runaway webhook', () => receiver.got.length >= 1);
    await h.gateway.services.alerts.flush();
    expect(receiver.got).toHaveLength(1);
    const raw = String(receiver.got[0]?.raw);
    const nowSec = Math.floor(Date.now() / 1000);
    expect(
      verifySignature(SECRET, String(receiver.got[0]?.headers[SIGNATURE_HEADER]), raw, 300, nowSec),
    ).toBe(true);
    expect(JSON.parse(raw)).toMatchObject({
      type: 'runaway.tripped',
      kind: 'repeats',
      action: 'alert',
      keyId: key.id,
      team: 'support',
      suspendedUntil: null,
    });

    const view = await h.admin<RunawayView>('GET', '/admin/v1/runaway');
    expect(view.body.suspensions).toEqual([]);
    expect(view.body.recent.map((e) => [e.keyId, e.action])).toEqual([[key.id, 'alert']]);
    const resumed = await h.admin('POST', `/admin/v1/keys/${key.id}/resume`);
    expect(resumed).toEqual({ status: 200, body: { id: key.id, resumed: false } });
  });
});
