import { readdirSync, readFileSync } from 'node:fs';

/** One process as Linux /proc shows it. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** Clock ticks after boot; tells a reused pid from the process seen before. */
  startTime: string;
  /** R, S, D, Z (zombie), … */
  state: string;
  /** The executable's name, e.g. node, postgres, redis-server. */
  comm: string;
  /** Arguments joined by spaces ('' for kernel threads or once it is gone). */
  cmdline: string;
}

/** The process, or null once it is gone (or off Linux). */
export function procInfo(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    // The fields after "(comm)", from field 3 (state) on.
    const fields = stat.slice(close + 2).split(' ');
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      // gone meanwhile
    }
    return {
      pid,
      comm: stat.slice(stat.indexOf('(') + 1, close),
      state: fields[0] ?? '',
      ppid: Number(fields[1]),
      startTime: fields[19] ?? '',
      cmdline,
    };
  } catch {
    return null;
  }
}

/** Every process below `root` (children, grandchildren, …), from /proc. */
export function descendants(root: number): ProcInfo[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const all = names
    .filter((name) => /^\d+$/.test(name))
    .map((name) => procInfo(Number(name)))
    .filter((p): p is ProcInfo => p !== null);
  const found: ProcInfo[] = [];
  const queue = [root];
  for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
    for (const p of all) {
      if (p.ppid !== parent) continue;
      found.push(p);
      queue.push(p.pid);
    }
  }
  return found;
}

/** Still the same process and not a zombie. */
export function stillRunning(p: ProcInfo): boolean {
  const now = procInfo(p.pid);
  return now !== null && now.startTime === p.startTime && now.state !== 'Z';
}
