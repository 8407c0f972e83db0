import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READY_LINE } from '../../src/cluster/local/cli.ts';
import { descendants, stillRunning } from '../../src/cluster/local/processTree.ts';
import { REPLICA_HEADER } from '../../src/cluster/local/roundRobinProxy.ts';
import { DEMO_KEY_SECRET, DEMO_MASTER_KEY } from '../../src/config/demo.ts';
import { postgresOrWarn } from '../helpers/postgresServer.ts';
import { redisSuitesCanRun } from '../helpers/redisServer.ts';

/**
 * `npm run cluster` as a user runs it: a child process that starts Redis, PostgreSQL, three
 * gateway replicas and the round-robin proxy. Calls through the proxy with the official openai
 * client reach every replica and land in one shared ledger and one set of budget counters;
 * SIGINT stops every process it started.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const canRun = redisSuitesCanRun() && postgresOrWarn() !== null;

describe.skipIf(!canRun)('npm run cluster', () => {
  let proc: ChildProcess;
  let output = '';
  let proxyUrl = '';
  const replicaUrls = new Map<number, string>();

  beforeAll(async () => {
    // Without TOLLGATE_MASTER_KEY the demo config's master key applies.
    const { TOLLGATE_MASTER_KEY: _, ...env } = process.env;
    proc = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'scripts', 'cluster.ts'), '--port', '0', '--replicas', '3'],
      {
        cwd: ROOT,
        env: { ...env, TOLLGATE_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const append = (d: Buffer) => {
      output += d.toString();
    };
    proc.stdout?.on('data', append);
    proc.stderr?.on('data', append);
    const deadline = Date.now() + 90_000;
    for (;;) {
      const ready = READY_LINE.exec(output);
      if (ready?.[1]) {
        proxyUrl = ready[1];
        break;
      }
      if (proc.exitCode !== null) throw new Error(`npm run cluster exited ${proc.exitCode}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`npm run cluster was not ready in 90 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const m of output.matchAll(/replica (\d+):\s+(http:\/\/\S+)/g))
      replicaUrls.set(Number(m[1]), m[2] ?? '');
  }, 120_000);

  afterAll(() => {
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });

  it('prints the proxy, every replica, the demo key and a curl example', () => {
    expect([...replicaUrls.keys()]).toEqual([1, 2, 3]);
    expect(new Set(replicaUrls.values()).size).toBe(3);
    expect(output).toContain(`demo key (team search, project ranker, env prod): ${DEMO_KEY_SECRET}`);
    expect(output).toContain(`curl -si ${proxyUrl}/v1/chat/completions`);
    expect(output).toContain(`master key: ${DEMO_MASTER_KEY}`);
  });

  it('every replica serves calls through the proxy, into one ledger and one set of budget counters', async () => {
    const client = new OpenAI({ baseURL: `${proxyUrl}/v1`, apiKey: DEMO_KEY_SECRET, maxRetries: 0 });
    const calls: Array<{ replica: string | null; callId: string | null }> = [];
    for (let i = 0; i < 6; i++) {
      const stream = i % 2 === 1;
      const body = {
        model: 'gpt-4.1-mini',
        messages: [{ role: 'user' as const, content: `call ${i}` }],
        max_tokens: 8,
      };
      if (stream) {
        const { data, response } = await client.chat.completions
          .create({ ...body, stream: true, stream_options: { include_usage: true } })
          .withResponse();
        let completion = 0;
        for await (const chunk of data) completion += chunk.usage?.completion_tokens ?? 0;
        expect(completion).toBe(8);
        calls.push({
          replica: response.headers.get(REPLICA_HEADER),
          callId: response.headers.get('x-tollgate-call-id'),
        });
      } else {
        const { data, response } = await client.chat.completions.create(body).withResponse();
        expect(data.usage?.completion_tokens).toBe(8);
        calls.push({
          replica: response.headers.get(REPLICA_HEADER),
          callId: response.headers.get('x-tollgate-call-id'),
        });
      }
    }
    expect(calls.map((c) => c.replica)).toEqual(['1', '2', '3', '1', '2', '3']);
    const callIds = calls.map((c) => c.callId ?? '');
    expect(new Set(callIds).size).toBe(6);

    // Replica 1 sees the rows written by all three (PostgreSQL), and replica 3 the spend all
    // three counted (Redis): two budgets match the demo key, each counted the six calls.
    const admin = async <T>(replica: number, path: string): Promise<T> => {
      const res = await fetch(`${replicaUrls.get(replica)}${path}`, {
        headers: { authorization: `Bearer ${DEMO_MASTER_KEY}` },
      });
      expect(res.status).toBe(200);
      return (await res.json()) as T;
    };
    let okRows: string[] = [];
    for (let tries = 0; tries < 50; tries++) {
      const rows = await admin<{ data: Array<{ callId: string; status: string }> }>(
        1,
        '/admin/v1/calls?limit=100',
      );
      okRows = rows.data.filter((r) => r.status === 'ok').map((r) => r.callId);
      if (callIds.every((id) => okRows.includes(id))) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(okRows.sort()).toEqual([...callIds].sort());
    const budgets = await admin<{
      data: Array<{ id: string; spent: { requests: number }; reserved: { nanos: number } }>;
    }>(3, '/admin/v1/budgets');
    const view = (id: string) => budgets.data.find((b) => b.id === id);
    expect(view('org-monthly')?.spent.requests).toBe(6);
    expect(view('search-prod-daily')?.spent.requests).toBe(6);
    expect(view('search-prod-daily')?.reserved.nanos).toBe(0);
  });

  it('SIGINT stops the proxy, every replica, Redis and PostgreSQL: no process is left', async () => {
    const tree = descendants(proc.pid ?? -1);
    const replicas = tree.filter((p) =>
      /bin\/tollgate\.js start --config \S+replica-\d\.yaml/.test(p.cmdline),
    );
    expect(replicas.length).toBe(3);
    expect(tree.filter((p) => p.comm === 'redis-server').length).toBe(1);
    // The postmaster and its background processes and backends.
    expect(tree.filter((p) => p.comm === 'postgres').length).toBeGreaterThan(3);
    const dataDir = /data:\s+(\S+)/.exec(output)?.[1] ?? '';
    expect(existsSync(dataDir)).toBe(true);

    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('[cluster] stopped');
    expect(tree.filter(stillRunning).map((p) => `${p.pid} ${p.comm} ${p.cmdline}`)).toEqual([]);
    expect(existsSync(dataDir)).toBe(false);
  }, 60_000);
});
