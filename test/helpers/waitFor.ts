const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `done` until it holds; returns how long that took, or throws naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  timeoutMs: number,
  done: () => boolean | Promise<boolean>,
  pollMs = 50,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await done()) return Date.now() - started;
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}
