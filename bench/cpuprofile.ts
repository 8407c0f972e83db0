/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`, e.g. `BENCH_CPU_PROF=DIR npm run bench`):
 * top functions by self time, self time by file / package, and inclusive time of the project's
 * own functions.
 *
 *   npx tsx bench/cpuprofile.ts <file.cpuprofile | directory> [--top N]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './procs.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function where(frame: CallFrame): string {
  if (!frame.url) return frame.functionName.startsWith('(') ? '' : '(native)';
  const url = frame.url.replace(/^file:\/\//, '');
  const path = url.startsWith('/') ? relative(ROOT, url) : url;
  return `${path}:${frame.lineNumber + 1}`;
}

/** 'src/…' files stay whole; node_modules collapse to their package; node internals to node:… */
function bucket(frame: CallFrame): string {
  const url = frame.url.replace(/^file:\/\//, '');
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : '(native / V8 builtins)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return `npm:${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (url.startsWith('node:')) return url;
  return url.startsWith('/') ? relative(ROOT, url) : url;
}

const key = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${where(f)}`;

function analyse(file: string, top: number): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    // timeDeltas[i] is the time before sample i; attribute it to the sample (V8's own convention).
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0));
  }
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    total += us;
    const name = byId.get(id)?.callFrame.functionName ?? '';
    if (name === '(idle)') idle += us;
  }
  const busy = total - idle;

  const selfByFn = new Map<string, number>();
  const selfByBucket = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    selfByFn.set(key(frame), (selfByFn.get(key(frame)) ?? 0) + us);
    selfByBucket.set(bucket(frame), (selfByBucket.get(bucket(frame)) ?? 0) + us);
  }

  // Inclusive time per function, counting a recursive function once per stack.
  const inclusive = new Map<string, number>();
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  for (const [id, us] of selfUs) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const k = key(byId.get(at)!.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }

  const pct = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  const wall = (profile.endTime - profile.startTime) / 1e6;

  console.log(`\n== ${relative(process.cwd(), file)}`);
  console.log(
    `wall ${wall.toFixed(1)} s, sampled ${(total / 1e6).toFixed(1)} s, busy (non-idle) ${(busy / 1e6).toFixed(1)} s = 100%`,
  );
  console.log(`\nTop ${top} functions by self time (% of busy):`);
  for (const [k, us] of sorted(selfByFn).slice(0, top)) console.log(`${pct(us)} ${ms(us)}  ${k}`);
  console.log('\nSelf time by file / package:');
  for (const [k, us] of sorted(selfByBucket).slice(0, top)) console.log(`${pct(us)} ${ms(us)}  ${k}`);
  console.log(`\nInclusive time of project functions (src/, top ${top}):`);
  for (const [k, us] of sorted(inclusive)
    .filter(([k]) => k.includes(' src/'))
    .slice(0, top)) {
    console.log(`${pct(us)} ${ms(us)}  ${k}`);
  }
  const gc = sorted(selfByFn).find(([k]) => k.startsWith('(garbage collector)'));
  if (gc) console.log(`\nGC: ${pct(gc[1]).trim()} of busy time`);
}

function main(): void {
  const args = process.argv.slice(2);
  let top = 30;
  const inputs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else inputs.push(args[i]!);
  }
  if (inputs.length === 0) {
    console.error('usage: npx tsx bench/cpuprofile.ts <file.cpuprofile | directory> [--top N]');
    process.exit(2);
  }
  for (const input of inputs) {
    const files = statSync(input).isDirectory()
      ? readdirSync(input)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => join(input, f))
      : [input];
    for (const f of files) analyse(f, top);
  }
}

main();
