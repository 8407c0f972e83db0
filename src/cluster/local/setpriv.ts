import { existsSync } from 'node:fs';

const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);

export interface RunAs {
  uid: number;
  gid: number;
}

/**
 * The command line that runs `argv` (as `user` when given) and delivers `deathSignal` to it when
 * the process that started it dies, even by SIGKILL: a supervisor killed hard leaves no server
 * behind. Without util-linux's setpriv (not Linux) the command runs as is, with `uid`/`gid` for
 * spawn() instead, and only the supervisor's own exit handlers clean up.
 */
export function withDeathSignal(
  argv: readonly string[],
  deathSignal: 'KILL' | 'TERM',
  user: RunAs | null = null,
): { command: string; args: string[]; uidGid: { uid?: number; gid?: number } } {
  if (hasSetpriv) {
    const who = user ? ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups'] : [];
    return { command: SETPRIV, args: ['--pdeathsig', deathSignal, ...who, '--', ...argv], uidGid: {} };
  }
  const [command = '', ...args] = argv;
  return { command, args, uidGid: user ? { uid: user.uid, gid: user.gid } : {} };
}
