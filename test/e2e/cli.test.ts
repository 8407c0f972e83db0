import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, MASTER, startHarness } from '../helpers/harness.ts';

const ROOT = join(import.meta.dirname, '..', '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/tollgate.js ...args` with a clean environment (no TOLLGATE_* from the caller). */
function tollgate(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('TOLLGATE_')) base[k] = v;
  }
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'tollgate.js'), ...args], {
    cwd: ROOT,
    env: { ...base, TOLLGATE_LOG_LEVEL: 'warn', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`tollgate ${args.join(' ')} timed out:\n${stdout}\n${stderr}`));
    }, 20_000);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let h: Harness;
let admin: (args: string[]) => Promise<Run>;
let tmp: string;

beforeAll(async () => {
  h = await startHarness({
    mock: { outputTokens: 12 },
    config: { budgets: [{ id: 'search-monthly', match: { team: 'search' }, limit: { usd: 50 } }] },
  });
  admin = (args) => tollgate(['--url', h.gateway.url, '--master-key', MASTER, ...args]);
  tmp = mkdtempSync(join(tmpdir(), 'tollgate-cli-'));
});
afterAll(async () => {
  await h?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function chat(secret: string, model = 'gpt-4.1-mini') {
  return h
    .openai(secret)
    .chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 30 })
    .then(
      () => ({ ok: true as const }),
      (err: { status?: number; code?: string }) => ({
        ok: false as const,
        status: err.status,
        code: err.code,
      }),
    );
}

function secretFrom(stdout: string): string {
  const m = /secret \(shown once\): (\S+)/.exec(stdout);
  if (!m?.[1]) throw new Error(`no secret in:\n${stdout}`);
  return m[1];
}

function keyIdFrom(stdout: string): string {
  const m = /(key_[A-Za-z0-9_-]+)/.exec(stdout);
  if (!m?.[1]) throw new Error(`no key id in:\n${stdout}`);
  return m[1];
}

/** Runs a few at a time: each run is a fresh node + tsx process. */
async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

describe('tollgate CLI against a running gateway', () => {
  it('teams list (URL and master key from the environment) / create / add-project', async () => {
    const [list, created, dup] = await Promise.all([
      tollgate(['teams', 'list'], { TOLLGATE_URL: h.gateway.url, TOLLGATE_MASTER_KEY: MASTER }),
      admin(['teams', 'create', 'growth', '--cost-center', 'CC-3', '--name', 'Growth']),
      admin(['teams', 'create', 'search']),
    ]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^id\s+org\s+name\s+costCenter\s+source$/m);
    expect(list.stdout).toMatch(/^search\s+acme\s+search\s+CC-1\s+config$/m);
    expect(list.stdout).toMatch(/^support\s+acme\s+/m);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout.trim()).toBe('created team growth in org acme');
    expect(dup.code).not.toBe(0);
    expect(dup.stderr.trim()).toBe("tollgate: 409 conflict: team 'search' already exists");

    const project = await admin(['teams', 'add-project', 'growth', 'funnel']);
    expect(project.code, project.stderr).toBe(0);
    expect(project.stdout.trim()).toBe('created project funnel in team growth');
    const viaApi = await h.admin<{ costCenter: string; name: string; projects: Array<{ id: string }> }>(
      'GET',
      '/admin/v1/teams/growth',
    );
    expect(viaApi.body).toMatchObject({ costCenter: 'CC-3', name: 'Growth' });
    expect(viaApi.body.projects.map((p) => p.id)).toEqual(['funnel']);
  });

  it('keys create prints the secret once; it works with the openai client; list/revoke/rotate', async () => {
    const created = await admin([
      'keys',
      'create',
      '--team',
      'search',
      '--project',
      'ranker',
      '--env',
      'prod',
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^created key key_\S+ \(search\/ranker\/prod\)$/m);
    const secret = secretFrom(created.stdout);
    const id = keyIdFrom(created.stdout);
    expect(await chat(secret)).toEqual({ ok: true });

    const list = await admin(['keys', 'list', '--team', 'search']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^id\s+prefix\s+name\s+team\s+project\s+env/m);
    expect(list.stdout).toMatch(new RegExp(`^${id}\\s+tg-\\S+…\\s+-\\s+search\\s+ranker\\s+prod\\s`, 'm'));
    expect(list.stdout).not.toContain(secret.slice(9));
    const rotated = await admin(['keys', 'rotate', id]);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(new RegExp(`^rotated ${id} -> key_\\S+$`, 'm'));
    const newSecret = secretFrom(rotated.stdout);
    const newId = /-> (key_\S+)/.exec(rotated.stdout)?.[1] ?? '';
    expect(newSecret).not.toBe(secret);
    expect(await chat(secret)).toMatchObject({ ok: false, status: 401, code: 'key_revoked' });
    expect(await chat(newSecret)).toEqual({ ok: true });

    const revoked = await admin(['keys', 'revoke', newId]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^revoked ${newId} at \\d{4}-\\d\\d-\\d\\dT`, 'm'));
    expect(await chat(newSecret)).toMatchObject({ ok: false, status: 401, code: 'key_revoked' });

    const all = await admin(['keys', 'list', '--all']);
    expect(all.stdout).toMatch(new RegExp(`^${id}\\s.*\\d{4}-\\d\\d-\\d\\dT\\S+$`, 'm'));
    expect(all.stdout).toContain(newId);
  });

  it('keys create --json, with models, user and a key budget', async () => {
    const r = await admin([
      '--json',
      'keys',
      'create',
      '--team',
      'growth',
      '--project',
      'funnel',
      '--env',
      'dev',
      '--models',
      'gpt-4.1-mini, gpt-4o-mini',
      '--user',
      'dora',
      '--budget-usd',
      '5',
      '--budget-window',
      '7d',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout) as {
      id: string;
      key: string;
      models: string[];
      user: string;
      budget: { id: string; limit: { nanos: number } };
    };
    expect(body.models).toEqual(['gpt-4.1-mini', 'gpt-4o-mini']);
    expect(body.user).toBe('dora');
    expect(body.budget).toMatchObject({ id: `key:${body.id}`, limit: { nanos: 5_000_000_000 } });
    expect(await chat(body.key, 'gpt-4o-mini')).toEqual({ ok: true });
    expect(await chat(body.key, 'gpt-4.1')).toMatchObject({ ok: false, status: 403 });
  });

  it('budgets status: table and --json agree with the admin API', async () => {
    const [table, json] = await Promise.all([
      admin(['budgets', 'status']),
      admin(['--json', 'budgets', 'status']),
    ]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^id\s+mode\s+limit\s+spent\s+inFlight\s+remaining\s+used\s+resetsAt$/m);
    expect(table.stdout).toMatch(/^search-monthly\s+hard\s+\$50\s+\$\S+\s+\$0\s+\$\S+\s+\S+%\s+\d{4}-/m);
    const api = await h.admin<{ data: Array<{ id: string; spent: { nanos: number } }> }>(
      'GET',
      '/admin/v1/budgets',
    );
    const parsed = JSON.parse(json.stdout) as { data: Array<{ id: string; spent: { nanos: number } }> };
    expect(parsed.data.map((b) => b.id).sort()).toEqual(api.body.data.map((b) => b.id).sort());
    const spent = api.body.data.find((b) => b.id === 'search-monthly')?.spent.nanos ?? 0;
    expect(spent).toBeGreaterThan(0);
    expect(parsed.data.find((b) => b.id === 'search-monthly')?.spent.nanos).toBe(spent);
  });

  it('usage --by team and --by model: totals match the admin API', async () => {
    const k = await h.createKey({ team: 'support', project: 'bot', env: 'dev' });
    for (const model of ['gpt-4.1', 'gpt-4o-mini', 'gpt-4o-mini'])
      expect(await chat(k.secret, model)).toEqual({ ok: true });
    await h.gateway.services.ledger.flush();
    const [team, model] = await Promise.all([
      admin(['usage', '--by', 'team']),
      admin(['usage', '--by', 'model']),
    ]);
    for (const by of ['team', 'model']) {
      const api = await h.admin<{
        totalUsd: string;
        totalNanos: number;
        data: Array<{ group: string; calls: number; cost: number }>;
      }>('GET', `/admin/v1/usage?by=${by}&window=30d`);
      const table = by === 'team' ? team : model;
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(new RegExp(`^${by}\\s+calls\\s+inputTokens\\s+outputTokens`, 'm'));
      expect(table.stdout.trim().split('\n').at(-1)).toBe(`total: $${api.body.totalUsd}`);
      // One table row per group, each with the API's call count and cost.
      expect(table.stdout.trim().split('\n')).toHaveLength(api.body.data.length + 3);
      for (const row of api.body.data) {
        const usd = (row.cost / 1e9).toString().replace('.', '\\.');
        expect(table.stdout).toMatch(new RegExp(`^${row.group}\\s+${row.calls}\\s.*\\$${usd}\\s`, 'm'));
      }
      const groups = api.body.data.map((d) => d.group);
      expect(groups).toEqual(
        expect.arrayContaining(by === 'team' ? ['search', 'support'] : ['gpt-4.1', 'gpt-4o-mini']),
      );
    }
  });
});

describe('tollgate CLI help and errors', () => {
  it('--help for every command exits 0 and describes it', async () => {
    const commands = [
      [],
      ['start'],
      ['keys', 'create'],
      ['keys', 'list'],
      ['keys', 'revoke'],
      ['keys', 'rotate'],
      ['teams', 'list'],
      ['teams', 'create'],
      ['teams', 'add-project'],
      ['budgets', 'status'],
      ['usage'],
    ];
    const runs = await inBatches(commands, 4, (c) => tollgate([...c, '--help']));
    runs.forEach((r, i) => {
      const name = ['tollgate', ...(commands[i] ?? [])].join(' ');
      expect(r.code, `${name} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout, name).toContain(`Usage: ${name}`);
      expect(r.stderr, name).toBe('');
    });
  });

  it('errors exit non-zero with one clear line', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const [noKey, wrongKey, unreachable, unknownTeam] = await Promise.all([
      tollgate(['--url', h.gateway.url, 'teams', 'list']),
      tollgate(['--url', h.gateway.url, '--master-key', 'not-the-master-key', 'teams', 'list']),
      tollgate(['--url', `http://127.0.0.1:${closed}`, '--master-key', MASTER, 'teams', 'list']),
      admin(['keys', 'create', '--team', 'nope', '--project', 'ranker', '--env', 'dev']),
    ]);
    const oneLine = (r: Run) => {
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^tollgate: /);
      return lines[0] ?? '';
    };
    expect(oneLine(noKey)).toContain('no master key');
    expect(oneLine(wrongKey)).toContain('401 admin_unauthorized');
    const unreach = oneLine(unreachable);
    expect(unreach).toContain(`cannot reach the gateway at http://127.0.0.1:${closed}`);
    expect(unreach).toMatch(/ECONNREFUSED/);
    expect(oneLine(unknownTeam)).toBe("tollgate: 404 not_found: team 'nope' does not exist");
  });

  it('bad options and unknown commands exit non-zero naming the problem', async () => {
    const [badPort, missingOpt] = await Promise.all([
      tollgate(['start', '--port', 'abc']),
      tollgate(['--master-key', MASTER, 'keys', 'create', '--team', 'search']),
    ]);
    expect(badPort.code).not.toBe(0);
    expect(badPort.stderr.split('\n')[0]).toMatch(/--port <port>.*'abc' is invalid.*non-negative integer/);
    expect(missingOpt.code).not.toBe(0);
    expect(missingOpt.stderr.split('\n')[0]).toMatch(/required option '--project <project>' not specified/);
  });

  it('start with a missing or invalid config exits non-zero naming the file or the bad field', async () => {
    const db = join(tmp, 'never.db');
    const badBudget = join(tmp, 'bad-budget.yaml');
    writeFileSync(
      badBudget,
      [
        'server: { port: 0 }',
        `storage: { sqlite: ${JSON.stringify(db)} }`,
        'budgets:',
        '  - id: b1',
        '    limit: { usd: lots }',
      ].join('\n'),
    );
    const badProvider = join(tmp, 'bad-provider.yaml');
    writeFileSync(
      badProvider,
      [
        'server: { port: 0 }',
        `storage: { sqlite: ${JSON.stringify(db)} }`,
        'providers:',
        '  mock: { base_url: "http://127.0.0.1:9/v1" }',
        'models:',
        '  - { id: gpt-4.1, provider: mock }',
        '  - { id: other, provider: nowhere }',
      ].join('\n'),
    );
    const [missing, budget, provider] = await Promise.all([
      tollgate(['start', '--config', '/nonexistent.yaml']),
      tollgate(['start', '--config', badBudget]),
      tollgate(['start', '--config', badProvider]),
    ]);
    for (const r of [missing, budget, provider]) {
      expect(r.code, r.stdout + r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(/^tollgate: /);
      expect(r.stderr).not.toContain('unexpected error');
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    expect(missing.stderr).toContain('cannot read config file /nonexistent.yaml');
    expect(budget.stderr).toContain('budgets.0.limit.usd');
    expect(provider.stderr).toContain('models.1.provider');
    expect(provider.stderr).toContain('nowhere');
  });
});
