import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { chromium, type Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { seedSyntheticLedger } from '../../src/dashboard/syntheticLedger.ts';
import { formatUsd } from '../../src/money.ts';
import { type Gateway, startGateway } from '../../src/server/gateway.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { MASTER, TEST_MODELS } from '../helpers/harness.ts';

/**
 * The overview against a large ledger. 1M rows take a while to seed, so the default is 200k;
 * TOLLGATE_DASHBOARD_ROWS=1000000 measures the figure.
 */

/** What the user sees (rendered text, not the DOM's raw textContent). */
// biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText() is the rendered text on screen, which is the point.
const shown = (l: Locator) => l.innerText();

const CHROMIUM = '/usr/bin/chromium';
const ROWS = Number(process.env.TOLLGATE_DASHBOARD_ROWS ?? 200_000);
const NOW = Date.UTC(2026, 10, 30, 12);
const TEAMS = ['search', 'support', 'growth', 'ads', 'infra', 'mobile', 'web', 'data'].map((t) => ({
  team: t,
  project: `${t}-app`,
  org: 'acme',
}));

let dir: string;
let gateway: Gateway;
let total = 0;

describe.skipIf(!existsSync(CHROMIUM))(`dashboard overview on ${ROWS} ledger rows`, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-dash-'));
    const dbFile = join(dir, 'ledger.db');
    const store = openSqliteStore(dbFile);
    const t0 = Date.now();
    total = await seedSyntheticLedger(store.ledger, {
      rows: ROWS,
      fromMs: Date.UTC(2026, 10, 1),
      toMs: NOW,
      teams: TEAMS,
    });
    await store.close();
    console.log(`seeded ${ROWS} rows in ${Date.now() - t0} ms`);
    gateway = await startGateway({
      config: parseConfig({
        server: { port: 0, master_key: MASTER },
        providers: { mock: { kind: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: 'x' } },
        models: TEST_MODELS,
        orgs: [{ id: 'acme', teams: TEAMS.map((t) => ({ id: t.team, projects: [{ id: t.project }] })) }],
      }),
      dbFile,
      port: 0,
      clock: () => NOW,
      logger: pino({ level: 'silent' }),
    });
  }, 600_000);

  afterAll(async () => {
    await gateway?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers the overview API and renders the page in under a second', async () => {
    const signIn = await fetch(`${gateway.url}/dashboard/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: MASTER }),
    });
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const timings: number[] = [];
    type Overview = { window: { spent: { usd: string } } };
    let body: Overview | null = null;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const res = await fetch(`${gateway.url}/dashboard/api/overview`, { headers: { cookie } });
      body = (await res.json()) as Overview;
      timings.push(performance.now() - t);
    }
    expect(body?.window.spent.usd).toBe(formatUsd(total));

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${gateway.url}/dashboard`);
      await page.getByLabel('Key').fill(MASTER);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForSelector('body[data-view="overview"]');
      // A cold load of the page, signed in: navigation start to the overview's numbers on screen.
      const t = performance.now();
      await page.reload();
      await page.waitForSelector('body[data-view="overview"][data-ready]');
      const render = performance.now() - t;
      expect(await shown(page.getByTestId('spend-window'))).toBe(`$${formatUsd(total)}`);
      console.log(
        `overview API ${timings.map((x) => x.toFixed(0)).join(' / ')} ms; page render ${render.toFixed(0)} ms (${ROWS} rows)`,
      );
      expect(Math.min(...timings)).toBeLessThan(1000);
      expect(render).toBeLessThan(1000);
    } finally {
      await browser.close();
    }
  });
});
