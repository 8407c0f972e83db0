import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { callRow } from '../contract/ledgerStore.contract.ts';
import { StoreLockedError } from '../sqlite/lock.ts';
import { SpoolFile } from './spoolFile.ts';

describe('SpoolFile', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-spool-'));
    path = join(dir, 'ledger.spool');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends JSON lines and reads them back in order across read-buffer boundaries', async () => {
    const spool = await SpoolFile.open(path);
    // ~3.5 MB: several 1 MiB reads, lines split across them.
    const rows = Array.from({ length: 3_000 }, (_, i) => callRow(`c${i}`, { flags: 'x'.repeat(i % 700) }));
    await spool.append(rows.slice(0, 1_234));
    await spool.append(rows.slice(1_234));
    expect(spool.pending).toBe(3_000);
    expect(readFileSync(path, 'utf8').split('\n').length).toBe(3_001);
    const seen = [];
    for (let i = 0; i < 3; i++) {
      const chunk = await spool.peek(1_000);
      expect(chunk.lines).toBe(1_000);
      expect(chunk.corrupt).toEqual([]);
      seen.push(...chunk.rows);
      await spool.consume(chunk);
    }
    expect(seen).toEqual(rows);
    expect(spool.pending).toBe(0);
    expect(statSync(path).size).toBe(0);
    await spool.close();
  });

  it('peeks without consuming', async () => {
    const spool = await SpoolFile.open(path);
    await spool.append([callRow('a'), callRow('b'), callRow('c')]);
    const first = await spool.peek(2);
    const again = await spool.peek(2);
    expect(again).toEqual(first);
    expect(first.rows.map((r) => r.callId)).toEqual(['a', 'b']);
    await spool.consume(first);
    const rest = await spool.peek(10);
    expect(rest.rows.map((r) => r.callId)).toEqual(['c']);
    expect(spool.pending).toBe(1);
    await spool.close();
  });

  it('counts what a previous process left and drops a torn last line', async () => {
    const whole = `${JSON.stringify(callRow('a'))}\n${JSON.stringify(callRow('b'))}\n`;
    writeFileSync(path, `${whole}{"callId":"torn","att`);
    const spool = await SpoolFile.open(path);
    expect(spool.pending).toBe(2);
    expect(readFileSync(path, 'utf8')).toBe(whole);
    await spool.append([callRow('c')]);
    const chunk = await spool.peek(10);
    expect(chunk.rows.map((r) => r.callId)).toEqual(['a', 'b', 'c']);
    expect(chunk.corrupt).toEqual([]);
    await spool.close();
  });

  it('reports lines that are not ledger rows as corrupt', async () => {
    writeFileSync(
      path,
      `${JSON.stringify(callRow('a'))}\nnot json\n{"other":1}\n${JSON.stringify(callRow('b'))}\n`,
    );
    const spool = await SpoolFile.open(path);
    const chunk = await spool.peek(10);
    expect(chunk.rows.map((r) => r.callId)).toEqual(['a', 'b']);
    expect(chunk.corrupt).toEqual(['not json', '{"other":1}']);
    expect(chunk.lines).toBe(4);
    await spool.close();
  });

  it('belongs to one process at a time', async () => {
    const spool = await SpoolFile.open(path);
    await expect(SpoolFile.open(path)).rejects.toThrow(StoreLockedError);
    await spool.close();
    const reopened = await SpoolFile.open(path);
    await reopened.close();
  });
});
