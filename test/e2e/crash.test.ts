import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type MockServer, startMock } from '../../src/mock/index.ts';
import { adminRequest } from '../helpers/admin.ts';
import { type ChildGateway, killHard, spawnGateway } from '../helpers/child.ts';
import { MASTER } from '../helpers/harness.ts';

let mock: MockServer;
let dir: string;
let child: ChildGateway | null = null;

beforeAll(async () => {
  // Slow streams: 400 tokens at 20 ms each, so every call is mid-stream when the gateway dies.
  mock = await startMock({ port: 0, outputTokens: 400, interChunkMs: 20 });
  dir = mkdtempSync(join(tmpdir(), 'tollgate-crash-'));
  writeFileSync(
    join(dir, 'tollgate.yaml'),
    stringify({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an ${ENV} reference for the config loader
      server: { port: 0, master_key: '${TOLLGATE_MASTER_KEY}' },
      storage: { sqlite: join(dir, 'ledger.db') },
      providers: { mock: { kind: 'openai', base_url: `${mock.url}/v1`, forward_headers: ['x-mock-*'] } },
      models: [{ id: 'gpt-4.1-mini', provider: 'mock' }],
      orgs: [{ id: 'acme', teams: [{ id: 'search', projects: [{ id: 'ranker' }] }] }],
      budgets: [{ id: 'search-monthly', match: { team: 'search' }, limit: { usd: 100 } }],
    }),
  );
});
afterAll(async () => {
  if (child) await killHard(child);
  await mock.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The admin API, path first (GET unless told). */
const admin = <T>(url: string, path: string, method = 'GET', body?: unknown): Promise<T> =>
  adminRequest<T>(url, method, path, body);

describe('kill -9 of the gateway during 50 streaming calls', () => {
  it('loses no call: pending rows are settled at reserved and flagged; budget state equals the ledger', async () => {
    const args = ['--config', join(dir, 'tollgate.yaml')];
    child = await spawnGateway(args, { TOLLGATE_MASTER_KEY: MASTER });
    const key = await admin<{ key: string }>(child.url, '/admin/v1/keys', 'POST', {
      team: 'search',
      project: 'ranker',
      env: 'prod',
    });
    const gatewayUrl = child.url;
    const streams = Array.from({ length: 50 }, (_, i) =>
      fetch(`${gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4.1-mini',
          stream: true,
          messages: [{ role: 'user', content: `call ${i}` }],
        }),
      })
        .then(async (res) => {
          const reader = res.body?.getReader();
          while (reader && !(await reader.read()).done) {
            // read until the connection dies
          }
        })
        .catch(() => 'cut'),
    );
    const started = Date.now();
    while (mock.stats.streamsStarted < 50 && Date.now() - started < 20_000)
      await new Promise((r) => setTimeout(r, 20));
    expect(mock.stats.streamsStarted).toBe(50);
    await killHard(child);
    await Promise.all(streams);

    child = await spawnGateway(args, { TOLLGATE_MASTER_KEY: MASTER });
    expect(child.output()).toMatch(/recovered 50 calls/);
    const calls = await admin<{
      data: Array<{ status: string; cost: number; reserved: number; flags: string | null }>;
    }>(child.url, '/admin/v1/calls?limit=1000');
    expect(calls.data.length).toBe(50);
    for (const c of calls.data) {
      expect(c.status).toBe('orphaned');
      expect(c.cost).toBe(c.reserved);
      expect(c.cost).toBeGreaterThan(0);
      expect(c.flags).toContain('orphaned_settled_at_reserved');
    }
    const ledgerSum = calls.data.reduce((s, c) => s + c.cost, 0);
    const budget = await admin<{ spent: { nanos: number; requests: number }; reserved: { nanos: number } }>(
      child.url,
      '/admin/v1/budgets/search-monthly',
    );
    expect(budget.spent.nanos).toBe(ledgerSum);
    expect(budget.reserved.nanos).toBe(0);

    // A clean restart after that changes nothing: the settled state is durable.
    await killHard(child);
    child = await spawnGateway(args, { TOLLGATE_MASTER_KEY: MASTER });
    const again = await admin<{ spent: { nanos: number } }>(child.url, '/admin/v1/budgets/search-monthly');
    expect(again.spent.nanos).toBe(ledgerSum);
    expect(child.output()).not.toMatch(/recovered/);
  });
});
