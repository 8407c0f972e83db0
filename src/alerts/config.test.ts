import { describe, expect, it } from 'vitest';
import { alertsConfigProblems, alertsConfigSchema, DEFAULT_ALERTS_CONFIG, targetWants } from './config.ts';

const SECRET = 'whsec_0123456789abcdef';

function issues(input: unknown): string[] {
  const r = alertsConfigSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('alertsConfigSchema', () => {
  it('defaults an absent section to no webhooks', () => {
    expect(DEFAULT_ALERTS_CONFIG).toEqual({
      webhooks: [],
      retry: { attempts: 5, initial_backoff_ms: 500, max_backoff_ms: 30_000 },
      timeout_ms: 5000,
    });
  });

  it('fills target defaults', () => {
    const cfg = alertsConfigSchema.parse({
      webhooks: [
        { id: 'ops', url: 'https://hooks.example.com/tollgate', secret: SECRET },
        { id: 'chat', url: 'https://hooks.slack.com/services/T/B/X', kind: 'slack', budgets: ['a'] },
      ],
      retry: { attempts: 3 },
    });
    expect(cfg.webhooks).toEqual([
      { id: 'ops', url: 'https://hooks.example.com/tollgate', kind: 'webhook', secret: SECRET },
      { id: 'chat', url: 'https://hooks.slack.com/services/T/B/X', kind: 'slack', budgets: ['a'] },
    ]);
    expect(cfg.retry).toEqual({ attempts: 3, initial_backoff_ms: 500, max_backoff_ms: 30_000 });
  });

  it('requires a secret of 16+ characters for signed webhooks', () => {
    expect(issues({ webhooks: [{ id: 'ops', url: 'https://x.example' }] })).toEqual([
      'webhooks.0.secret: a webhook target needs a secret (at least 16 characters) to sign its events',
    ]);
    expect(issues({ webhooks: [{ id: 'ops', url: 'https://x.example', secret: 'short' }] })).toEqual([
      'webhooks.0.secret: the webhook secret must be at least 16 characters',
    ]);
  });

  it('rejects bad urls, duplicate ids, unknown fields and inverted backoff', () => {
    expect(issues({ webhooks: [{ id: 'a', url: 'ftp://x.example', kind: 'slack' }] })).toEqual([
      'webhooks.0.url: must be an http(s) URL',
    ]);
    expect(
      issues({
        webhooks: [
          { id: 'a', url: 'https://x.example', kind: 'slack' },
          { id: 'a', url: 'https://y.example', kind: 'slack' },
        ],
      }),
    ).toEqual(['webhooks.1.id: duplicate webhook id a']);
    expect(issues({ webhook: [] })).toHaveLength(1);
    expect(issues({ retry: { initial_backoff_ms: 1000, max_backoff_ms: 10 } })).toEqual([
      'retry.max_backoff_ms: max_backoff_ms must be at least initial_backoff_ms',
    ]);
  });
});

describe('alertsConfigProblems / targetWants', () => {
  const cfg = alertsConfigSchema.parse({
    webhooks: [
      { id: 'all', url: 'https://x.example', secret: SECRET },
      { id: 'some', url: 'https://y.example', kind: 'slack', budgets: ['team-a', 'ghost'] },
    ],
  });

  it('names budgets that do not exist', () => {
    expect(alertsConfigProblems(cfg, new Set(['team-a']))).toEqual([
      'alerts.webhooks.1.budgets.1: unknown budget ghost',
    ]);
  });

  it('routes by policy id, absent list meaning all', () => {
    const [all, some] = cfg.webhooks;
    expect(all && targetWants(all, 'team-b')).toBe(true);
    expect(some && targetWants(some, 'team-a')).toBe(true);
    expect(some && targetWants(some, 'team-b')).toBe(false);
  });
});
