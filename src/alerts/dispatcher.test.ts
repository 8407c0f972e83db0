import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { policy } from '../budget/testPolicies.ts';
import type { Amount, BudgetPolicy } from '../budget/types.ts';
import { currentWindow } from '../budget/windows.ts';
import type { RepeatsTrip, VelocityTrip } from '../runaway/types.ts';
import { MemoryBudgetCounters } from '../store/memory/budgetCounters.ts';
import { migrate } from '../store/sqlite/schema.ts';
import { type AlertsConfig, alertsConfigSchema } from './config.ts';
import { AlertDispatcher, type AlertLogger } from './dispatcher.ts';
import type { AlertEvent } from './events.ts';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, verifySignature } from './sign.ts';
import type { SlackPayload } from './slack.ts';
import { type AlertStore, sqliteAlertStore } from './store.ts';
import { isExhausted } from './thresholds.ts';

const SECRET = 'whsec_0123456789abcdef';
const NOW = Date.UTC(2026, 10, 15, 12);
const clock = () => NOW;

interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
}

/** A real HTTP receiver on port 0 that answers each request with the next planned status (200 when the plan runs out; 0 = never answer). */
class Receiver {
  readonly received: Received[] = [];
  private readonly server: Server;

  constructor(private readonly plan: number[] = []) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ headers: req.headers, raw: Buffer.concat(chunks) });
        const status = this.plan.shift() ?? 200;
        if (status === 0) return;
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(status === 200 ? 'ok' : `planned ${status}`);
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function config(webhooks: unknown[], retry: object = {}, timeoutMs = 2000): AlertsConfig {
  return alertsConfigSchema.parse({
    webhooks,
    retry: { attempts: 5, initial_backoff_ms: 10, max_backoff_ms: 40, ...retry },
    timeout_ms: timeoutMs,
  });
}

function memoryLog() {
  const lines: { level: 'warn' | 'info'; message: string; details: object }[] = [];
  const log: AlertLogger = {
    warn: (details, message) => lines.push({ level: 'warn', message, details }),
    info: (details, message) => lines.push({ level: 'info', message, details }),
  };
  return { log, lines };
}

const requests = (n: number): Amount => ({ nanos: 0, tokens: 0, requests: n });
const capped: BudgetPolicy = policy('team-a-monthly', { team: 'a' }, { requests: 1000 });

let dir: string;
let db: Database.Database;
let store: AlertStore;
let receiver: Receiver | null;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-alerts-'));
  db = new Database(join(dir, 'tollgate.db'));
  migrate(db);
  store = sqliteAlertStore(db);
  receiver = null;
});

afterEach(async () => {
  await receiver?.stop();
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

async function startReceiver(plan: number[] = []): Promise<string> {
  receiver = new Receiver(plan);
  return receiver.start();
}

describe('AlertDispatcher delivery', () => {
  it('retries a failing webhook, logs every attempt and signs what it sends', async () => {
    const url = await startReceiver([500, 500]);
    const { log } = memoryLog();
    const alerts = await AlertDispatcher.open(
      config([{ id: 'ops', url, secret: SECRET }]),
      store,
      clock,
      log,
    );
    const window = currentWindow(capped.window, NOW);

    const created = alerts.observe(capped, requests(500), window, 'spend');
    expect(created.map((e) => e.threshold)).toEqual([0.5]);
    expect(alerts.observe(capped, requests(501), window, 'spend')).toEqual([]);
    await alerts.flush();

    const event = created[0] as AlertEvent;
    expect(await store.listEvents({ limit: 10 })).toEqual([event]);
    const rows = (await store.listDeliveries({ eventId: event.id, limit: 10 })).reverse();
    expect(rows.map((r) => [r.targetId, r.attempt, r.ok, r.httpStatus, r.error, r.ts])).toEqual([
      ['ops', 1, false, 500, 'HTTP 500: planned 500', NOW],
      ['ops', 2, false, 500, 'HTTP 500: planned 500', NOW],
      ['ops', 3, true, 200, null, NOW],
    ]);

    const got = receiver?.received ?? [];
    expect(got).toHaveLength(3);
    for (const r of got) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers[EVENT_ID_HEADER]).toBe(event.id);
      const signature = String(r.headers[SIGNATURE_HEADER]);
      expect(verifySignature(SECRET, signature, r.raw, 300, Math.floor(NOW / 1000))).toBe(true);
      expect(verifySignature('not-the-secret-000', signature, r.raw, 300, Math.floor(NOW / 1000))).toBe(
        false,
      );
      expect(JSON.parse(r.raw.toString('utf8'))).toEqual(event);
    }
    expect(alerts.snapshot()).toEqual({
      firedKeys: 1,
      events: 1,
      deliveriesInFlight: 0,
      attempts: 3,
      delivered: 1,
      failed: 0,
      closed: false,
    });
    await alerts.close();
  });

  it('gives up after the configured attempts and logs each one', async () => {
    const url = await startReceiver([503, 503, 503, 503, 503, 503]);
    const { log, lines } = memoryLog();
    const alerts = await AlertDispatcher.open(
      config([{ id: 'ops', url, secret: SECRET }], { attempts: 3 }),
      store,
      clock,
      log,
    );
    const [event] = alerts.observe(capped, requests(800), currentWindow(capped.window, NOW), 'spend');
    await alerts.flush();
    expect(receiver?.received).toHaveLength(6);
    const rows = await store.listDeliveries({ limit: 100 });
    expect(rows).toHaveLength(6);
    expect(rows.every((r) => !r.ok && r.httpStatus === 503)).toBe(true);
    expect((await store.listDeliveries({ eventId: event?.id, limit: 100 })).map((r) => r.attempt)).toEqual([
      3, 2, 1,
    ]);
    expect(alerts.snapshot().failed).toBe(2);
    expect(lines.filter((l) => l.message === 'alert delivery gave up')).toHaveLength(2);
  });

  it('does not retry an answer that retrying cannot fix', async () => {
    const url = await startReceiver([404]);
    const alerts = await AlertDispatcher.open(
      config([{ id: 'ops', url, secret: SECRET }]),
      store,
      clock,
      memoryLog().log,
    );
    alerts.observe(capped, requests(500), currentWindow(capped.window, NOW), 'spend');
    await alerts.flush();
    expect((await store.listDeliveries({ limit: 10 })).map((r) => [r.attempt, r.httpStatus])).toEqual([
      [1, 404],
    ]);
  });

  it('times out a receiver that never answers', async () => {
    const url = await startReceiver([0, 0]);
    const alerts = await AlertDispatcher.open(
      config([{ id: 'ops', url, secret: SECRET }], { attempts: 3 }, 100),
      store,
      clock,
      memoryLog().log,
    );
    alerts.observe(capped, requests(500), currentWindow(capped.window, NOW), 'spend');
    await alerts.flush();
    expect(
      (await store.listDeliveries({ limit: 10 }))
        .reverse()
        .map((r) => [r.attempt, r.ok, r.httpStatus, r.error]),
    ).toEqual([
      [1, false, null, 'timeout after 100ms'],
      [2, false, null, 'timeout after 100ms'],
      [3, true, 200, null],
    ]);
  });

  it('closes promptly: aborts requests in progress and cancels retries waiting', async () => {
    const url = await startReceiver([0, 500]);
    const hangs = `${url}/hangs`;
    const retries = `${url.replace('/hook', '')}/retries`;
    const alerts = await AlertDispatcher.open(
      config(
        [
          { id: 'hangs', url: hangs, secret: SECRET, budgets: ['team-a-monthly'] },
          { id: 'retries', url: retries, secret: SECRET, budgets: ['other'] },
        ],
        { initial_backoff_ms: 60_000, max_backoff_ms: 60_000 },
        60_000,
      ),
      store,
      clock,
      memoryLog().log,
    );
    const other = policy('other', {}, { requests: 10 }, { alerts: [0.5] });
    alerts.observe(capped, requests(500), currentWindow(capped.window, NOW), 'spend');
    await waitFor(() => (receiver?.received.length ?? 0) === 1);
    alerts.observe(other, requests(5), currentWindow(other.window, NOW), 'spend');
    await waitFor(async () => (await store.listDeliveries({ limit: 10 })).length === 1);

    const started = Date.now();
    await alerts.close();
    expect(Date.now() - started).toBeLessThan(2000);
    const rows = (await store.listDeliveries({ limit: 10 })).reverse();
    expect(rows.map((r) => [r.targetId, r.attempt, r.ok, r.error])).toEqual([
      ['retries', 1, false, 'HTTP 500: planned 500'],
      ['hangs', 1, false, 'aborted: alert dispatcher closing'],
    ]);
    expect(alerts.snapshot()).toMatchObject({ deliveriesInFlight: 0, failed: 2, closed: true });
    expect(alerts.observe(capped, requests(1000), currentWindow(capped.window, NOW), 'spend')).toEqual([]);
  });

  it('posts a Slack payload (unsigned) only for the budgets a target asks for', async () => {
    const url = await startReceiver();
    const alerts = await AlertDispatcher.open(
      config([{ id: 'chat', url, kind: 'slack', budgets: ['team-a-monthly'] }]),
      store,
      clock,
      memoryLog().log,
    );
    const other = policy('other', {}, { requests: 10 });
    alerts.observe(other, requests(10), currentWindow(other.window, NOW), 'spend');
    alerts.observe(capped, requests(800), currentWindow(capped.window, NOW), 'spend');
    await alerts.flush();
    const got = receiver?.received ?? [];
    expect(got).toHaveLength(2);
    expect(got[0]?.headers[SIGNATURE_HEADER]).toBeUndefined();
    const texts = got.map((r) => (JSON.parse(r.raw.toString('utf8')) as SlackPayload).text);
    expect(texts).toEqual([
      'Budget team-a-monthly reached 50% (800 of 1,000 requests) — window 2026-11 (UTC)',
      'Budget team-a-monthly reached 80% (800 of 1,000 requests) — window 2026-11 (UTC)',
    ]);
    const payload = JSON.parse(got[0]?.raw.toString('utf8') ?? '{}') as SlackPayload;
    expect(payload.blocks?.map((b) => b.type)).toEqual(['section', 'context']);
    // The other policy's alerts are still recorded, just not sent here.
    expect((await store.listEvents({ policyId: 'other', limit: 10 })).map((e) => e.threshold)).toEqual([
      1, 0.8, 0.5,
    ]);
  });
});

describe('AlertDispatcher firing', () => {
  it('1,000 synchronous observations crossing 50/80/100% make exactly 3 events', async () => {
    const url = await startReceiver();
    const alerts = await AlertDispatcher.open(
      config([{ id: 'ops', url, secret: SECRET }]),
      store,
      clock,
      memoryLog().log,
    );
    const window = currentWindow(capped.window, NOW);
    const created: AlertEvent[] = [];
    for (let i = 1; i <= 1000; i++) created.push(...alerts.observe(capped, requests(i), window, 'spend'));
    expect(created.map((e) => [e.threshold, e.spentRequests])).toEqual([
      [0.5, 500],
      [0.8, 800],
      [1, 1000],
    ]);
    await alerts.flush();
    expect(await store.listEvents({ limit: 100 })).toHaveLength(3);
    expect(receiver?.received).toHaveLength(3);
  });

  it('1,000 concurrent calls through real counters fire each threshold once', async () => {
    const alerts = await AlertDispatcher.open(config([]), store, clock, memoryLog().log);
    const counters = new MemoryBudgetCounters();
    const tight = policy('tight', {}, { tokens: 100_000 }, { alerts: [0.5, 0.8, 1] });
    const call: Amount = { nanos: 0, tokens: 150, requests: 1 };
    const created: AlertEvent[] = [];
    let denials = 0;
    let exhaustedDenials = 0;
    // Reserve → (await upstream) → settle → observe; a denial is observed as such only when exhausted.
    const burst = (wave: string) =>
      Promise.all(
        Array.from({ length: 1000 }, async (_, i) => {
          const id = `${wave}-${i}`;
          const outcome = counters.reserve(id, [{ policy: tight, amount: call }], NOW);
          if (!outcome.ok) {
            denials++;
            const state = counters.state(tight, NOW);
            const exhausted = isExhausted(tight, state.spent, call);
            if (exhausted) exhaustedDenials++;
            created.push(...alerts.observe(tight, state.spent, state.window, exhausted ? 'denied' : 'spend'));
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, (i * 7) % 13));
          counters.settle(id, call);
          const state = counters.state(tight, NOW);
          created.push(...alerts.observe(tight, state.spent, state.window, 'spend'));
        }),
      );

    // 666 calls fit and settle at 99,900 tokens (99.9%): 50% and 80% fire, 100% cannot by spend.
    await burst('first');
    expect(denials).toBe(334);
    expect(exhaustedDenials).toBe(0);
    expect(created.map((e) => [e.threshold, e.reason])).toEqual([
      [0.5, 'spend'],
      [0.8, 'spend'],
    ]);
    // Every call of the next burst is denied by an exhausted budget: 100% fires once.
    await burst('second');
    await alerts.flush();
    expect(exhaustedDenials).toBe(1000);
    expect(created.map((e) => [e.threshold, e.reason, e.spentTokens])).toEqual([
      [0.5, 'spend', 50_100],
      [0.8, 'spend', 80_100],
      [1, 'denied', 99_900],
    ]);
    expect(await store.listEvents({ policyId: 'tight', limit: 100 })).toHaveLength(3);
    await alerts.close();
  });

  it('treats a denial of an exhausted hard budget as reaching 100%', async () => {
    const alerts = await AlertDispatcher.open(config([]), store, clock, memoryLog().log);
    const window = currentWindow(capped.window, NOW);
    expect(
      alerts.observe(capped, requests(999), window, 'denied').map((e) => [e.threshold, e.reason]),
    ).toEqual([
      [0.5, 'spend'],
      [0.8, 'spend'],
      [1, 'denied'],
    ]);
    expect(alerts.observe(capped, requests(1000), window, 'spend')).toEqual([]);
  });

  it('alerts soft budgets like hard ones, but a denial does not concern them', async () => {
    const alerts = await AlertDispatcher.open(config([]), store, clock, memoryLog().log);
    const soft = policy('soft', {}, { requests: 10 }, { mode: 'soft', alerts: [1, 2] });
    const window = currentWindow(soft.window, NOW);
    expect(alerts.observe(soft, requests(9), window, 'denied')).toEqual([]);
    expect(alerts.observe(soft, requests(25), window, 'spend').map((e) => [e.threshold, e.mode])).toEqual([
      [1, 'soft'],
      [2, 'soft'],
    ]);
  });

  it('does not refire after a restart on the same database file', async () => {
    const window = currentWindow(capped.window, NOW);
    const first = await AlertDispatcher.open(config([]), store, clock, memoryLog().log);
    expect(first.observe(capped, requests(850), window, 'spend').map((e) => e.threshold)).toEqual([0.5, 0.8]);
    await first.close();
    db.close();

    db = new Database(join(dir, 'tollgate.db'));
    migrate(db);
    store = sqliteAlertStore(db);
    const second = await AlertDispatcher.open(config([]), store, clock, memoryLog().log);
    expect(second.snapshot().firedKeys).toBe(2);
    expect(second.observe(capped, requests(900), window, 'spend')).toEqual([]);
    expect(second.observe(capped, requests(1000), window, 'spend').map((e) => e.threshold)).toEqual([1]);
    const nextMonth = currentWindow(capped.window, Date.UTC(2026, 11, 2));
    expect(second.observe(capped, requests(600), nextMonth, 'spend').map((e) => e.threshold)).toEqual([0.5]);
    await second.flush();
    expect((await store.listEvents({ policyId: capped.id, limit: 10 })).map((e) => e.threshold)).toEqual([
      0.5, 1, 0.8, 0.5,
    ]);
    await second.close();
  });

  it('a replica that loses the store race neither delivers nor logs, but remembers the threshold fired', async () => {
    const url = await startReceiver();
    const otherDb = new Database(join(dir, 'tollgate.db'));
    try {
      const a = memoryLog();
      const b = memoryLog();
      const targets = config([{ id: 'ops', url, secret: SECRET }]);
      const replicaA = await AlertDispatcher.open(targets, store, clock, a.log);
      const replicaB = await AlertDispatcher.open(targets, sqliteAlertStore(otherDb), clock, b.log);
      const window = currentWindow(capped.window, NOW);

      const [fromA] = replicaA.observe(capped, requests(500), window, 'spend');
      replicaB.observe(capped, requests(500), window, 'spend');
      await Promise.all([replicaA.flush(), replicaB.flush()]);

      expect(receiver?.received.map((r) => r.headers[EVENT_ID_HEADER])).toEqual([fromA?.id]);
      expect((await store.listEvents({ limit: 10 })).map((e) => e.id)).toEqual([fromA?.id]);
      expect((await store.listDeliveries({ limit: 10 })).map((r) => [r.eventId, r.ok])).toEqual([
        [fromA?.id, true],
      ]);
      expect(a.lines.map((l) => l.message)).toEqual(['budget alert']);
      expect(b.lines).toEqual([]);
      expect(replicaB.snapshot()).toMatchObject({
        firedKeys: 1,
        events: 0,
        attempts: 0,
        delivered: 0,
        failed: 0,
      });
      expect(replicaB.observe(capped, requests(600), window, 'spend')).toEqual([]);
      await Promise.all([replicaA.close(), replicaB.close()]);
    } finally {
      otherDb.close();
    }
  });

  it('still alerts when the store fails, and says so', async () => {
    const url = await startReceiver();
    const broken: AlertStore = {
      ...store,
      insertEvent: async () => {
        throw new Error('disk full');
      },
    };
    const { log, lines } = memoryLog();
    const alerts = await AlertDispatcher.open(
      config([{ id: 'ops', url, secret: SECRET }]),
      broken,
      clock,
      log,
    );
    expect(alerts.observe(capped, requests(500), currentWindow(capped.window, NOW), 'spend')).toHaveLength(1);
    await alerts.flush();
    expect(receiver?.received).toHaveLength(1);
    expect(lines.map((l) => l.message)).toContain('alert event not stored');
  });

  it('accepts a pino logger', async () => {
    const log: AlertLogger = pino({ enabled: false });
    expect((await AlertDispatcher.open(config([]), store, clock, log)).snapshot().events).toBe(0);
  });
});

const TRIP: VelocityTrip = {
  kind: 'velocity',
  keyId: 'key_abc',
  feature: null,
  action: 'suspend',
  untilMs: NOW + 3_600_000,
  reason: 'key key_abc spent $10.50/min over the last 1m, above 10× its baseline $1.00/min',
  at: NOW,
  detail: {
    scope: 'key',
    currentNanosPerMin: 10_500_000_000,
    baselineNanosPerMin: 1_000_000_000,
    thresholdNanosPerMin: 10_000_000_000,
    factor: 10,
    calls: 42,
    warmingUp: false,
    windowMs: 60_000,
  },
};
const REPEATS: RepeatsTrip = {
  kind: 'repeats',
  keyId: 'key_xyz',
  feature: 'summarize',
  action: 'alert',
  untilMs: null,
  reason: 'key key_xyz sent the same prompt 21 times within 5m (limit 20)',
  at: NOW + 1000,
  detail: { promptHash: 'ph_1f2e', count: 21, maxIdentical: 20, windowMs: 300_000 },
};
const WHO = { org: 'acme', team: 'search', project: 'web', env: 'prod' };

describe('AlertDispatcher runaway trips', () => {
  it('signs and sends the event to unfiltered targets only, and stores it', async () => {
    const url = await startReceiver();
    const base = url.replace('/hook', '');
    const { log, lines } = memoryLog();
    const alerts = await AlertDispatcher.open(
      config([
        { id: 'ops', url: `${base}/ops`, secret: SECRET },
        { id: 'team-a', url: `${base}/team-a`, secret: SECRET, budgets: ['team-a-monthly'] },
      ]),
      store,
      clock,
      log,
    );
    const event = alerts.notifyRunaway(TRIP, WHO);
    expect(event.id).toMatch(/^evt_[0-9a-f-]{36}$/);
    expect(event).toEqual({
      id: event.id,
      type: 'runaway.tripped',
      at: '2026-11-15T12:00:00.000Z',
      kind: 'velocity',
      action: 'suspend',
      keyId: 'key_abc',
      feature: null,
      org: 'acme',
      team: 'search',
      project: 'web',
      env: 'prod',
      suspendedUntil: '2026-11-15T13:00:00.000Z',
      reason: 'key key_abc spent $10.50/min over the last 1m, above 10× its baseline $1.00/min',
      detail: {
        scope: 'key',
        currentUsdPerMin: '10.5',
        baselineUsdPerMin: '1',
        thresholdUsdPerMin: '10',
        factor: 10,
        calls: 42,
        warmingUp: false,
        windowMs: 60_000,
      },
    });
    await alerts.flush();

    const got = receiver?.received ?? [];
    expect(got).toHaveLength(1);
    const only = got[0] as Received;
    expect(only.headers[EVENT_ID_HEADER]).toBe(event.id);
    const signature = String(only.headers[SIGNATURE_HEADER]);
    expect(verifySignature(SECRET, signature, only.raw, 300, Math.floor(NOW / 1000))).toBe(true);
    expect(verifySignature('not-the-secret-000', signature, only.raw, 300, Math.floor(NOW / 1000))).toBe(
      false,
    );
    expect(JSON.parse(only.raw.toString('utf8'))).toEqual(event);

    expect(await alerts.recentRunaway(10)).toEqual([event]);
    expect(await store.listEvents({ limit: 10 })).toEqual([]);
    expect(
      (await store.listDeliveries({ limit: 10 })).map((r) => [r.eventId, r.targetId, r.attempt, r.ok]),
    ).toEqual([[event.id, 'ops', 1, true]]);
    expect(lines.map((l) => l.message)).toEqual(['runaway alert']);
    expect(alerts.snapshot()).toMatchObject({
      firedKeys: 0,
      events: 1,
      attempts: 1,
      delivered: 1,
      failed: 0,
    });
    await alerts.close();
  });

  it('posts the Slack text for a trip', async () => {
    const url = await startReceiver();
    const alerts = await AlertDispatcher.open(
      config([{ id: 'chat', url, kind: 'slack' }]),
      store,
      clock,
      memoryLog().log,
    );
    alerts.notifyRunaway(TRIP, WHO);
    alerts.notifyRunaway(REPEATS, { ...WHO, team: 'docs' });
    await alerts.flush();
    const got = receiver?.received ?? [];
    expect(got[0]?.headers[SIGNATURE_HEADER]).toBeUndefined();
    expect(got.map((r) => (JSON.parse(r.raw.toString('utf8')) as SlackPayload).text).sort()).toEqual([
      'Runaway detected on feature summarize of key key_xyz (team docs, project web, prod):' +
        ' sent the same prompt 21 times within 5m (limit 20) — alert only, the key is not suspended',
      'Runaway detected on key key_abc (team search, project web, prod): spent $10.50/min,' +
        ' above 10× its baseline $1.00/min — key suspended until 2026-11-15T13:00:00Z',
    ]);
  });

  it('retries a failing receiver with backoff and logs every attempt', async () => {
    const url = await startReceiver([500, 429]);
    const { log, lines } = memoryLog();
    const alerts = await AlertDispatcher.open(
      config([{ id: 'ops', url, secret: SECRET }]),
      store,
      clock,
      log,
    );
    const event = alerts.notifyRunaway(REPEATS, WHO);
    await alerts.flush();
    const rows = (await store.listDeliveries({ eventId: event.id, limit: 10 })).reverse();
    expect(rows.map((r) => [r.targetId, r.attempt, r.ok, r.httpStatus, r.error])).toEqual([
      ['ops', 1, false, 500, 'HTTP 500: planned 500'],
      ['ops', 2, false, 429, 'HTTP 429: planned 429'],
      ['ops', 3, true, 200, null],
    ]);
    const got = receiver?.received ?? [];
    expect(got).toHaveLength(3);
    for (const r of got) {
      expect(
        verifySignature(SECRET, String(r.headers[SIGNATURE_HEADER]), r.raw, 300, Math.floor(NOW / 1000)),
      ).toBe(true);
      expect(JSON.parse(r.raw.toString('utf8'))).toEqual(event);
    }
    expect(alerts.snapshot()).toMatchObject({ attempts: 3, delivered: 1, failed: 0 });
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('gives up on a receiver that keeps failing and says so', async () => {
    const url = await startReceiver([503, 503, 503]);
    const { log, lines } = memoryLog();
    const alerts = await AlertDispatcher.open(
      config([{ id: 'ops', url, secret: SECRET }], { attempts: 3 }),
      store,
      clock,
      log,
    );
    const event = alerts.notifyRunaway(TRIP, WHO);
    await alerts.flush();
    expect(
      (await store.listDeliveries({ eventId: event.id, limit: 10 })).map((r) => [r.attempt, r.httpStatus]),
    ).toEqual([
      [3, 503],
      [2, 503],
      [1, 503],
    ]);
    expect(alerts.snapshot().failed).toBe(1);
    expect(lines.filter((l) => l.message === 'alert delivery gave up').map((l) => l.details)).toEqual([
      { eventId: event.id, targetId: 'ops', error: 'HTTP 503: planned 503', closing: false },
    ]);
  });

  it('stores and sends the same trip once, lists newest first, and survives a restart', async () => {
    const url = await startReceiver();
    const alerts = await AlertDispatcher.open(
      config([{ id: 'ops', url, secret: SECRET }]),
      store,
      clock,
      memoryLog().log,
    );
    const first = alerts.notifyRunaway(TRIP, WHO);
    alerts.notifyRunaway(TRIP, WHO);
    const second = alerts.notifyRunaway(REPEATS, WHO);
    await alerts.flush();
    expect(receiver?.received.map((r) => r.headers[EVENT_ID_HEADER]).sort()).toEqual(
      [first.id, second.id].sort(),
    );
    expect((await alerts.recentRunaway(10)).map((e) => e.id)).toEqual([second.id, first.id]);
    expect((await alerts.recentRunaway(1)).map((e) => e.id)).toEqual([second.id]);
    await alerts.close();
    db.close();

    db = new Database(join(dir, 'tollgate.db'));
    migrate(db);
    store = sqliteAlertStore(db);
    const restarted = await AlertDispatcher.open(config([]), store, clock, memoryLog().log);
    // Runaway rows are not budget thresholds: the fired set stays empty and budgets still alert.
    expect(restarted.snapshot().firedKeys).toBe(0);
    expect(await restarted.recentRunaway(10)).toEqual([second, first]);
    expect(
      restarted
        .observe(capped, requests(500), currentWindow(capped.window, NOW), 'spend')
        .map((e) => e.threshold),
    ).toEqual([0.5]);
    await restarted.flush();
    expect((await store.listEvents({ limit: 10 })).map((e) => e.type)).toEqual(['budget.threshold']);
    expect(await restarted.recentRunaway(10)).toHaveLength(2);
    await restarted.close();
  });

  it('never throws: a broken store still delivers, a closed dispatcher just returns the event', async () => {
    const url = await startReceiver();
    const broken: AlertStore = {
      ...store,
      insertRunaway: async () => {
        throw new Error('disk full');
      },
    };
    const { log, lines } = memoryLog();
    const alerts = await AlertDispatcher.open(
      config([{ id: 'ops', url, secret: SECRET }]),
      broken,
      clock,
      log,
    );
    const event = alerts.notifyRunaway(TRIP, WHO);
    await alerts.flush();
    expect(receiver?.received.map((r) => r.headers[EVENT_ID_HEADER])).toEqual([event.id]);
    expect(lines.map((l) => l.message)).toContain('alert event not stored');

    await alerts.close();
    const late = alerts.notifyRunaway(REPEATS, WHO);
    expect(late.kind).toBe('repeats');
    await alerts.flush();
    expect(receiver?.received).toHaveLength(1);
    expect(lines.at(-1)?.message).toBe('runaway alert not sent: dispatcher closing');
  });
});

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
