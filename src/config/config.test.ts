import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileConfig } from './compile.ts';
import { ConfigError, loadConfigFile, parseConfig } from './load.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const env = { TOLLGATE_MASTER_KEY: 'm'.repeat(24), OPENAI_API_KEY: 'sk-test' };

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('the documented example config is valid', () => {
    const c = compileConfig(loadConfigFile(join(ROOT, 'tollgate.example.yaml'), env));
    expect(c.policies.map((p) => p.id)).toEqual([
      'acme-monthly',
      'search-prod-daily',
      'support-rolling',
      'gpt41-per-user',
    ]);
    expect(c.providers.get('openai')?.api_key).toBe('sk-test');
    expect(c.models.get('llama-3.1-8b')?.upstreamModel).toBe('meta-llama/Llama-3.1-8B-Instruct');
  });

  it('a missing environment variable names the field', () => {
    const issues = issuesOf(() =>
      loadConfigFile(join(ROOT, 'tollgate.example.yaml'), { TOLLGATE_MASTER_KEY: 'm'.repeat(24) }),
    );
    expect(issues).toEqual(['providers.openai.api_key: environment variable OPENAI_API_KEY is not set']);
  });

  it('bad fields fail with their path and why', () => {
    const base = { providers: { p: { base_url: 'http://x/v1' } }, models: [{ id: 'm', provider: 'p' }] };
    expect(
      issuesOf(() => parseConfig({ ...base, budgets: [{ id: 'b', limit: { usd: 'lots' } }] })).join('\n'),
    ).toMatch(/^budgets\.0\.limit\.usd: /m);
    expect(issuesOf(() => parseConfig({ ...base, server: { port: 'x' } })).join('\n')).toMatch(
      /^server\.port: /m,
    );
    expect(issuesOf(() => parseConfig({ ...base, surprise: 1 })).join('\n')).toMatch(/surprise/);
    expect(
      issuesOf(() => compileConfig(parseConfig({ ...base, models: [{ id: 'm', provider: 'nope' }] }))),
    ).toEqual(['models.0.provider: unknown provider nope']);
    expect(
      issuesOf(() =>
        compileConfig(
          parseConfig({
            ...base,
            budgets: [
              { id: 'b', limit: { usd: 1 }, window: { kind: 'calendar', every: 'day', tz: 'Mars/Olympus' } },
            ],
          }),
        ),
      ),
    ).toEqual(['budgets.0.window.tz: unknown time zone Mars/Olympus']);
    expect(
      issuesOf(() =>
        compileConfig(parseConfig({ ...base, budgets: [{ id: 'b', limit: { usd: 10_000_000 } }] })),
      )[0],
    ).toMatch(/^budgets\.0\.limit\.usd: .*\$9M/);
    expect(issuesOf(() => parseConfig({ ...base, budgets: [{ id: 'b', limit: {} }] })).join('\n')).toMatch(
      /budgets\.0\.limit: a budget needs at least one of usd, tokens, requests/,
    );
  });
});
