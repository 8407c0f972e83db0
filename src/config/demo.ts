import { parseConfig } from './load.ts';
import type { RawConfig } from './schema.ts';

export const DEMO_MASTER_KEY = 'tg-master-demo-0000000000000000';
/** Demo mode only: a fixed key so the README's examples work at every start. Never use in production. */
export const DEMO_KEY_SECRET = 'tg-demo-search-prod-0000000000000000';

/**
 * The demo: one org, two teams, a mock upstream serving real model names at their real prices,
 * and budgets that show the hierarchy (org ⊃ team ⊃ key).
 */
export function demoConfig(mockUrl: string, overrides: { port?: number; sqlite?: string } = {}): RawConfig {
  return parseConfig({
    server: { port: overrides.port ?? 4000, master_key: DEMO_MASTER_KEY },
    storage: { sqlite: overrides.sqlite ?? 'tollgate-demo.db' },
    providers: {
      openai: {
        kind: 'openai',
        base_url: `${mockUrl}/v1`,
        api_key: 'mock-upstream-key',
        forward_headers: ['x-mock-*'],
      },
    },
    models: [
      { id: 'gpt-4.1', provider: 'openai', max_output_tokens: 32768 },
      { id: 'gpt-4.1-mini', provider: 'openai', max_output_tokens: 32768 },
      { id: 'gpt-4o-mini', provider: 'openai', max_output_tokens: 16384 },
      { id: 'o4-mini', provider: 'openai', max_output_tokens: 100000 },
      // Bundled data prices embedding models' input only.
      { id: 'text-embedding-3-small', provider: 'openai', prices: { output: 0 } },
    ],
    orgs: [
      {
        id: 'acme',
        teams: [
          { id: 'search', cost_center: 'CC-1001', projects: [{ id: 'ranker' }, { id: 'query-rewrite' }] },
          { id: 'support', cost_center: 'CC-2002', projects: [{ id: 'helpdesk-bot' }] },
        ],
      },
    ],
    budgets: [
      {
        id: 'org-monthly',
        match: { org: 'acme' },
        limit: { usd: 1000 },
        window: { kind: 'calendar', every: 'month', tz: 'UTC' },
      },
      {
        id: 'search-prod-daily',
        match: { team: 'search', env: 'prod' },
        limit: { usd: 25 },
        window: { kind: 'calendar', every: 'day', tz: 'Europe/Berlin' },
      },
      {
        id: 'support-rolling-7d',
        match: { team: 'support' },
        limit: { usd: 10 },
        window: { kind: 'rolling', size: '7d' },
      },
    ],
  });
}
