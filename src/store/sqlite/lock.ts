import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

export class StoreLockedError extends Error {}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/**
 * One embedded gateway owns its database file: its counters are the only truth for the budgets
 * in it. A lock file with the owner's pid; a lock left by a dead process (kill -9) is taken over.
 */
export function acquireFileLock(dbFile: string): () => void {
  const path = `${dbFile}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8') === String(process.pid)) unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new StoreLockedError(`database ${dbFile} is in use by another Tollgate process (pid ${owner})`);
      }
      unlinkSync(path);
    }
  }
  throw new StoreLockedError(`cannot lock database ${dbFile}`);
}
