import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { concat, percentile, type RunResult, type Side } from './load.ts';

/** The three sides, in the order the tables show them. */
export const SIDES: readonly Side[] = ['direct', 'bare', 'gateway'];

/** The comparisons the report makes: [side, baseline, what the difference is]. */
export const COMPARISONS: ReadonlyArray<{ side: Side; base: Side; label: string }> = [
  { side: 'bare', base: 'direct', label: 'bare proxy vs direct (a proxy hop)' },
  { side: 'gateway', base: 'bare', label: "gateway vs bare proxy (Tollgate's enforcement)" },
  { side: 'gateway', base: 'direct', label: 'gateway vs direct (total)' },
];

export interface CpuDelta {
  mockMs: number | null;
  /** The bare proxy process. */
  proxyMs: number | null;
  gatewayMs: number | null;
  benchMs: number;
  /** CPU used by every other process on the machine during the run (the noise), ms. */
  otherMs: number | null;
  /** Hypervisor steal during the run, ms. */
  stealMs: number | null;
  wallMs: number;
}

export interface MeasuredRun {
  round: number;
  result: RunResult;
  cpu: CpuDelta;
}

export type ScenarioKind = 'throughput' | 'latency';

export interface Scenario {
  id: string;
  title: string;
  kind: ScenarioKind;
  generator: 'autocannon' | 'paced';
  connections: number;
  seconds: number;
  rate?: number;
  stream: boolean;
  /** Not part of the default run (BENCH_ONLY=<id> runs it). */
  optIn?: boolean;
}

export interface ScenarioResult {
  scenario: Scenario;
  runs: MeasuredRun[];
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  count: number;
}

export interface Verdict {
  label: string;
  /** null: a reference line, not one of the targets. */
  met: boolean | null;
  detail: string;
}

export function latencySummary(samples: Float64Array): LatencySummary {
  return {
    p50: percentile(samples, 0.5),
    p90: percentile(samples, 0.9),
    p99: percentile(samples, 0.99),
    count: samples.length,
  };
}

function runsOf(r: ScenarioResult, target: Side): MeasuredRun[] {
  return r.runs.filter((m) => m.result.target === target);
}

export function roundsOf(r: ScenarioResult): number[] {
  return [...new Set(r.runs.map((m) => m.round))];
}

function runAt(r: ScenarioResult, round: number, target: Side): RunResult {
  const run = r.runs.find((m) => m.round === round && m.result.target === target);
  if (!run) throw new Error(`${r.scenario.id}: no ${target} run in round ${round}`);
  return run.result;
}

const rateOf = (x: RunResult) => x.completed / x.wallSeconds;

export function throughputOf(r: ScenarioResult, target: Side): number {
  const runs = runsOf(r, target);
  const done = runs.reduce((n, m) => n + m.result.completed, 0);
  const secs = runs.reduce((n, m) => n + m.result.wallSeconds, 0);
  return done / secs;
}

export function pooledLatency(
  r: ScenarioResult,
  target: Side,
  which: 'full' | 'ttfb' = 'full',
): LatencySummary {
  const arrays = runsOf(r, target).map((m) =>
    which === 'ttfb' ? (m.result.ttfb ?? new Float64Array()) : m.result.latencies,
  );
  return latencySummary(concat(arrays));
}

/** Throughput of `side` over `base` in each round. */
export function ratioPerRound(r: ScenarioResult, side: Side, base: Side): number[] {
  return roundsOf(r).map((round) => rateOf(runAt(r, round, side)) / rateOf(runAt(r, round, base)));
}

/** Added latency per round (`side` minus `base`, same round), at p50 and p99. */
export function addedPerRound(
  r: ScenarioResult,
  side: Side,
  base: Side,
): Array<{ p50: number; p99: number }> {
  return roundsOf(r).map((round) => {
    const b = latencySummary(runAt(r, round, base).latencies);
    const s = latencySummary(runAt(r, round, side).latencies);
    return { p50: s.p50 - b.p50, p99: s.p99 - b.p99 };
  });
}

/** Per round, `side` against `base`: req/s base → side (ratio), or added p50 / added p99 ms. */
export function perRound(r: ScenarioResult, side: Side, base: Side): string[] {
  if (r.scenario.kind === 'throughput') {
    return roundsOf(r).map((round) => {
      const b = rateOf(runAt(r, round, base));
      const s = rateOf(runAt(r, round, side));
      return `${fmtInt(b)} → ${fmtInt(s)} (${(s / b).toFixed(2)}×)`;
    });
  }
  return addedPerRound(r, side, base).map((a) => `${fmtSigned(a.p50)} / ${fmtSigned(a.p99)}`);
}

/** CPU milliseconds per 1,000 requests = CPU µs per request, per process, over `target`'s runs. */
export function cpuPerRequest(
  r: ScenarioResult,
  target: Side,
): { mock: number | null; proxy: number | null; gateway: number | null; bench: number } {
  const runs = runsOf(r, target);
  const reqs = runs.reduce((n, m) => n + m.result.completed, 0);
  const sum = (pick: (c: CpuDelta) => number | null): number | null => {
    let total = 0;
    for (const m of runs) {
      const v = pick(m.cpu);
      if (v === null) return null;
      total += v;
    }
    return (total * 1000) / reqs;
  };
  return {
    mock: sum((c) => c.mockMs),
    proxy: target === 'bare' ? sum((c) => c.proxyMs) : null,
    gateway: target === 'gateway' ? sum((c) => c.gatewayMs) : null,
    bench: sum((c) => c.benchMs) ?? 0,
  };
}

/** Average cores busy with other processes (and stolen by the hypervisor) during a target's runs. */
export function backgroundCores(r: ScenarioResult, target: Side): { other: number; steal: number } | null {
  const runs = runsOf(r, target);
  let other = 0;
  let steal = 0;
  let wall = 0;
  for (const m of runs) {
    if (m.cpu.otherMs === null || m.cpu.stealMs === null) return null;
    other += m.cpu.otherMs;
    steal += m.cpu.stealMs;
    wall += m.cpu.wallMs;
  }
  return { other: Math.max(0, other) / wall, steal: steal / wall };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtMs = (n: number) => (Math.abs(n) < 10 ? n.toFixed(2) : n.toFixed(1));
export const fmtSigned = (n: number) => (n >= 0 ? `+${fmtMs(n)}` : fmtMs(n));
const fmtTriple = (s: LatencySummary) => `${fmtMs(s.p50)} / ${fmtMs(s.p90)} / ${fmtMs(s.p99)}`;
const fmtAdded = (g: LatencySummary, d: LatencySummary) =>
  `${fmtSigned(g.p50 - d.p50)} / ${fmtSigned(g.p90 - d.p90)} / ${fmtSigned(g.p99 - d.p99)}`;
const fmtUs = (n: number | null) => (n === null ? 'n/a' : fmtInt(n));
const fmtCores = (b: { other: number; steal: number } | null, pick: 'other' | 'steal') =>
  b === null ? 'n/a' : b[pick].toFixed(2);

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  loadAvg: string;
}

export interface ReportInput {
  date: string;
  machine: Machine;
  results: ScenarioResult[];
  verdicts: Verdict[];
  ledgerCheck: string;
  totalSeconds: number;
}

/** The markdown section: summary table, verdicts, per-round spread, CPU cost per request, noise. */
export function renderMarkdown(input: ReportInput): string {
  const { machine: m } = input;
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);
  push(`### Run of ${input.date}`, '');
  push('- Command: `npm run bench` (`tsx bench/run.ts`)');
  push(
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB RAM, Node ${m.node}, ${m.platform}; ` +
      `load average at start ${m.loadAvg}`,
  );
  push(
    '- Setup: mock upstream (`tollgate mock`: 0 ms latency, 16 output tokens), bare proxy and gateway ' +
      '(`tollgate start`, SQLite ledger in a temp dir, 3 hard budgets matching the key: org calendar-month, ' +
      'team rolling-1h with usd+tokens+requests limits, key-level month via the admin API) each in its own ' +
      'child process; the load generator in the bench process; all four share the same cores. ' +
      '"Direct" = load generator → mock. "Bare proxy" = load generator → bench/bare-proxy.ts → mock: a ' +
      "node:http server and an undici Pool with the gateway's connection settings (128 keep-alive " +
      'connections, pipelining 1) that forwards the request body and streams the response back byte for ' +
      'byte, with no parsing, auth, budgets or ledger. "Gateway" = load generator → gateway → mock. ' +
      'So bare proxy − direct is the cost of a second HTTP hop on this machine, and gateway − bare proxy ' +
      "is the cost of Tollgate's enforcement. Each scenario runs the three sides in every round and " +
      'rotates the order (round 1 direct, bare, gateway; round 2 bare, gateway, direct; round 3 gateway, ' +
      'direct, bare), each run after a 1 s warm-up, keep-alive connections, ' +
      `body \`${'{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hello"}],"max_tokens":16}'}\`.`,
  );
  const bursty = input.results.some((r) => r.scenario.generator === 'autocannon' && r.scenario.rate);
  push(
    '- "paced" = open-loop generator in bench/load.ts: request i is sent at t0 + i/rate over a keep-alive pool ' +
      '(undici), latency from send to last body byte.' +
      (bursty
        ? ' "autocannon overallRate" sends each connection\'s per-second quota back to back at the top of ' +
          'every second, so its latencies are those of 1-second bursts at full concurrency, not of a steady ' +
          '500 req/s; it is kept for comparison only.'
        : ''),
  );
  push(`- Ledger check: ${input.ledgerCheck}`);
  push(`- Bench wall time: ${input.totalSeconds.toFixed(0)} s`, '');

  push(
    '| Scenario | Metric | Direct (mock) | Bare proxy | Through gateway | Bare proxy vs direct | Gateway vs bare proxy | Gateway vs direct |',
  );
  push('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const r of input.results) {
    const s = r.scenario;
    const label = `${s.title} (${s.generator}, ${s.connections} conns, ${roundsOf(r).length}×${s.seconds} s per side)`;
    if (s.kind === 'throughput') {
      const [d, b, g] = SIDES.map((side) => throughputOf(r, side)) as [number, number, number];
      push(
        `| ${label} | req/s | ${fmtInt(d)} | ${fmtInt(b)} | ${fmtInt(g)} | ` +
          `${(b / d).toFixed(2)}× | ${(g / b).toFixed(2)}× | ${(g / d).toFixed(2)}× |`,
      );
      continue;
    }
    const row = (metric: string, which: 'full' | 'ttfb', first: string) => {
      const [d, b, g] = SIDES.map((side) => pooledLatency(r, side, which)) as [
        LatencySummary,
        LatencySummary,
        LatencySummary,
      ];
      push(
        `| ${first} | ${metric} | ${fmtTriple(d)} | ${fmtTriple(b)} | ${fmtTriple(g)} | ` +
          `${fmtAdded(b, d)} | ${fmtAdded(g, b)} | ${fmtAdded(g, d)} |`,
      );
    };
    if (!s.stream) row('p50 / p90 / p99 ms', 'full', label);
    else {
      row('full response p50 / p90 / p99 ms', 'full', label);
      row('response headers p50 / p90 / p99 ms', 'ttfb', '″');
    }
  }
  push(
    '',
    'Ratios are req/s over req/s; latency differences are added ms at p50 / p90 / p99 over all samples of the ' +
      'side (3 rounds pooled).',
  );
  push('', 'Targets (issue; measured against direct, the last line against the bare proxy):', '');
  for (const v of input.verdicts) {
    const tag = v.met === null ? '**reference**' : v.met ? '**met**' : '**NOT met**';
    push(`- ${tag}: ${v.label}: ${v.detail}`);
  }
  push(
    '',
    'Per round, each comparison within the same round (throughput: req/s baseline → side; latency: added p50 / added p99 ms):',
    '',
  );
  push('| Scenario | Comparison | Rounds | Median of rounds |', '|---|---|---|---|');
  for (const r of input.results) {
    COMPARISONS.forEach(({ side, base, label }, i) => {
      let med: string;
      if (r.scenario.kind === 'throughput') med = `${median(ratioPerRound(r, side, base)).toFixed(2)}×`;
      else {
        const added = addedPerRound(r, side, base);
        med = `${fmtSigned(median(added.map((a) => a.p50)))} / ${fmtSigned(median(added.map((a) => a.p99)))}`;
      }
      push(
        `| ${i === 0 ? r.scenario.title : '″'} | ${label} | ${perRound(r, side, base).join('; ')} | ${med} |`,
      );
    });
  }
  push(
    '',
    'CPU cost and noise: µs of user+system CPU per completed request for each process (from /proc), and the ' +
      "average number of cores busy with other processes on the machine during the runs (other engineers' " +
      'builds and tests; the noise), for the direct / bare proxy / gateway runs. "Gateway − bare proxy" is ' +
      "the CPU Tollgate's enforcement adds on top of forwarding:",
    '',
  );
  push(
    '| Scenario | mock µs/req direct / via bare / via gateway | bare proxy µs/req | gateway µs/req | gateway − bare proxy µs/req | load generator µs/req direct / bare / gateway | other processes, cores direct / bare / gateway | steal, cores direct / bare / gateway |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of input.results) {
    const [d, b, g] = SIDES.map((side) => cpuPerRequest(r, side)) as [
      ReturnType<typeof cpuPerRequest>,
      ReturnType<typeof cpuPerRequest>,
      ReturnType<typeof cpuPerRequest>,
    ];
    const bg = SIDES.map((side) => backgroundCores(r, side));
    const enforcement = g.gateway === null || b.proxy === null ? null : g.gateway - b.proxy;
    push(
      `| ${r.scenario.title} | ${fmtUs(d.mock)} / ${fmtUs(b.mock)} / ${fmtUs(g.mock)} | ${fmtUs(b.proxy)} | ` +
        `${fmtUs(g.gateway)} | ${fmtUs(enforcement)} | ${fmtUs(d.bench)} / ${fmtUs(b.bench)} / ${fmtUs(g.bench)} | ` +
        `${bg.map((x) => fmtCores(x, 'other')).join(' / ')} | ${bg.map((x) => fmtCores(x, 'steal')).join(' / ')} |`,
    );
  }
  push('');
  return lines.join('\n');
}

export const SECTION_START = '<!-- bench/run.ts results: start (replaced by each `npm run bench`) -->';
export const SECTION_END = '<!-- bench/run.ts results: end -->';

const FILE_HEADER = `# Benchmarks

Overhead of the Tollgate gateway against calling the mock upstream directly and against a bare
Node reverse proxy (bench/bare-proxy.ts), measured side by side in the same run (DESIGN.md
"Testing → Benchmark"). Regenerate with \`npm run bench\`.

## Latest results

`;

/** Replaces the generated block in BENCHMARKS.md (creating the file if needed); text outside it is kept. */
export function writeBenchmarksFile(file: string, section: string): void {
  const block = `${SECTION_START}\n\n${section}\n${SECTION_END}`;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const start = current.indexOf(SECTION_START);
  const end = current.indexOf(SECTION_END);
  let next: string;
  if (start >= 0 && end > start) {
    next = current.slice(0, start) + block + current.slice(end + SECTION_END.length);
  } else if (current.length > 0) {
    next = `${current.trimEnd()}\n\n## Latest results\n\n${block}\n`;
  } else {
    next = `${FILE_HEADER}${block}\n`;
  }
  writeFileSync(file, next);
}
