/**
 * Critical-path probe: one request at a time (no queueing), direct vs bare proxy vs gateway.
 *   npx tsx bench/seqprobe.ts [requests per side per round]
 * Prints p50 / p90 per side and the added ms. Not part of BENCHMARKS.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { stringify } from 'yaml';
import { CHAT_PATH, NON_STREAM_BODY, percentile } from './load.ts';
import { spawnBareProxy, spawnGateway, spawnMock, stopAll } from './procs.ts';
import { benchConfig, createBenchKey } from './scenarios.ts';

const N = Number(process.argv[2] ?? '1500');
const dir = mkdtempSync(join(os.tmpdir(), 'tollgate-probe-'));
const master = randomBytes(16).toString('hex');

async function main(): Promise<void> {
  const mock = await spawnMock();
  const bare = await spawnBareProxy(mock.url);
  const file = join(dir, 'tollgate.yaml');
  writeFileSync(file, stringify(benchConfig(mock.url, join(dir, 'ledger.db'))));
  const gw = await spawnGateway(file, { TOLLGATE_MASTER_KEY: master, TOLLGATE_LOG_LEVEL: 'info' }, [], dir);
  gw.proc.stderr?.on('data', (d: Buffer) => {
    // Phase timings, when a temporary probe in the gateway prints them.
    for (const line of d.toString().split('\n')) if (line.includes('PHASES')) console.log(line);
  });
  const { secret } = await createBenchKey(gw.url, master);
  const sides = [
    { name: 'direct', url: mock.url, auth: {} },
    { name: 'bare', url: bare.url, auth: {} },
    { name: 'gateway', url: gw.url, auth: { authorization: `Bearer ${secret}` } },
  ];
  const samples = new Map<string, number[]>(sides.map((s) => [s.name, []]));
  for (let round = 0; round < 3; round++) {
    for (const side of sides) {
      const pool = new Pool(side.url, { connections: 1 });
      const out = samples.get(side.name) ?? [];
      for (let i = 0; i < N + 200; i++) {
        const t0 = performance.now();
        const r = await pool.request({
          path: CHAT_PATH,
          method: 'POST',
          headers: { 'content-type': 'application/json', ...side.auth },
          body: NON_STREAM_BODY,
        });
        await r.body.arrayBuffer();
        if (r.statusCode !== 200) throw new Error(`${side.name}: ${r.statusCode}`);
        if (i >= 200) out.push(performance.now() - t0);
      }
      await pool.close();
    }
  }
  const stat = (name: string) => {
    const a = Float64Array.from(samples.get(name) ?? []).sort();
    return { p50: percentile(a, 0.5), p90: percentile(a, 0.9), p99: percentile(a, 0.99) };
  };
  const d = stat('direct');
  for (const s of sides) {
    const x = stat(s.name);
    console.log(
      `${s.name.padEnd(8)} p50 ${x.p50.toFixed(3)} p90 ${x.p90.toFixed(3)} p99 ${x.p99.toFixed(3)}  added p50 ${(x.p50 - d.p50).toFixed(3)} p90 ${(x.p90 - d.p90).toFixed(3)}`,
    );
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
