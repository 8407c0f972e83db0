import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../src/alerts/events.ts';
import type { DeliveryAttempt } from '../../src/alerts/store.ts';
import { type Harness, MASTER, startHarness } from '../helpers/harness.ts';

/** `tollgate alerts …`, `tollgate runaway` and `tollgate keys resume` print what the admin API returns. */

const ROOT = join(import.meta.dirname, '..', '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function tollgate(args: string[]): Promise<Run> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('TOLLGATE_')) env[k] = v;
  }
  const proc = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'tollgate.js'), '--url', h.gateway.url, '--master-key', MASTER, ...args],
    { cwd: ROOT, env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
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

async function chat(secret: string, content: string): Promise<number> {
  return h
    .openai(secret)
    .chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content }], max_tokens: 20 })
    .then(
      () => 200,
      (err: { status?: number }) => err.status ?? 0,
    );
}

let h: Harness;
let looper: { id: string; secret: string };
let events: AlertEvent[];

beforeAll(async () => {
  h = await startHarness({
    mock: { outputTokens: 16 },
    config: (mockUrl) => ({
      budgets: [{ id: 'search-cli', match: { team: 'search' }, limit: { usd: '0.001' }, alerts: [0.5, 1] }],
      runaway: { action: 'suspend', repeats: { max_identical: 2, window: '5m' }, cooldown: '1m' },
      // The mock has no such route: every delivery is logged as one non-retryable 404.
      alerts: {
        webhooks: [{ id: 'ops', url: `${mockUrl}/no-such-hook`, secret: 'whsec_cli_0123456789abcdef' }],
      },
    }),
  });
  const spender = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
  for (let i = 0; i < 40 && (await chat(spender.secret, `question ${i}`)) === 200; i++);
  looper = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
  for (let i = 0; i < 3; i++) await chat(looper.secret, 'the same thing');

  const deadline = Date.now() + 10_000;
  do {
    events = (await h.admin<{ data: AlertEvent[] }>('GET', '/admin/v1/alerts?policy=search-cli')).body.data;
    if (events.length >= 2) break;
    await new Promise((r) => setTimeout(r, 25));
  } while (Date.now() < deadline);
  await h.gateway.services.alerts.flush();
});
afterAll(() => h?.close());

describe('tollgate alerts / runaway / keys resume', () => {
  it('alerts list prints a table of the events; --json prints the admin API answer', async () => {
    expect(events.map((e) => e.threshold)).toEqual([1, 0.5]);
    const [table, json] = await Promise.all([
      tollgate(['alerts', 'list']),
      tollgate(['alerts', 'list', '--policy', 'search-cli', '--limit', '1', '--json']),
    ]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^at\s+policyId\s+mode\s+threshold\s+reason\s+spent\s+limit\s+window\s+id$/);
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(
      new RegExp(
        `^${events[0]?.at}\\s+search-cli\\s+hard\\s+100%\\s+(spend|denied)\\s+\\$0\\.\\d+\\s+\\$0\\.001\\s+\\d{4}-\\d\\d \\(UTC\\)\\s+${events[0]?.id}$`,
      ),
    );
    expect(lines[3]).toMatch(
      new RegExp(`^${events[1]?.at}\\s+search-cli\\s+hard\\s+50%\\s+spend\\s.*${events[1]?.id}$`),
    );

    expect(json.code, json.stderr).toBe(0);
    const api = await h.admin('GET', '/admin/v1/alerts?policy=search-cli&limit=1');
    expect(JSON.parse(json.stdout)).toEqual(api.body);
    expect((api.body as { data: AlertEvent[] }).data.map((e) => e.id)).toEqual([events[0]?.id]);
  });

  it('alerts deliveries prints the delivery log of one event', async () => {
    const id = String(events[1]?.id);
    const [table, json] = await Promise.all([
      tollgate(['alerts', 'deliveries', '--event', id]),
      tollgate(['--json', 'alerts', 'deliveries']),
    ]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^at\s+eventId\s+targetId\s+attempt\s+ok\s+httpStatus\s+error$/);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(
      new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+${id}\\s+ops\\s+1\\s+no\\s+404\\s+HTTP 404`),
    );

    expect(json.code, json.stderr).toBe(0);
    const api = await h.admin<{ data: DeliveryAttempt[] }>('GET', '/admin/v1/alerts/deliveries');
    expect(JSON.parse(json.stdout)).toEqual(api.body);
    // Two budget events and one runaway event, one attempt each.
    expect(api.body.data).toHaveLength(3);
  });

  it('runaway lists the suspended key; keys resume lifts it', async () => {
    const [table, json] = await Promise.all([tollgate(['runaway']), tollgate(['runaway', '--json'])]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^suspended keys:\nkeyId\s+kind\s+feature\s+since\s+until\s+reason\n/);
    expect(table.stdout).toMatch(
      new RegExp(
        `^${looper.id}\\s+repeats\\s+-\\s+\\S+Z\\s+\\S+Z\\s+key ${looper.id} sent the same prompt 3 times`,
        'm',
      ),
    );
    expect(table.stdout).toMatch(
      /^recent trips:\nat\s+keyId\s+kind\s+action\s+feature\s+suspendedUntil\s+reason\n/m,
    );
    expect(table.stdout).toMatch(
      new RegExp(`^\\S+Z\\s+${looper.id}\\s+repeats\\s+suspend\\s+-\\s+\\S+Z\\s+key `, 'm'),
    );
    expect(table.stdout).toMatch(/^velocityTrackers=\d+ promptCounters=\d+ suspensions=1 repeatsQuiet=1$/m);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual((await h.admin('GET', '/admin/v1/runaway')).body);

    expect(await chat(looper.secret, 'anything')).toBe(429);
    const resumed = await tollgate(['keys', 'resume', looper.id]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout.trim()).toBe(`resumed ${looper.id}`);
    expect(await chat(looper.secret, 'anything')).toBe(200);

    const [again, unknown] = await Promise.all([
      tollgate(['keys', 'resume', looper.id]),
      tollgate(['keys', 'resume', 'key_nope']),
    ]);
    expect(again.stdout.trim()).toBe(`${looper.id} was not suspended`);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe("tollgate: 404 not_found: key 'key_nope' does not exist");
  });

  it('--help describes each new command', async () => {
    const commands = [['alerts', 'list'], ['alerts', 'deliveries'], ['runaway'], ['keys', 'resume']];
    const runs = await Promise.all(commands.map((c) => tollgate([...c, '--help'])));
    runs.forEach((r, i) => {
      const name = ['tollgate', ...(commands[i] ?? [])].join(' ');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Usage: ${name}`);
    });
    expect(runs[0]?.stdout).toMatch(/--policy <id>[\s\S]*--limit <n>/);
    expect(runs[1]?.stdout).toContain('--event <id>');
  });
});
