/**
 * `npm run bench`: gateway overhead against calling the mock upstream directly and against a bare
 * reverse proxy (bench/bare-proxy.ts), side by side.
 *
 * Mock, bare proxy and gateway each run in their own child process; the load generator runs here.
 * Every scenario runs the three sides in every round, rotating the order (D B G, B G D, G D B) so
 * machine noise hits all alike, and any error or non-2xx response aborts the bench (a denial would
 * invalidate the numbers). Bare proxy − direct is the cost of one more HTTP hop; gateway − bare
 * proxy is the cost of Tollgate's enforcement.
 *
 * Environment:
 *   BENCH_SCALE=0.3       shorter runs (a smoke test); results are not written to BENCHMARKS.md
 *   BENCH_CPU_PROF=DIR    start the gateway with --cpu-prof into DIR (numbers are skewed; not written)
 *   BENCH_ONLY=id,id      run only these scenarios (not written); `ac-rate` runs only when named here
 *   BENCH_LEDGER_DIR=/dev/shm  put the temp dir (SQLite ledger) there, e.g. tmpfs to take fsync out (not written)
 *   BENCH_GATEWAY_NODE_FLAGS="--perf-basic-prof"  extra node flags for the gateway (e.g. for `perf record`; not written)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { admin, type BudgetView, checkLedger, type Totals } from './ledgerCheck.ts';
import {
  NON_STREAM_BODY,
  type RunResult,
  runAutocannon,
  runPaced,
  type Side,
  STREAM_BODY,
  type Target,
} from './load.ts';
import {
  type Child,
  cpuMs,
  killAllNow,
  machineCpuMs,
  ROOT,
  spawnBareProxy,
  spawnGateway,
  spawnMock,
  stopAll,
} from './procs.ts';
import {
  addedPerRound,
  type CpuDelta,
  cpuPerRequest,
  fmtInt,
  fmtMs,
  latencySummary,
  type MeasuredRun,
  median,
  pooledLatency,
  renderMarkdown,
  type Scenario,
  type ScenarioResult,
  SIDES,
  throughputOf,
  type Verdict,
  writeBenchmarksFile,
} from './report.ts';
import { benchConfig, createBenchKey, SCALE, STEADY, secs, THROUGHPUT } from './scenarios.ts';

const PROFILE_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : null;
const GATEWAY_FLAGS = (process.env.BENCH_GATEWAY_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f.length > 0);
const LEDGER_DIR = process.env.BENCH_LEDGER_DIR || null;
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const ROUNDS = 3;
const WARMUP_SECONDS = 1;
/** The bench must end by itself; past this it kills everything and fails. */
const WATCHDOG_MS = 210_000;

const TARGET_RPS = 3_000;
const TARGET_ADDED_P50_MS = 0.5;
const TARGET_ADDED_P99_MS = 2;

const SCENARIOS: Scenario[] = [
  THROUGHPUT,
  STEADY,
  {
    id: 'ac-rate',
    title: '500 req/s autocannon overallRate (bursty), non-stream',
    kind: 'latency',
    generator: 'autocannon',
    connections: 16,
    rate: 500,
    seconds: secs(3),
    stream: false,
    // Bursts, not a steady rate (see load.ts); with three sides it would push the run past 3 minutes.
    optIn: true,
  },
  {
    id: 'stream',
    title: '500 req/s steady, stream + include_usage',
    kind: 'latency',
    generator: 'paced',
    connections: 16,
    rate: 500,
    seconds: secs(4),
    stream: true,
  },
];

function log(msg: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function writeConfig(dir: string, mockUrl: string): string {
  const file = join(dir, 'tollgate.yaml');
  writeFileSync(file, stringify(benchConfig(mockUrl, join(dir, 'ledger.db'))));
  return file;
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
  return runAutocannon(target, {
    connections: scenario.connections,
    seconds,
    overallRate: scenario.rate,
    body: scenario.stream ? STREAM_BODY : NON_STREAM_BODY,
  });
}

function assertClean(scenario: Scenario, phase: string, r: RunResult): void {
  if (r.failures.length > 0 || r.ok !== r.completed) {
    throw new Error(
      `${scenario.id} ${phase} against ${r.target} failed (${r.ok} valid 2xx for ${r.sent} requests sent): ` +
        `${r.failures.join('; ')}. The numbers would be invalid; aborting.`,
    );
  }
}

async function runScenario(
  scenario: Scenario,
  targets: Record<Side, Target>,
  procs: { mock: Child; bare: Child; gateway: Child },
  gatewayTotals: Totals,
): Promise<ScenarioResult> {
  const runs: MeasuredRun[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Rotate the order (D B G, B G D, G D B), so a drift in background load does not favour one side.
    const order = SIDES.map((_, i) => targets[SIDES[(i + round - 1) % SIDES.length]!]);
    for (const target of order) {
      const account = (r: RunResult) => {
        if (target.name !== 'gateway') return;
        gatewayTotals.sent += r.sent;
        gatewayTotals.ok += r.ok;
      };
      const warm = await measureOne(scenario, target, WARMUP_SECONDS);
      account(warm);
      assertClean(scenario, 'warm-up', warm);

      const mock0 = cpuMs(procs.mock.proc.pid);
      const proxy0 = cpuMs(procs.bare.proc.pid);
      const gw0 = cpuMs(procs.gateway.proc.pid);
      const bench0 = process.cpuUsage();
      const machine0 = machineCpuMs();
      const wall0 = performance.now();
      const result = await measureOne(scenario, target, scenario.seconds);
      const wallMs = performance.now() - wall0;
      const machine1 = machineCpuMs();
      const bench1 = process.cpuUsage(bench0);
      const mock1 = cpuMs(procs.mock.proc.pid);
      const proxy1 = cpuMs(procs.bare.proc.pid);
      const gw1 = cpuMs(procs.gateway.proc.pid);
      account(result);
      assertClean(scenario, `round ${round}`, result);
      const mockMs = mock0 === null || mock1 === null ? null : mock1 - mock0;
      const proxyMs = proxy0 === null || proxy1 === null ? null : proxy1 - proxy0;
      const gatewayMs = gw0 === null || gw1 === null ? null : gw1 - gw0;
      const benchMs = (bench1.user + bench1.system) / 1000;
      const cpu: CpuDelta = {
        mockMs,
        proxyMs,
        gatewayMs,
        benchMs,
        otherMs:
          machine0 && machine1 && mockMs !== null && proxyMs !== null && gatewayMs !== null
            ? machine1.busy - machine0.busy - mockMs - proxyMs - gatewayMs - benchMs
            : null,
        stealMs: machine0 && machine1 ? machine1.steal - machine0.steal : null,
        wallMs,
      };
      runs.push({ round, result, cpu });
      log(`  ${scenario.id} round ${round} ${target.name.padEnd(7)} ${summarizeRun(result, cpu)}`);
    }
  }
  return { scenario, runs };
}

function summarizeRun(r: RunResult, cpu: CpuDelta): string {
  const rps = r.completed / r.wallSeconds;
  const lat = latencySummary(r.latencies);
  const late = r.schedulerLateP99 === null ? '' : `, send late p99 ${fmtMs(r.schedulerLateP99)} ms`;
  const noise =
    cpu.otherMs === null ? '' : `, other procs ${(Math.max(0, cpu.otherMs) / cpu.wallMs).toFixed(2)} cores`;
  return (
    `${fmtInt(r.completed)} ok in ${r.wallSeconds.toFixed(1)} s = ${fmtInt(rps)} req/s; ` +
    `p50 ${fmtMs(lat.p50)} p90 ${fmtMs(lat.p90)} p99 ${fmtMs(lat.p99)} ms${late}${noise}`
  );
}

/** The ledger must hold one row per call the gateway served, none denied. Returns a one-line summary. */
async function verifyLedger(
  gatewayUrl: string,
  master: string,
  totals: Totals,
  budgetIds: string[],
): Promise<string> {
  const { rows, ok, aborted } = await checkLedger(gatewayUrl, master, totals, budgetIds);
  return (
    `${fmtInt(rows)} ledger rows (${fmtInt(ok)} ok, ${fmtInt(aborted)} client_aborted, 0 denied) for ` +
    `${fmtInt(totals.ok)} 2xx responses received and ${fmtInt(totals.sent)} requests sent through the gateway ` +
    `(the difference is requests in flight when autocannon cut its connections at the end of a run); ` +
    `budgets ${budgetIds.join(', ')} each counted every call`
  );
}

/** Added p50 / p99 of `side` over `base` at 500 req/s, pooled and as a median of rounds, against the targets. */
function addedLatency(r: ScenarioResult, side: Side, base: Side) {
  const b = pooledLatency(r, base);
  const s = pooledLatency(r, side);
  const a50 = s.p50 - b.p50;
  const a99 = s.p99 - b.p99;
  const rounds = addedPerRound(r, side, base);
  const met = a50 <= TARGET_ADDED_P50_MS && a99 <= TARGET_ADDED_P99_MS;
  const text =
    `all samples: added p50 ${fmtMs(a50)} ms (${a50 <= TARGET_ADDED_P50_MS ? 'within' : 'over'}), ` +
    `added p99 ${fmtMs(a99)} ms (${a99 <= TARGET_ADDED_P99_MS ? 'within' : 'over'}); ` +
    `median of ${rounds.length} rounds: ${fmtMs(median(rounds.map((x) => x.p50)))} / ` +
    `${fmtMs(median(rounds.map((x) => x.p99)))} ms`;
  return { met, text };
}

function verdicts(results: ScenarioResult[]): Verdict[] {
  const out: Verdict[] = [];
  const vsBare: string[] = [];
  const tp = results.find((r) => r.scenario.id === 'throughput');
  if (tp) {
    const g = throughputOf(tp, 'gateway');
    const b = throughputOf(tp, 'bare');
    const d = throughputOf(tp, 'direct');
    const us = cpuPerRequest(tp, 'gateway').gateway;
    const ceiling =
      us === null
        ? ''
        : `; the gateway spent ${fmtInt(us)} µs of CPU per request, i.e. at most ~${fmtInt(1e6 / us)} req/s on one fully available core`;
    out.push({
      label: `≥ ${fmtInt(TARGET_RPS)} req/s through one gateway process`,
      met: g >= TARGET_RPS,
      detail:
        `${fmtInt(g)} req/s, ${((g / d) * 100).toFixed(0)}% of direct ${fmtInt(d)} req/s, with the load generator ` +
        `and the mock on the same ${os.cpus().length} cores${ceiling}`,
    });
    const bareUs = cpuPerRequest(tp, 'bare').proxy;
    vsBare.push(
      `max throughput ${fmtInt(g)} req/s = ${((g / b) * 100).toFixed(0)}% of the bare proxy's ${fmtInt(b)} req/s` +
        (us === null || bareUs === null
          ? ''
          : ` (gateway ${fmtInt(us)} µs CPU/req vs bare proxy ${fmtInt(bareUs)} µs/req)`),
    );
  }
  for (const id of ['steady', 'ac-rate']) {
    const r = results.find((x) => x.scenario.id === id);
    if (!r) continue;
    const kind = r.scenario.generator === 'paced' ? 'steady, open-loop' : 'autocannon overallRate, bursty';
    const vsDirect = addedLatency(r, 'gateway', 'direct');
    out.push({
      label: `added p50 ≤ ${TARGET_ADDED_P50_MS} ms and p99 ≤ ${TARGET_ADDED_P99_MS} ms at 500 req/s non-stream (${kind})`,
      met: vsDirect.met,
      detail: vsDirect.text,
    });
    if (id === 'steady') vsBare.push(`at 500 req/s steady ${addedLatency(r, 'gateway', 'bare').text}`);
  }
  if (vsBare.length > 0) {
    out.push({
      label:
        "the same numbers against the bare proxy (Tollgate's enforcement alone; " +
        `p50 ≤ ${TARGET_ADDED_P50_MS} ms, p99 ≤ ${TARGET_ADDED_P99_MS} ms)`,
      met: null,
      detail: vsBare.join('; '),
    });
  }
  return out;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const dir = mkdtempSync(join(LEDGER_DIR ?? os.tmpdir(), 'tollgate-bench-'));
  /** Last resort (signal, watchdog, exit): SIGKILL the children and drop the temp dir. */
  const abandon = () => {
    killAllNow();
    rmSync(dir, { recursive: true, force: true });
  };
  const watchdog = setTimeout(() => {
    process.stderr.write(
      `bench: still running after ${WATCHDOG_MS / 1000} s; killing children and failing\n`,
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

  const machine = {
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
  try {
    log(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; temp dir ${dir}`);
    const mock = await spawnMock();
    log(`mock upstream at ${mock.url} (pid ${mock.proc.pid})`);
    const bare = await spawnBareProxy(mock.url);
    log(`bare proxy at ${bare.url} (pid ${bare.proc.pid})`);
    const configFile = writeConfig(dir, mock.url);
    const nodeFlags: string[] = [...GATEWAY_FLAGS];
    if (PROFILE_DIR) {
      mkdirSync(PROFILE_DIR, { recursive: true });
      nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`);
    }
    const gateway = await spawnGateway(
      configFile,
      { TOLLGATE_MASTER_KEY: master, TOLLGATE_LOG_LEVEL: 'info' },
      nodeFlags,
      dir,
    );
    log(
      `gateway at ${gateway.url} (pid ${gateway.proc.pid})${PROFILE_DIR ? `, profiling into ${PROFILE_DIR}` : ''}`,
    );

    const { secret, budgetIds } = await createBenchKey(gateway.url, master);
    const policies = await admin<{ data: BudgetView[] }>(gateway.url, master, 'GET', '/admin/v1/budgets');
    for (const id of budgetIds) {
      if (!policies.data.some((p) => p.id === id)) throw new Error(`budget ${id} is not active`);
    }
    log(`virtual key created; budgets enforced: ${budgetIds.join(', ')}`);

    const targets: Record<Side, Target> = {
      direct: { name: 'direct', url: mock.url, headers: {} },
      bare: { name: 'bare', url: bare.url, headers: {} },
      gateway: {
        name: 'gateway',
        url: gateway.url,
        headers: { authorization: `Bearer ${secret}` },
      },
    };
    const totals: Totals = { sent: 0, ok: 0 };
    const results: ScenarioResult[] = [];
    for (const scenario of SCENARIOS) {
      if (ONLY ? !ONLY.has(scenario.id) : scenario.optIn) continue;
      log(`scenario ${scenario.id}: ${scenario.title}`);
      results.push(await runScenario(scenario, targets, { mock, bare, gateway }, totals));
    }

    const ledgerCheck = await verifyLedger(gateway.url, master, totals, budgetIds);
    log(`ledger: ${ledgerCheck}`);

    const markdown = renderMarkdown({
      date,
      machine,
      results,
      verdicts: verdicts(results),
      ledgerCheck,
      totalSeconds: (performance.now() - t0) / 1000,
    });
    process.stdout.write(`\n${markdown}\n`);
    if (SCALE === 1 && !PROFILE_DIR && !ONLY && !LEDGER_DIR && GATEWAY_FLAGS.length === 0) {
      const file = join(ROOT, 'BENCHMARKS.md');
      writeBenchmarksFile(file, markdown);
      log(`results written to ${file}`);
    } else {
      log('partial, scaled or profiled run: BENCHMARKS.md left unchanged');
    }
  } finally {
    await stopAll(PROFILE_DIR ? 30_000 : 3_000);
    rmSync(dir, { recursive: true, force: true });
    clearTimeout(watchdog);
    if (PROFILE_DIR)
      log(
        `gateway CPU profile written to ${PROFILE_DIR}; inspect with: npx tsx bench/cpuprofile.ts ${PROFILE_DIR}`,
      );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `\nbench FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
