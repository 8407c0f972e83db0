import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../src/ledger/types.ts';
import { formatUsd } from '../../src/money.ts';
import { type Harness, MASTER, startHarness } from '../helpers/harness.ts';
import { dayClock, seedWorkload, settleLedger, workloadConfig } from '../helpers/workload.ts';

/**
 * The dashboard in a real headless Chromium against a gateway seeded with the mixed workload:
 * every number on screen is compared with sums over the ledger rows themselves.
 */

/** What the user sees (rendered text, not the DOM's raw textContent). */
// biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText() is the rendered text on screen, which is the point.
const shown = (l: Locator) => l.innerText();

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM)
  console.warn(`SKIPPING dashboard e2e: ${CHROMIUM} is not installed (apt-get install chromium)`);

/** The README's screenshots are refreshed on request only, so a test run leaves the tree clean. */
const SHOTS =
  process.env.TOLLGATE_UPDATE_SCREENSHOTS === '1'
    ? join(import.meta.dirname, '..', '..', 'docs', 'screenshots')
    : join(tmpdir(), 'tollgate-dashboard-shots');
const DAY = Date.UTC(2026, 10, 22);

let h: Harness;

let browser: Browser;
let readKey: { id: string; secret: string };

async function ledgerRows(): Promise<CallRecord[]> {
  await settleLedger(h);
  return h.gateway.services.store.ledger.queryCalls({ limit: 10_000 });
}

const usd = (nanos: number) => `$${formatUsd(nanos)}`;
const sum = (rows: CallRecord[]) => rows.reduce((s, r) => s + r.cost, 0);

async function signIn(ctx: BrowserContext, key: string): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(`${h.gateway.url}/dashboard`);
  await page.getByLabel('Key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('body[data-view="overview"]');
  return page;
}

/** Navigates by hash and waits until that view has rendered its data. */
async function visit(page: Page, hash: string): Promise<void> {
  // Strings, not functions: these run in the page, whose DOM types this project does not load.
  const before = String(await page.evaluate("document.body.dataset.ready ?? '0'"));
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  await page.waitForFunction(`document.body.dataset.ready !== ${JSON.stringify(before)}`);
}

const text = (page: Page, testid: string) => shown(page.getByTestId(testid).first());

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

describe.skipIf(!HAVE_CHROMIUM)('dashboard in headless Chromium', () => {
  beforeAll(async () => {
    h = await startHarness({
      config: workloadConfig({
        budgets: [
          {
            id: 'growth-dev-requests',
            match: { team: 'growth', env: 'dev' },
            limit: { requests: 2 },
            window: { kind: 'calendar', every: 'month', tz: 'UTC' },
          },
          { id: 'acme-monthly', match: { org: 'acme' }, limit: { usd: 100 } },
          {
            id: 'search-daily',
            match: { team: 'search' },
            limit: { usd: 0.001 },
            window: { kind: 'calendar', every: 'day', tz: 'UTC' },
            mode: 'soft',
          },
        ],
      }),
      clock: dayClock(DAY),
    });
    [, browser] = await Promise.all([
      seedWorkload(h),
      chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }),
    ]);
    readKey = await h.createKey({ team: 'search', project: 'ranker', env: 'prod', role: 'dashboard_read' });
  });

  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('shows the ledger sums on every view to the master key', async () => {
    const rows = await ledgerRows();
    expect(rows.length).toBeGreaterThan(10);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(ctx, MASTER);

    // Overview: the whole workload ran today (UTC) and this month.
    expect(await text(page, 'spend-today')).toBe(usd(sum(rows)));
    expect(await text(page, 'spend-window')).toBe(usd(sum(rows)));
    expect(await text(page, 'inflight')).toBe('$0');
    for (const team of ['search', 'support', 'growth']) {
      const row = page.locator(`[data-testid="teams-table"] tr[data-team="${team}"]`);
      expect(await shown(row.getByTestId('team-month'))).toBe(usd(sum(rows.filter((r) => r.team === team))));
    }
    await shot(page, 'overview');

    // Drill-down: team → project → env → model.
    await visit(page, '#/drill?by=team&window=month');
    expect(await text(page, 'drill-total')).toBe(usd(sum(rows)));
    await page.locator('[data-testid="drill-table"] a', { hasText: 'search' }).click();
    await page.waitForSelector('[data-testid="drill-table"] tr[data-group="ranker"]');
    const search = rows.filter((r) => r.team === 'search');
    expect(await text(page, 'drill-total')).toBe(usd(sum(search)));
    await page.locator('[data-testid="drill-table"] a', { hasText: 'ranker' }).click();
    await page.waitForSelector('[data-testid="drill-table"] tr[data-group="prod"]');
    const prodRow = page.locator('[data-testid="drill-table"] tr[data-group="prod"]');
    expect(await shown(prodRow.getByTestId('drill-cost'))).toBe(
      usd(sum(search.filter((r) => r.env === 'prod'))),
    );
    await visit(page, '#/drill?team=search&project=ranker&env=prod&by=model&window=month');
    for (const model of new Set(search.filter((r) => r.env === 'prod').map((r) => r.modelUsed))) {
      const cell = page
        .locator(`[data-testid="drill-table"] tr[data-group="${model}"]`)
        .getByTestId('drill-cost');
      expect(await shown(cell)).toBe(
        usd(sum(search.filter((r) => r.env === 'prod' && r.modelUsed === model))),
      );
    }
    await visit(page, '#/drill?by=feature&window=month');
    await shot(page, 'drilldown');

    // Budgets: spent per policy equals the ledger rows it matches.
    await visit(page, '#/budgets');
    const acme = page.locator('[data-budget="acme-monthly"]');
    expect(await shown(acme.getByTestId('budget-spent'))).toBe(usd(sum(rows)));
    expect(await shown(acme.getByTestId('budget-limit'))).toBe('$100');
    expect(await shown(acme.getByTestId('budget-reserved'))).toBe('$0');
    const searchDaily = page.locator('[data-budget="search-daily"]');
    expect(await shown(searchDaily.getByTestId('budget-spent'))).toBe(usd(sum(search)));
    const growthDev = page.locator('[data-budget="growth-dev-requests"]');
    const billedGrowthDev = rows.filter(
      (r) => r.team === 'growth' && r.env === 'dev' && r.status !== 'denied' && r.attempt === 1,
    );
    expect(await shown(growthDev.getByTestId('budget-spent'))).toBe(`${billedGrowthDev.length} requests`);
    await shot(page, 'budgets');

    // Events over the last 24 h.
    await visit(page, '#/events?window=24h');
    expect(await text(page, 'ev-denied')).toBe(String(rows.filter((r) => r.status === 'denied').length));
    expect(await text(page, 'ev-errors')).toBe(
      String(rows.filter((r) => ['upstream_error', 'client_aborted', 'orphaned'].includes(r.status)).length),
    );
    await shot(page, 'events');

    // Calls: newest first, and a per-call trace.
    await visit(page, '#/calls');
    const costs = await page.getByTestId('call-cost').allInnerTexts();
    const newest = [...rows].sort((a, b) => b.tsStart - a.tsStart || a.callId.localeCompare(b.callId));
    expect(costs).toEqual(newest.slice(0, 50).map((r) => usd(r.cost)));
    const first = newest[0];
    if (!first) throw new Error('no rows');
    await page.locator(`tr[data-call="${first.callId}"] button`).first().click();
    await page.waitForSelector('[data-testid="trace"]');
    expect(await text(page, 'trace-cost')).toBe(usd(sum(rows.filter((r) => r.callId === first.callId))));
    await shot(page, 'calls');

    // Filter: only support's calls.
    await visit(page, '#/calls?team=support');
    const supportCosts = await page.getByTestId('call-cost').allInnerTexts();
    expect(supportCosts).toEqual(newest.filter((r) => r.team === 'support').map((r) => usd(r.cost)));

    // Insights over 7 days.
    await visit(page, '#/insights?window=7d');
    expect(await text(page, 'ins-total')).toBe(usd(sum(rows.filter((r) => r.status !== 'pending'))));
    await shot(page, 'insights');
    await ctx.close();
  });

  it('confines a team read key to its own team, in the page and in the API', async () => {
    const rows = await ledgerRows();
    const search = rows.filter((r) => r.team === 'search');
    const ctx = await browser.newContext({ viewport: { width: 900, height: 900 } });
    const page = await signIn(ctx, readKey.secret);
    expect(await text(page, 'spend-today')).toBe(usd(sum(search)));
    expect(await page.locator('[data-testid="teams-table"] tbody tr').count()).toBe(1);
    expect(await page.locator('[data-testid="teams-table"] tr[data-team="search"]').count()).toBe(1);
    expect(await page.locator('a[href="#/keys"]').isVisible()).toBe(false);

    // Asking for another team's rows through the API still yields only search's.
    type Rows<T> = { data: T[] };
    const api = await page.evaluate(async () => {
      const get = async <T>(path: string) => (await (await fetch(path)).json()) as T;
      const calls = await get<Rows<{ team: string }>>('/dashboard/api/calls?team=support&limit=500');
      const all = await get<Rows<{ team: string }>>('/dashboard/api/calls?limit=500');
      const drill = await get<{ rows: Array<{ group: string }> }>('/dashboard/api/drill?by=team&team=growth');
      const budgets = await get<Rows<{ id: string }>>('/dashboard/api/budgets');
      const manage = await fetch('/dashboard/api/admin/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-tollgate-dashboard': '1' },
        body: JSON.stringify({ team: 'search', project: 'ranker', env: 'prod' }),
      });
      return {
        teams: [...new Set(calls.data.map((c) => c.team))],
        allTeams: [...new Set(all.data.map((c) => c.team))],
        drillGroups: drill.rows.map((r) => r.group),
        budgets: budgets.data.map((b) => b.id),
        manage: manage.status,
      };
    });
    expect(api.teams).toEqual([]);
    expect(api.allTeams).toEqual(['search']);
    expect(api.drillGroups).toEqual([]);
    expect(api.budgets).toEqual(['search-daily']);
    expect(api.manage).toBe(401);

    await visit(page, '#/calls');
    const teams = await page.locator('[data-testid="calls-table"] tbody tr td:nth-child(2)').allInnerTexts();
    expect(teams.length).toBe(search.length);
    expect(teams.every((t) => t.startsWith('search /'))).toBe(true);

    // A read key opens the dashboard, never a model.
    const err = await h
      .openai(readKey.secret)
      .chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: { status: number; code: string }) => e);
    expect(err).toMatchObject({ status: 403, code: 'insufficient_permissions' });
    await ctx.close();
  });

  it('creates a key that works at once, updates live, and revokes it so the next call is 401', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(ctx, MASTER);
    page.on('dialog', (d) => void d.accept());
    await visit(page, '#/keys');
    const form = page.getByTestId('key-create-form');
    await form.getByLabel('Team').selectOption('support');
    // Only the chosen team's projects are offered.
    expect(await form.getByLabel('Project').locator('option').allTextContents()).toEqual(['bot']);
    await form.getByLabel('Project').selectOption('bot');
    await form.getByLabel('Env').selectOption('prod');
    await form.getByLabel('Name').fill('made-in-ui');
    await form.getByRole('button', { name: 'Create key' }).click();
    const secret = await shown(page.getByTestId('new-key-secret'));
    const keyId = await shown(page.getByTestId('new-key-id'));
    expect(secret.length).toBeGreaterThan(20);
    await shot(page, 'keys');

    // Watch the overview update over SSE while the new key makes a call.
    await visit(page, '#/overview');
    const beforeText = await text(page, 'spend-today');
    const done = await h.openai(secret).chat.completions.create({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'made in the UI' }],
      max_tokens: 30,
    });
    expect(done.choices.length).toBe(1);
    const rows = await ledgerRows();
    const expected = usd(sum(rows));
    expect(expected).not.toBe(beforeText);
    await page.waitForFunction(
      `document.querySelector('[data-testid="spend-today"]')?.textContent === ${JSON.stringify(expected)}`,
      undefined,
      { timeout: 6000 },
    );
    const reloads = await page.evaluate("performance.getEntriesByType('navigation').length");
    expect(reloads).toBe(1);

    await visit(page, '#/keys');
    await page.getByRole('button', { name: `Revoke key ${keyId}` }).click();
    await page.waitForFunction(`!document.querySelector('tr[data-key="${keyId}"]')`);
    const err = await h
      .openai(secret)
      .chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'again' }] })
      .catch((e: { status: number }) => e);
    expect(err).toMatchObject({ status: 401 });
    await ctx.close();
  });

  it('shows the admin API validation error in the budget form, and saves a good budget', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(ctx, MASTER);
    await visit(page, '#/budgets');
    const form = page.getByTestId('budget-create-form');
    await form.getByLabel('Budget id').fill('support-ui');
    await form.getByLabel('Team (empty = whole org)').fill('support');
    await form.getByLabel('Limit (USD)').fill('-5');
    await form.getByRole('button', { name: 'Create budget' }).click();
    const error = form.getByTestId('budget-error');
    await error.waitFor();
    const direct = await h.admin<{ error: { message: string } }>('POST', '/admin/v1/budgets', {
      id: 'support-ui',
      match: { team: 'support' },
      limit: { usd: -5 },
      window: { kind: 'calendar', every: 'month', tz: 'UTC' },
      mode: 'hard',
    });
    expect(direct.status).toBe(400);
    expect(await shown(error)).toBe(direct.body.error.message);

    await form.getByLabel('Limit (USD)').fill('25');
    await form.getByRole('button', { name: 'Create budget' }).click();
    await page.waitForSelector('[data-budget="support-ui"]');
    // A budget created now counts from now on: its counter, as the admin API reports it.
    const status = await h.admin<{ spent: { usdExact: string } }>('GET', '/admin/v1/budgets/support-ui');
    const card = page.locator('[data-budget="support-ui"]');
    expect(await shown(card.getByTestId('budget-limit'))).toBe('$25');
    expect(await shown(card.getByTestId('budget-spent'))).toBe(`$${status.body.spent.usdExact}`);
    expect(h.gateway.services.budgets.get('support-ui')?.limit.usdNanos).toBe(25_000_000_000);
    await ctx.close();
  });
});
