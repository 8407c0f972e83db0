import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { concat, percentile, type RunResult } from './load.ts';

export interface CpuDelta {
  mockMs: number | null;
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
  met: boolean;
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

function runsOf(r: ScenarioResult, target: RunResult['target']): MeasuredRun[] {
  return r.runs.filter((m) => m.result.target === target);
}

export function throughputOf(r: ScenarioResult, target: RunResult['target']): number {
  const runs = runsOf(r, target);
  const done = runs.reduce((n, m) => n + m.result.completed, 0);
  const secs = runs.reduce((n, m) => n + m.result.wallSeconds, 0);
  return done / secs;
}

export function pooledLatency(
  r: ScenarioResult,
  target: RunResult['target'],
  which: 'full' | 'ttfb' = 'full',
): LatencySummary {
  const arrays = runsOf(r, target).map((m) =>
    which === 'ttfb' ? (m.result.ttfb ?? new Float64Array()) : m.result.latencies,
  );
  return latencySummary(concat(arrays));
}

/** Per round: gateway minus direct (latency scenarios) or gateway / direct (throughput). */
export function perRound(r: ScenarioResult): string[] {
  const rounds = [...new Set(r.runs.map((m) => m.round))];
  return rounds.map((round) => {
    const d = r.runs.find((m) => m.round === round && m.result.target === 'direct')!.result;
    const g = r.runs.find((m) => m.round === round && m.result.target === 'gateway')!.result;
    if (r.scenario.kind === 'throughput') {
      const dr = d.completed / d.wallSeconds;
      const gr = g.completed / g.wallSeconds;
      return `${fmtInt(dr)} → ${fmtInt(gr)} (${(gr / dr).toFixed(2)}×)`;
    }
    const ds = latencySummary(d.latencies);
    const gs = latencySummary(g.latencies);
    return `${fmtSigned(gs.p50 - ds.p50)} / ${fmtSigned(gs.p99 - ds.p99)}`;
  });
}

/** CPU milliseconds per 1,000 requests = CPU µs per request, per process. */
export function cpuPerRequest(
  r: ScenarioResult,
  target: RunResult['target'],
): { mock: number | null; gateway: number | null; bench: number } {
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
    gateway: target === 'gateway' ? sum((c) => c.gatewayMs) : null,
    bench: sum((c) => c.benchMs) ?? 0,
  };
}

/** Average cores busy with other processes (and stolen by the hypervisor) during a target's runs. */
export function backgroundCores(
  r: ScenarioResult,
  target: RunResult['target'],
): { other: number; steal: number } | null {
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

/** Added latency per round (gateway minus direct, same round), at p50 and p99. */
export function addedPerRound(r: ScenarioResult): Array<{ p50: number; p99: number }> {
  const rounds = [...new Set(r.runs.map((m) => m.round))];
  return rounds.map((round) => {
    const d = latencySummary(
      r.runs.find((m) => m.round === round && m.result.target === 'direct')!.result.latencies,
    );
    const g = latencySummary(
      r.runs.find((m) => m.round === round && m.result.target === 'gateway')!.result.latencies,
    );
    return { p50: g.p50 - d.p50, p99: g.p99 - d.p99 };
  });
}

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtMs = (n: number) => (Math.abs(n) < 10 ? n.toFixed(2) : n.toFixed(1));
export const fmtSigned = (n: number) => (n >= 0 ? `+${fmtMs(n)}` : fmtMs(n));
const fmtTriple = (s: LatencySummary) => `${fmtMs(s.p50)} / ${fmtMs(s.p90)} / ${fmtMs(s.p99)}`;
const fmtAdded = (g: LatencySummary, d: LatencySummary) =>
  `${fmtSigned(g.p50 - d.p50)} / ${fmtSigned(g.p90 - d.p90)} / ${fmtSigned(g.p99 - d.p99)}`;
const fmtUs = (n: number | null) => (n === null ? 'n/a' : fmtInt(n));

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
    '- Setup: mock upstream (`tollgate mock`: 0 ms latency, 16 output tokens) and gateway (`tollgate start`, ' +
      'SQLite ledger in a temp dir, 3 hard budgets matching the key: org calendar-month, team rolling-1h with ' +
      'usd+tokens+requests limits, key-level month via the admin API) each in its own child process; the load ' +
      'generator in the bench process; all three share the same cores. "Direct" = load generator → mock, ' +
      '"gateway" = load generator → gateway → mock. Each scenario alternates direct and gateway runs ' +
      '(round 1 direct first, round 2 gateway first, …), each run after a 1 s warm-up, keep-alive connections, ' +
      `body \`${'{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hello"}],"max_tokens":16}'}\`.`,
  );
  push(
    '- "paced" = open-loop generator in bench/load.ts: request i is sent at t0 + i/rate over a keep-alive pool ' +
      '(undici), latency from send to last body byte. "autocannon overallRate" sends each connection\'s ' +
      'per-second quota back to back at the top of every second, so its latencies are those of 1-second ' +
      'bursts at full concurrency, not of a steady 500 req/s; it is kept for comparison only.',
  );
  push(`- Ledger check: ${input.ledgerCheck}`);
  push(`- Bench wall time: ${input.totalSeconds.toFixed(0)} s`, '');
  push('| Scenario | Metric | Direct (mock) | Through gateway | Gateway vs direct |');
  push('|---|---|---:|---:|---:|');
  for (const r of input.results) {
    const s = r.scenario;
    const rounds = r.runs.length / 2;
    const label = `${s.title} (${s.generator}, ${s.connections} conns, ${rounds}×${s.seconds} s per side)`;
    if (s.kind === 'throughput') {
      const d = throughputOf(r, 'direct');
      const g = throughputOf(r, 'gateway');
      push(`| ${label} | req/s | ${fmtInt(d)} | ${fmtInt(g)} | ${(g / d).toFixed(2)}× |`);
    } else {
      const d = pooledLatency(r, 'direct');
      const g = pooledLatency(r, 'gateway');
      const metric = s.stream ? 'full response p50 / p90 / p99 ms' : 'p50 / p90 / p99 ms';
      push(`| ${label} | ${metric} | ${fmtTriple(d)} | ${fmtTriple(g)} | ${fmtAdded(g, d)} |`);
      if (s.stream) {
        const dt = pooledLatency(r, 'direct', 'ttfb');
        const gt = pooledLatency(r, 'gateway', 'ttfb');
        push(
          `| ″ | response headers p50 / p90 / p99 ms | ${fmtTriple(dt)} | ${fmtTriple(gt)} | ${fmtAdded(gt, dt)} |`,
        );
      }
    }
  }
  push('', 'Targets (issue):', '');
  for (const v of input.verdicts) push(`- ${v.met ? '**met**' : '**NOT met**'}: ${v.label}: ${v.detail}`);
  push(
    '',
    'Per round, gateway vs direct in the same round (throughput: req/s direct → gateway; latency: added p50 / added p99 ms):',
    '',
  );
  push('| Scenario | Rounds | Median of rounds |', '|---|---|---|');
  for (const r of input.results) {
    let med: string;
    if (r.scenario.kind === 'throughput') {
      const rounds = [...new Set(r.runs.map((x) => x.round))];
      const ratios = rounds.map((round) => {
        const at = (t: RunResult['target']) =>
          r.runs.find((x) => x.round === round && x.result.target === t)!.result;
        const d = at('direct');
        const g = at('gateway');
        return g.completed / g.wallSeconds / (d.completed / d.wallSeconds);
      });
      med = `${median(ratios).toFixed(2)}×`;
    } else {
      const added = addedPerRound(r);
      med = `${fmtSigned(median(added.map((a) => a.p50)))} / ${fmtSigned(median(added.map((a) => a.p99)))}`;
    }
    push(`| ${r.scenario.title} | ${perRound(r).join('; ')} | ${med} |`);
  }
  push(
    '',
    'CPU cost and noise: µs of user+system CPU per completed request for each process (from /proc), and the ' +
      "average number of cores busy with other processes on the machine during the runs (other engineers' " +
      'builds and tests; the noise), direct runs / gateway runs:',
    '',
  );
  push(
    '| Scenario | mock µs/req (direct) | gateway µs/req | mock µs/req (via gateway) | load generator µs/req direct / gateway | other processes, cores direct / gateway | steal, cores |',
    '|---|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of input.results) {
    const d = cpuPerRequest(r, 'direct');
    const g = cpuPerRequest(r, 'gateway');
    const bd = backgroundCores(r, 'direct');
    const bg = backgroundCores(r, 'gateway');
    const bgText = bd && bg ? `${bd.other.toFixed(2)} / ${bg.other.toFixed(2)}` : 'n/a';
    const steal = bd && bg ? `${bd.steal.toFixed(2)} / ${bg.steal.toFixed(2)}` : 'n/a';
    push(
      `| ${r.scenario.title} | ${fmtUs(d.mock)} | ${fmtUs(g.gateway)} | ${fmtUs(g.mock)} | ` +
        `${fmtUs(d.bench)} / ${fmtUs(g.bench)} | ${bgText} | ${steal} |`,
    );
  }
  push('');
  return lines.join('\n');
}

export const SECTION_START = '<!-- bench/run.ts results: start (replaced by each `npm run bench`) -->';
export const SECTION_END = '<!-- bench/run.ts results: end -->';

const FILE_HEADER = `# Benchmarks

Overhead of the Tollgate gateway against calling the mock upstream directly, measured side
by side in the same run (DESIGN.md "Testing → Benchmark"). Regenerate with \`npm run bench\`.

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
