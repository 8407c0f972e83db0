import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { postgresOrWarn, startPostgresServer } from '../../../test/helpers/postgresServer.ts';
import type { CallRecord } from '../../ledger/types.ts';
import { LedgerWriter } from '../../ledger/writer.ts';
import { callRow } from '../contract/ledgerStore.contract.ts';
import { openPostgresStore } from '../postgres/index.ts';
import { SpoolingLedgerStore } from './spoolingLedger.ts';

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const CALLS_PER_WAVE = 25;
const WAVES = 80;
const KILL_AT_WAVE = 20;
const RESTART_AT_WAVE = 50;

describe.skipIf(postgresOrWarn() === null)('ledger rows while PostgreSQL is killed mid-load', () => {
  it('spools what the database cannot take and replays it all once it is back, none lost or doubled', async () => {
    const server = await startPostgresServer();
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-spool-pg-'));
    const path = join(dir, 'ledger.spool');
    const poolErrors: string[] = [];
    const pgStore = await openPostgresStore(server.url, {
      connectTimeoutMs: 1_000,
      queryTimeoutMs: 5_000,
      onError: (m) => poolErrors.push(m),
    });
    const ledger = await SpoolingLedgerStore.open(pgStore.ledger, { path, retryMinMs: 50, retryMaxMs: 200 });
    const writerErrors: Error[] = [];
    // The gateway's own group-commit writer: pending rows awaited, final rows fire-and-forget.
    const writer = new LedgerWriter(ledger, (err) => writerErrors.push(err), 5);
    try {
      let expectedCost = 0;
      let maxSpooled = 0;
      let killing: Promise<void> | null = null;
      for (let wave = 0; wave < WAVES; wave++) {
        // Not awaited: the kill lands while this wave's writes are in flight.
        if (wave === KILL_AT_WAVE) killing = server.kill();
        if (wave === RESTART_AT_WAVE) {
          await killing;
          maxSpooled = ledger.spooled();
          await server.restart();
        }
        const calls: CallRecord[] = Array.from({ length: CALLS_PER_WAVE }, (_, i) =>
          callRow(`w${wave}-c${i}`, { tsStart: 1_000_000 + wave * 100 + i }),
        );
        await Promise.all(calls.map((c) => writer.writePending(c)));
        for (const c of calls) {
          const cost = 1_000_000_007 * (wave + 1) + i32(c.callId);
          expectedCost += cost;
          writer.writeFinal({ ...c, status: 'ok', usageSource: 'provider', cost, leaseUntil: null });
        }
      }
      await writer.flush();
      expect(writerErrors).toEqual([]);
      expect(maxSpooled).toBeGreaterThan(0);

      // No restart of the gateway side: the same pool and store recover by themselves.
      await until(() => ledger.spooled() === 0, 30_000);
      expect(statSync(path).size).toBe(0);
      expect(await ledger.count()).toBe(CALLS_PER_WAVE * WAVES);
      expect(await ledger.pendingRows()).toEqual([]);
      const [usage] = await ledger.usage('team', {});
      expect(usage?.calls).toBe(CALLS_PER_WAVE * WAVES);
      expect(usage?.cost).toBe(expectedCost);
      const settled: string[] = [];
      for await (const row of ledger.iterateSettledSince(0)) settled.push(`${row.callId}/${row.attempt}`);
      expect(settled.length).toBe(CALLS_PER_WAVE * WAVES);
      expect(new Set(settled).size).toBe(CALLS_PER_WAVE * WAVES);
    } finally {
      await ledger.close();
      await pgStore.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A per-call amount, so a lost or doubled row changes the total. */
function i32(callId: string): number {
  let h = 0;
  for (const ch of callId) h = (h * 31 + ch.charCodeAt(0)) % 1_000_003;
  return h;
}
