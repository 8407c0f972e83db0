import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../src/alerts/events.ts';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, verifySignature } from '../../src/alerts/sign.ts';
import type { DeliveryAttempt } from '../../src/alerts/store.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/**
 * Budget alerts through the real server: a hard cap hit by 1,000 concurrent calls fires each
 * threshold exactly once, to a signed webhook, a Slack-compatible target and a target that fails
 * twice before accepting; a soft budget alerts as well and never denies.
 */

const HOOK_SECRET = 'whsec_hook_0123456789abcdef';
const FLAKY_SECRET = 'whsec_flaky_0123456789abcdef';
const HARD_CAP_USD = '0.2';
const HARD_CAP_NANOS = 200_000_000;

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  status: number;
}

/** A webhook receiver on port 0 that keeps every request's raw body. `/flaky` answers 500 to the first two tries of each event. */
async function startReceiver(): Promise<{ url: string; got: Received[]; close: () => Promise<void> }> {
  const got: Received[] = [];
  const triesByEvent = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      const eventId = String(req.headers[EVENT_ID_HEADER] ?? '');
      let status = 200;
      if (path === '/flaky') {
        const tries = (triesByEvent.get(eventId) ?? 0) + 1;
        triesByEvent.set(eventId, tries);
        if (tries <= 2) status = 500;
      }
      got.push({ path, headers: req.headers, raw: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'ok' : 'receiver down');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    got,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function waitFor(what: string, done: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The policy a received body is about: the event's policyId, or the Slack text's "Budget <id> reached". */
function policyOf(r: Received): string | null {
  const body = JSON.parse(r.raw) as { policyId?: string; text?: string };
  if (body.policyId !== undefined) return body.policyId;
  return /^Budget (\S+) reached/.exec(body.text ?? '')?.[1] ?? null;
}

let h: Harness;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startHarness({
    mock: { outputTokens: 1000 },
    config: {
      budgets: [
        {
          id: 'search-hard',
          match: { team: 'search' },
          limit: { usd: HARD_CAP_USD },
          mode: 'hard',
          alerts: [0.5, 0.8, 1],
        },
        {
          id: 'support-soft',
          match: { team: 'support' },
          limit: { usd: '0.02' },
          mode: 'soft',
          alerts: [0.5, 0.8, 1],
        },
      ],
      alerts: {
        webhooks: [
          { id: 'ops-hook', url: `${receiver.url}/hook`, secret: HOOK_SECRET },
          { id: 'ops-slack', url: `${receiver.url}/slack`, kind: 'slack' },
          { id: 'flaky-hook', url: `${receiver.url}/flaky`, secret: FLAKY_SECRET },
        ],
        retry: { attempts: 5, initial_backoff_ms: 20, max_backoff_ms: 100 },
        timeout_ms: 2000,
      },
    },
  });
});
afterAll(async () => {
  await h?.close();
  await receiver?.close();
});

async function chat(secret: string, i: number) {
  return h
    .openai(secret, { maxRetries: 0, timeout: 60_000 })
    .chat.completions.create({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: `alert burst call ${i}` }],
      max_tokens: 1000,
    })
    .then(
      () => ({ ok: true as const }),
      (err: { status?: number; code?: string; headers?: Headers }) => ({
        ok: false as const,
        status: err.status,
        code: err.code,
        policy: err.headers?.get('x-budget-exceeded') ?? null,
      }),
    );
}

async function eventsOf(policy: string): Promise<AlertEvent[]> {
  const r = await h.admin<{ data: AlertEvent[] }>('GET', `/admin/v1/alerts?policy=${policy}`);
  expect(r.status).toBe(200);
  return r.body.data;
}

describe('a hard budget hit by 1,000 concurrent calls', () => {
  let events: AlertEvent[];

  it('denies past the cap and fires 50%, 80% and 100% exactly once each', async () => {
    const key = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => chat(key.secret, i)));
    const ok = results.filter((r) => r.ok).length;
    const denied = results.filter((r) => !r.ok);
    expect(ok).toBeGreaterThan(10);
    expect(denied.length).toBeGreaterThan(500);
    for (const d of denied)
      expect(d).toMatchObject({ status: 429, code: 'budget_exceeded', policy: 'search-hard' });

    // The cap is spent down to less than one more call, so the next one is refused as exhausted.
    const after = await chat(key.secret, 1000);
    expect(after).toMatchObject({ ok: false, status: 429, code: 'budget_exceeded' });

    await waitFor('three search-hard events', async () => (await eventsOf('search-hard')).length >= 3);
    await h.gateway.services.alerts.flush();
    events = await eventsOf('search-hard');
    // Newest first.
    expect(events.map((e) => e.threshold)).toEqual([1, 0.8, 0.5]);
    expect(new Set(events.map((e) => e.id)).size).toBe(3);
    for (const e of events) {
      expect(e).toMatchObject({
        type: 'budget.threshold',
        policyId: 'search-hard',
        mode: 'hard',
        limitUsd: '0.2',
        windowLabel: expect.stringMatching(/^\d{4}-\d\d \(UTC\)$/),
      });
    }
    // A threshold fires on settled spend, or on a denial once the cap is exhausted: settlements and
    // denials landing in one event-loop turn may leave several to the denial.
    for (const e of events) expect(['spend', 'denied']).toContain(e.reason);

    const status = await h.admin<{ spent: { nanos: number }; reserved: { nanos: number } }>(
      'GET',
      '/admin/v1/budgets/search-hard',
    );
    expect(status.body.spent.nanos).toBeLessThanOrEqual(HARD_CAP_NANOS);
    expect(status.body.spent.nanos).toBeGreaterThan(HARD_CAP_NANOS * 0.8);
    expect(status.body.reserved.nanos).toBe(0);
  });

  it('the signed webhook got each event once, with a valid signature over the raw body', async () => {
    const hook = receiver.got.filter((r) => r.path === '/hook' && policyOf(r) === 'search-hard');
    expect(hook).toHaveLength(3);
    const bodies = hook.map((r) => JSON.parse(r.raw) as AlertEvent);
    expect(new Set(bodies.map((b) => b.id))).toEqual(new Set(events.map((e) => e.id)));
    for (const r of hook) {
      const nowSec = Math.floor(Date.now() / 1000);
      expect(verifySignature(HOOK_SECRET, String(r.headers[SIGNATURE_HEADER]), r.raw, 300, nowSec)).toBe(
        true,
      );
      // Not signed with another target's secret, and not valid for a different body.
      expect(verifySignature(FLAKY_SECRET, String(r.headers[SIGNATURE_HEADER]), r.raw, 300, nowSec)).toBe(
        false,
      );
      expect(
        verifySignature(HOOK_SECRET, String(r.headers[SIGNATURE_HEADER]), `${r.raw} `, 300, nowSec),
      ).toBe(false);
      const body = JSON.parse(r.raw) as AlertEvent;
      expect(r.headers[EVENT_ID_HEADER]).toBe(body.id);
      expect(body).toEqual(events.find((e) => e.id === body.id));
    }
  });

  it('the Slack target got {text} payloads, unsigned, one per threshold', async () => {
    const slack = receiver.got.filter((r) => r.path === '/slack' && policyOf(r) === 'search-hard');
    expect(slack).toHaveLength(3);
    expect(new Set(slack.map((r) => r.headers[EVENT_ID_HEADER]))).toEqual(new Set(events.map((e) => e.id)));
    const texts = slack.map((r) => (JSON.parse(r.raw) as { text: string; blocks: unknown[] }).text).sort();
    expect(texts).toHaveLength(3);
    expect(texts[0]).toMatch(
      /^Budget search-hard reached 100% \(USD 0\.\d\d of 0\.20\) — window \d{4}-\d\d \(UTC\)/,
    );
    expect(texts[1]).toMatch(/^Budget search-hard reached 50% \(USD 0\.\d\d of 0\.20\)/);
    expect(texts[2]).toMatch(/^Budget search-hard reached 80% \(USD 0\.\d\d of 0\.20\)/);
    for (const r of slack) {
      expect(r.headers[SIGNATURE_HEADER]).toBeUndefined();
      expect(Array.isArray((JSON.parse(r.raw) as { blocks: unknown[] }).blocks)).toBe(true);
    }
  });

  it('the failing target got each event on the third try, and the delivery log shows all three', async () => {
    const flaky = receiver.got.filter((r) => r.path === '/flaky' && policyOf(r) === 'search-hard');
    expect(flaky).toHaveLength(9);
    for (const e of events) {
      const tries = flaky.filter((r) => r.headers[EVENT_ID_HEADER] === e.id);
      expect(tries.map((r) => r.status)).toEqual([500, 500, 200]);
      const nowSec = Math.floor(Date.now() / 1000);
      for (const r of tries) {
        expect(verifySignature(FLAKY_SECRET, String(r.headers[SIGNATURE_HEADER]), r.raw, 300, nowSec)).toBe(
          true,
        );
        expect(r.raw).toBe(tries[0]?.raw);
      }

      const log = await h.admin<{ data: DeliveryAttempt[] }>(
        'GET',
        `/admin/v1/alerts/deliveries?event=${e.id}`,
      );
      expect(log.status).toBe(200);
      const byTarget = (id: string) =>
        log.body.data
          .filter((d) => d.targetId === id)
          .sort((a, b) => a.attempt - b.attempt)
          .map((d) => ({ attempt: d.attempt, ok: d.ok, httpStatus: d.httpStatus, error: d.error }));
      expect(byTarget('flaky-hook')).toEqual([
        { attempt: 1, ok: false, httpStatus: 500, error: 'HTTP 500: receiver down' },
        { attempt: 2, ok: false, httpStatus: 500, error: 'HTTP 500: receiver down' },
        { attempt: 3, ok: true, httpStatus: 200, error: null },
      ]);
      expect(byTarget('ops-hook')).toEqual([{ attempt: 1, ok: true, httpStatus: 200, error: null }]);
      expect(byTarget('ops-slack')).toEqual([{ attempt: 1, ok: true, httpStatus: 200, error: null }]);
      expect(log.body.data.every((d) => d.eventId === e.id)).toBe(true);
    }
  });

  it('more denied calls do not fire again', async () => {
    const key = await h.createKey({ team: 'search', project: 'ranker', env: 'dev' });
    const again = await Promise.all(Array.from({ length: 20 }, (_, i) => chat(key.secret, 2000 + i)));
    expect(again.every((r) => !r.ok && r.status === 429)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    await h.gateway.services.alerts.flush();
    expect((await eventsOf('search-hard')).map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(receiver.got.filter((r) => r.path === '/hook' && policyOf(r) === 'search-hard')).toHaveLength(3);
  });
});

describe('a soft budget', () => {
  it('alerts at 50%, 80% and 100% and never denies', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    // Each call costs up to $0.008 (1,000 output tokens of gpt-4.1) against a $0.02 soft limit.
    for (let i = 0; i < 6; i++) expect(await chat(key.secret, 3000 + i)).toEqual({ ok: true });

    await waitFor('three support-soft events', async () => (await eventsOf('support-soft')).length >= 3);
    await h.gateway.services.alerts.flush();
    const events = await eventsOf('support-soft');
    expect(events.map((e) => [e.threshold, e.mode, e.reason])).toEqual([
      [1, 'soft', 'spend'],
      [0.8, 'soft', 'spend'],
      [0.5, 'soft', 'spend'],
    ]);
    const status = await h.admin<{ spent: { nanos: number } }>('GET', '/admin/v1/budgets/support-soft');
    expect(status.body.spent.nanos).toBeGreaterThan(20_000_000);

    await waitFor(
      'soft deliveries',
      () => receiver.got.filter((r) => r.path === '/flaky' && policyOf(r) === 'support-soft').length >= 9,
    );
    for (const path of ['/hook', '/slack']) {
      const got = receiver.got.filter((r) => r.path === path && policyOf(r) === 'support-soft');
      expect(new Set(got.map((r) => r.headers[EVENT_ID_HEADER]))).toEqual(new Set(events.map((e) => e.id)));
      expect(got).toHaveLength(3);
    }

    const all = await h.admin<{ data: AlertEvent[] }>('GET', '/admin/v1/alerts?limit=2');
    expect(all.body.data).toHaveLength(2);
    expect(all.body.data.map((e) => e.policyId)).toEqual(['support-soft', 'support-soft']);
  });
});

describe('admin API guards', () => {
  it('needs the master key and validates limit', async () => {
    const res = await fetch(`${h.gateway.url}/admin/v1/alerts`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('admin_unauthorized');
    const bad = await h.admin<{ error: { code: string; param: string } }>('GET', '/admin/v1/alerts?limit=0');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_request', param: 'limit' });
    const none = await h.admin<{ data: unknown[] }>('GET', '/admin/v1/alerts/deliveries?event=evt_nope');
    expect(none).toEqual({ status: 200, body: { data: [] } });
  });
});
