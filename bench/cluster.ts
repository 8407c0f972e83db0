/**
 * `npm run bench:cluster`: the load of `npm run bench`'s max-throughput and 500 req/s steady
 * scenarios against three sides in one run — the mock directly, the embedded gateway (one
 * process, SQLite) and cluster mode (`npm run cluster`: 3 replicas on Redis + PostgreSQL behind
 * the round-robin proxy) — and a "Cluster mode" section in BENCHMARKS.md between its own markers.
 *
 * Every round runs the three sides, rotating the order (D E C, E C D, C D E); any error or
 * non-2xx response aborts (a denial would invalidate the numbers). Afterwards the ledger of each
 * gateway side must hold a row for every call it served, and its budgets must have counted them.
 *
 * Environment: BENCH_SCALE=0.3 for shorter runs (a smoke test; BENCHMARKS.md is left unchanged).
 * BENCH_CPU_PROF=DIR: each cluster replica writes a V8 CPU profile into DIR when it stops
 * (`npx tsx bench/cpuprofile.ts DIR`); the profiler skews the numbers, so they are not written.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { READY_LINE } from '../src/cluster/local/cli.ts';
import { descendants } from '../src/cluster/local/processTree.ts';
import { admin, type BudgetView, checkLedger, type Totals } from './ledgerCheck.ts';
import { concat, NON_STREAM_BODY, type RunResult, runAutocannon, runPaced, type Target } from './load.ts';
import { cpuMs, killAllNow, ROOT, spawnGateway, spawnMock, stopAll } from './procs.ts';
import {
  fmtInt,
  fmtMs,
  fmtSigned,
  type LatencySummary,
  latencySummary,
  type Machine,
  median,
  type Scenario,
} from './report.ts';
import { benchConfig, createBenchKey, SCALE, STEADY, THROUGHPUT } from './scenarios.ts';

const REPLICAS = 3;
const PROFILE_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : null;
const ROUNDS = 3;
const WARMUP_SECONDS = 1;
/** The bench must end by itself, well under 4 minutes; past this it kills everything and fails. */
const WATCHDOG_MS = 225_000;
/** Time for a key or budget created on one replica to reach the others (they reload every second). */
const PROPAGATION_MS = 10_000;

/** bench/run.ts's "throughput" and "steady" scenarios, unchanged. */
const SCENARIOS: Scenario[] = [THROUGHPUT, STEADY];

type ClusterSide = 'direct' | 'embedded' | 'cluster';
const SIDES: readonly ClusterSide[] = ['direct', 'embedded', 'cluster'];
const SIDE_LABEL: Record<ClusterSide, string> = {
  direct: 'Direct (mock)',
  embedded: 'Embedded (1 process, SQLite)',
  cluster: `Cluster (${REPLICAS} replicas + proxy, Redis + PostgreSQL)`,
};
/** [side, baseline] pairs the report compares. */
const COMPARISONS: ReadonlyArray<[ClusterSide, ClusterSide]> = [
  ['embedded', 'direct'],
  ['cluster', 'direct'],
  ['cluster', 'embedded'],
];

/** Where CPU goes, by role: the embedded gateway, or the cluster's proxy, replicas and stores. */
type CpuRole = 'mock' | 'gateway' | 'proxy' | 'replicas' | 'redis' | 'postgres';
const CPU_ROLES: readonly CpuRole[] = ['mock', 'gateway', 'proxy', 'replicas', 'redis', 'postgres'];

interface SideRun {
  side: ClusterSide;
  round: number;
  result: RunResult;
  /** CPU ms each role used during the measured run. */
  cpu: Partial<Record<CpuRole, number>>;
}

/** The processes to account a side's CPU to: pid → role (the cluster's are found under its supervisor). */
interface CpuSources {
  mockPid: number | undefined;
  gatewayPid: number | undefined;
  clusterPid: number | undefined;
}

function rolesOf(side: ClusterSide, src: CpuSources): Map<number, CpuRole> {
  const roles = new Map<number, CpuRole>();
  if (src.mockPid !== undefined) roles.set(src.mockPid, 'mock');
  if (side === 'embedded' && src.gatewayPid !== undefined) roles.set(src.gatewayPid, 'gateway');
  if (side === 'cluster' && src.clusterPid !== undefined) {
    roles.set(src.clusterPid, 'proxy');
    for (const p of descendants(src.clusterPid)) {
      if (p.comm === 'redis-server') roles.set(p.pid, 'redis');
      else if (p.comm === 'postgres') roles.set(p.pid, 'postgres');
      else if (p.cmdline.includes('tollgate.js start')) roles.set(p.pid, 'replicas');
    }
  }
  return roles;
}

function cpuSnapshot(roles: Map<number, CpuRole>): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of roles.keys()) {
    const ms = cpuMs(pid);
    if (ms !== null) out.set(pid, ms);
  }
  return out;
}

/** CPU used between two snapshots, by role; a process born in between (a new PostgreSQL backend) counts whole. */
function cpuDelta(
  before: Map<number, number>,
  side: ClusterSide,
  src: CpuSources,
): Partial<Record<CpuRole, number>> {
  const roles = rolesOf(side, src);
  const after = cpuSnapshot(roles);
  const out: Partial<Record<CpuRole, number>> = {};
  for (const [pid, ms] of after) {
    const role = roles.get(pid);
    if (role) out[role] = (out[role] ?? 0) + ms - (before.get(pid) ?? 0);
  }
  return out;
}
interface ScenarioRuns {
  scenario: Scenario;
  runs: SideRun[];
}

function log(msg: string): void {
  process.stdout.write(`[bench:cluster ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** bench/run.ts's config: three hard budgets match the bench key (org month, team rolling hour, key month). */
/** `npm run cluster --config <file>` as a child process; its proxy URL once it printed the ready line. */
interface ClusterChild {
  proc: ChildProcess;
  url: string;
  output: () => string;
}

async function spawnCluster(configFile: string, env: Record<string, string>): Promise<ClusterChild> {
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'scripts', 'cluster.ts'),
      '--config',
      configFile,
      '--port',
      '0',
      '--replicas',
      String(REPLICAS),
      ...(PROFILE_DIR ? ['--cpu-prof', PROFILE_DIR] : []),
    ],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const append = (d: Buffer) => {
    out = out.length < 64_000 ? out + d.toString() : out;
  };
  proc.stdout?.on('data', append);
  proc.stderr?.on('data', append);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ready = READY_LINE.exec(out);
    if (ready?.[1]) return { proc, url: ready[1], output: () => out };
    if (proc.exitCode !== null) throw new Error(`npm run cluster exited ${proc.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      await stopCluster({ proc, url: '', output: () => out });
      throw new Error(`npm run cluster was not ready in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGTERM: the supervisor stops its proxy, replicas, Redis and PostgreSQL and deletes its data. */
async function stopCluster(cluster: ClusterChild, graceMs = 40_000): Promise<void> {
  const { proc } = cluster;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

function measureOne(scenario: Scenario, target: Target, seconds: number): Promise<RunResult> {
  if (scenario.generator === 'paced') {
    return runPaced(target, {
      rate: scenario.rate ?? 500,
      connections: scenario.connections,
      seconds,
      stream: scenario.stream,
    });
  }
  return runAutocannon(target, { connections: scenario.connections, seconds, body: NON_STREAM_BODY });
}

function assertClean(scenario: Scenario, side: ClusterSide, phase: string, r: RunResult): void {
  if (r.failures.length > 0 || r.ok !== r.completed) {
    throw new Error(
      `${scenario.id} ${phase} against ${side} failed (${r.ok} valid 2xx for ${r.sent} requests sent): ` +
        `${r.failures.join('; ')}. The numbers would be invalid; aborting.`,
    );
  }
}

async function runScenario(
  scenario: Scenario,
  targets: Record<ClusterSide, Target>,
  totals: Record<ClusterSide, Totals>,
  cpuSources: CpuSources,
): Promise<ScenarioRuns> {
  const runs: SideRun[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = SIDES.map((_, i) => SIDES[(i + round - 1) % SIDES.length]!);
    for (const side of order) {
      const account = (r: RunResult) => {
        totals[side].sent += r.sent;
        totals[side].ok += r.ok;
      };
      const warm = await measureOne(scenario, targets[side], WARMUP_SECONDS);
      account(warm);
      assertClean(scenario, side, 'warm-up', warm);
      const before = cpuSnapshot(rolesOf(side, cpuSources));
      const result = await measureOne(scenario, targets[side], scenario.seconds);
      const cpu = cpuDelta(before, side, cpuSources);
      account(result);
      assertClean(scenario, side, `round ${round}`, result);
      runs.push({ side, round, result, cpu });
      const lat = latencySummary(result.latencies);
      log(
        `  ${scenario.id} round ${round} ${side.padEnd(8)} ${fmtInt(result.completed)} ok in ` +
          `${result.wallSeconds.toFixed(1)} s = ${fmtInt(rateOf(result))} req/s; ` +
          `p50 ${fmtMs(lat.p50)} p90 ${fmtMs(lat.p90)} p99 ${fmtMs(lat.p99)} ms`,
      );
    }
  }
  return { scenario, runs };
}

const rateOf = (r: RunResult) => r.completed / r.wallSeconds;

function runsOf(s: ScenarioRuns, side: ClusterSide): SideRun[] {
  return s.runs.filter((r) => r.side === side);
}

function throughput(s: ScenarioRuns, side: ClusterSide): number {
  const runs = runsOf(s, side);
  return (
    runs.reduce((n, r) => n + r.result.completed, 0) / runs.reduce((n, r) => n + r.result.wallSeconds, 0)
  );
}

function pooled(s: ScenarioRuns, side: ClusterSide): LatencySummary {
  return latencySummary(concat(runsOf(s, side).map((r) => r.result.latencies)));
}

function runAt(s: ScenarioRuns, side: ClusterSide, round: number): RunResult {
  const run = s.runs.find((r) => r.side === side && r.round === round);
  if (!run) throw new Error(`${s.scenario.id}: no ${side} run in round ${round}`);
  return run.result;
}

/** Per round, `side` against `base` in the same round: the req/s ratio, or added p50 / p99 ms. */
function perRound(s: ScenarioRuns, side: ClusterSide, base: ClusterSide): { text: string[]; median: string } {
  const rounds = [...new Set(s.runs.map((r) => r.round))];
  if (s.scenario.kind === 'throughput') {
    const ratios = rounds.map((round) => rateOf(runAt(s, side, round)) / rateOf(runAt(s, base, round)));
    return {
      text: rounds.map((round, i) => {
        const b = rateOf(runAt(s, base, round));
        const v = rateOf(runAt(s, side, round));
        return `${fmtInt(b)} → ${fmtInt(v)} (${ratios[i]!.toFixed(2)}×)`;
      }),
      median: `${median(ratios).toFixed(2)}×`,
    };
  }
  const added = rounds.map((round) => {
    const b = latencySummary(runAt(s, base, round).latencies);
    const v = latencySummary(runAt(s, side, round).latencies);
    return { p50: v.p50 - b.p50, p99: v.p99 - b.p99 };
  });
  return {
    text: added.map((a) => `${fmtSigned(a.p50)} / ${fmtSigned(a.p99)}`),
    median: `${fmtSigned(median(added.map((a) => a.p50)))} / ${fmtSigned(median(added.map((a) => a.p99)))}`,
  };
}

/**
 * The ledger must hold a row per call the side served (none denied, none left pending) and every
 * budget must have counted each of them; for the cluster the rows are in PostgreSQL (written by
 * three replicas) and the counters in Redis.
 */
async function verifyLedger(
  url: string,
  master: string,
  totals: Totals,
  budgetIds: string[],
): Promise<string> {
  const { rows, ok, aborted } = await checkLedger(url, master, totals, budgetIds);
  return (
    `${fmtInt(rows)} ledger rows (${fmtInt(ok)} ok, ${fmtInt(aborted)} client_aborted, 0 denied, 0 pending) ` +
    `for ${fmtInt(totals.ok)} 2xx received of ${fmtInt(totals.sent)} requests sent; ` +
    `the ${budgetIds.length} budgets each counted every call, nothing left reserved`
  );
}

/** Until every replica (the proxy's next N requests) enforces all budgets and accepts the key. */
async function waitForPropagation(url: string, master: string, secret: string, budgetIds: string[]) {
  const deadline = Date.now() + PROPAGATION_MS;
  for (;;) {
    let ready = true;
    for (let i = 0; i < REPLICAS && ready; i++) {
      const b = await admin<{ data: BudgetView[] }>(url, master, 'GET', '/admin/v1/budgets');
      ready = budgetIds.every((id) => b.data.some((x) => x.id === id));
    }
    for (let i = 0; i < REPLICAS && ready; i++) {
      const res = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
      await res.arrayBuffer();
      ready = res.ok;
    }
    if (ready) return;
    if (Date.now() > deadline)
      throw new Error(`key and budgets did not reach every replica in ${PROPAGATION_MS} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function renderMarkdown(input: {
  date: string;
  machine: Machine;
  results: ScenarioRuns[];
  ledger: Record<'embedded' | 'cluster', string>;
  totalSeconds: number;
}): string {
  const { machine: m } = input;
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);
  push('## Cluster mode', '');
  push(`### Run of ${input.date}`, '');
  push('- Command: `npm run bench:cluster` (`tsx bench/cluster.ts`)');
  push(
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB RAM, Node ${m.node}, ${m.platform}; ` +
      `load average at start ${m.loadAvg}`,
  );
  push(
    "- Setup: bench/run.ts's mock (`tollgate mock`, 0 ms latency, 16 output tokens), config (3 hard budgets " +
      'match the key: org calendar-month, team rolling-1h with usd+tokens+requests limits, key-level month ' +
      'created through the admin API) and load, against three sides in the same run. "Embedded" = one ' +
      '`tollgate start` process, SQLite ledger and in-process counters. "Cluster" = `npm run cluster ' +
      `--config <the same config>\`: ${REPLICAS} \`tollgate start\` replicas as child processes, budget counters and ` +
      'rate limits in one local redis-server, config, keys and ledger in one local PostgreSQL 15 ' +
      '(fsync off), and the round-robin proxy (src/cluster/local/roundRobinProxy.ts, in the supervisor ' +
      'process) in front, so the cluster side has one more HTTP hop than the embedded side (about +0.4 ms ' +
      'at p50 on this machine: "bare proxy vs direct" in the section above). Every process shares the ' +
      `same ${m.cores} cores with the load generator. Each scenario runs the three sides in each of ` +
      `${ROUNDS} rounds, rotating the order, each run after a ${WARMUP_SECONDS} s warm-up.`,
  );
  push(`- Ledger check, embedded: ${input.ledger.embedded}`);
  push(`- Ledger check, cluster (rows in PostgreSQL, counters in Redis): ${input.ledger.cluster}`);
  push(`- Bench wall time: ${input.totalSeconds.toFixed(0)} s`, '');
  push(
    `| Scenario | Metric | ${SIDES.map((s) => SIDE_LABEL[s]).join(' | ')} | Embedded vs direct | Cluster vs direct | Cluster vs embedded |`,
    '|---|---|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of input.results) {
    const s = r.scenario;
    const label = `${s.title} (${s.generator}, ${s.connections} conns, ${ROUNDS}×${s.seconds} s per side)`;
    if (s.kind === 'throughput') {
      const rate = (side: ClusterSide) => throughput(r, side);
      push(
        `| ${label} | req/s | ${SIDES.map((x) => fmtInt(rate(x))).join(' | ')} | ` +
          `${COMPARISONS.map(([a, b]) => `${(rate(a) / rate(b)).toFixed(2)}×`).join(' | ')} |`,
      );
      continue;
    }
    const lat = (side: ClusterSide) => pooled(r, side);
    const triple = (l: LatencySummary) => `${fmtMs(l.p50)} / ${fmtMs(l.p90)} / ${fmtMs(l.p99)}`;
    const added = (a: LatencySummary, b: LatencySummary) =>
      `${fmtSigned(a.p50 - b.p50)} / ${fmtSigned(a.p90 - b.p90)} / ${fmtSigned(a.p99 - b.p99)}`;
    push(
      `| ${label} | p50 / p90 / p99 ms | ${SIDES.map((x) => triple(lat(x))).join(' | ')} | ` +
        `${COMPARISONS.map(([a, b]) => added(lat(a), lat(b))).join(' | ')} |`,
    );
  }
  push(
    '',
    'Ratios are req/s over req/s; latency differences are added ms at p50 / p90 / p99 over all samples of ' +
      `the side (${ROUNDS} rounds pooled).`,
    '',
    'Per round, within the same round (throughput: req/s baseline → side; latency: added p50 / added p99 ms):',
    '',
    '| Scenario | Comparison | Rounds | Median of rounds |',
    '|---|---|---|---|',
  );
  for (const r of input.results) {
    COMPARISONS.forEach(([a, b], i) => {
      const pr = perRound(r, a, b);
      push(`| ${i === 0 ? r.scenario.title : '″'} | ${a} vs ${b} | ${pr.text.join('; ')} | ${pr.median} |`);
    });
  }
  push(
    '',
    "CPU per completed request (µs of user+system CPU from /proc over the side's measured runs, all rounds): " +
      "what one call costs each process. The cluster's replicas are summed; PostgreSQL includes every backend.",
    '',
    `| Scenario | Side | ${CPU_ROLES.join(' | ')} | total |`,
    `|---|---|${CPU_ROLES.map(() => '---:').join('|')}|---:|`,
  );
  for (const r of input.results) {
    SIDES.forEach((side, i) => {
      const runs = runsOf(r, side);
      const requests = runs.reduce((n, x) => n + x.result.completed, 0);
      const perRole = CPU_ROLES.map((role) => {
        const ms = runs.reduce((n, x) => n + (x.cpu[role] ?? 0), 0);
        return runs.some((x) => x.cpu[role] !== undefined) ? (ms * 1000) / requests : null;
      });
      const total = perRole.reduce<number>((n, v) => n + (v ?? 0), 0);
      push(
        `| ${i === 0 ? r.scenario.title : '″'} | ${side} | ` +
          `${perRole.map((v) => (v === null ? '–' : fmtInt(v))).join(' | ')} | ${fmtInt(total)} |`,
      );
    });
  }
  push('');
  return lines.join('\n');
}

const CLUSTER_SECTION_START =
  '<!-- bench/cluster.ts results: start (replaced by each `npm run bench:cluster`) -->';
const CLUSTER_SECTION_END = '<!-- bench/cluster.ts results: end -->';

/** Replaces this bench's block in BENCHMARKS.md, or appends it; bench/run.ts's block and the rest stay. */
function writeClusterSection(file: string, section: string): void {
  const block = `${CLUSTER_SECTION_START}\n\n${section}\n${CLUSTER_SECTION_END}`;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const start = current.indexOf(CLUSTER_SECTION_START);
  const end = current.indexOf(CLUSTER_SECTION_END);
  const next =
    start >= 0 && end > start
      ? current.slice(0, start) + block + current.slice(end + CLUSTER_SECTION_END.length)
      : `${current.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const dir = mkdtempSync(join(os.tmpdir(), 'tollgate-bench-cluster-'));
  let cluster: ClusterChild | null = null;
  /** Last resort (signal, watchdog): the cluster supervisor cleans up after itself; the rest is SIGKILLed. */
  const abandon = () => {
    cluster?.proc.kill('SIGTERM');
    killAllNow();
    rmSync(dir, { recursive: true, force: true });
  };
  const watchdog = setTimeout(() => {
    process.stderr.write(
      `bench:cluster: still running after ${WATCHDOG_MS / 1000} s; stopping everything and failing\n`,
    );
    abandon();
    process.exit(2);
  }, WATCHDOG_MS);
  watchdog.unref();
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      abandon();
      process.exit(130);
    });
  }

  const machine: Machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: os.totalmem() / 2 ** 30,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAvg: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  };
  const date = new Date().toISOString();
  const master = randomBytes(24).toString('hex');
  const env = { TOLLGATE_MASTER_KEY: master, TOLLGATE_LOG_LEVEL: 'info' };
  try {
    log(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; temp dir ${dir}`);
    const mock = await spawnMock();
    log(`mock upstream at ${mock.url} (pid ${mock.proc.pid})`);
    const configFile = join(dir, 'tollgate.yaml');
    writeFileSync(configFile, stringify(benchConfig(mock.url, join(dir, 'ledger.db'))));
    const gateway = await spawnGateway(configFile, env, [], dir);
    log(`embedded gateway at ${gateway.url} (pid ${gateway.proc.pid})`);
    cluster = await spawnCluster(configFile, env);
    log(`cluster proxy at ${cluster.url} (supervisor pid ${cluster.proc.pid}, ${REPLICAS} replicas)`);

    const embeddedKey = await createBenchKey(gateway.url, master);
    const clusterKey = await createBenchKey(cluster.url, master);
    await waitForPropagation(cluster.url, master, clusterKey.secret, clusterKey.budgetIds);
    log(`keys created; budgets enforced: ${clusterKey.budgetIds.slice(0, 2).join(', ')} and the key's own`);

    const targets: Record<ClusterSide, Target> = {
      direct: { name: 'direct', url: mock.url, headers: {} },
      embedded: {
        name: 'gateway',
        url: gateway.url,
        headers: { authorization: `Bearer ${embeddedKey.secret}` },
      },
      cluster: {
        name: 'gateway',
        url: cluster.url,
        headers: { authorization: `Bearer ${clusterKey.secret}` },
      },
    };
    const totals: Record<ClusterSide, Totals> = {
      direct: { sent: 0, ok: 0 },
      embedded: { sent: 0, ok: 0 },
      cluster: { sent: 0, ok: 0 },
    };
    const cpuSources: CpuSources = {
      mockPid: mock.proc.pid,
      gatewayPid: gateway.proc.pid,
      clusterPid: cluster.proc.pid,
    };
    const results: ScenarioRuns[] = [];
    for (const scenario of SCENARIOS) {
      log(`scenario ${scenario.id}: ${scenario.title}`);
      results.push(await runScenario(scenario, targets, totals, cpuSources));
    }
    const ledger = {
      embedded: await verifyLedger(gateway.url, master, totals.embedded, embeddedKey.budgetIds),
      cluster: await verifyLedger(cluster.url, master, totals.cluster, clusterKey.budgetIds),
    };
    log(`ledger, embedded: ${ledger.embedded}`);
    log(`ledger, cluster: ${ledger.cluster}`);

    const markdown = renderMarkdown({
      date,
      machine,
      results,
      ledger,
      totalSeconds: (performance.now() - t0) / 1000,
    });
    process.stdout.write(`\n${markdown}\n`);
    if (SCALE === 1 && !PROFILE_DIR) {
      const file = join(ROOT, 'BENCHMARKS.md');
      writeClusterSection(file, markdown);
      log(`results written to ${file}`);
    } else {
      log(`${PROFILE_DIR ? 'profiled' : 'scaled'} run: BENCHMARKS.md left unchanged`);
    }
  } finally {
    if (cluster) await stopCluster(cluster);
    await stopAll(3_000);
    rmSync(dir, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `\nbench:cluster FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
