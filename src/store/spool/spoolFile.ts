import { type FileHandle, open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { CallRecord } from '../../ledger/types.ts';
import { acquireFileLock, StoreLockedError } from '../sqlite/lock.ts';

/** A run of spooled lines read from the replay position, not yet consumed. */
export interface SpoolChunk {
  rows: CallRecord[];
  /** Lines that are not a ledger row (disk corruption); kept aside, never replayed. */
  corrupt: string[];
  /** Lines read (rows + corrupt). */
  lines: number;
  /** Byte offset just past the last line read. */
  end: number;
}

const READ_BYTES = 1 << 20;
const openInProcess = new Set<string>();
const NEWLINE = 0x0a;

function looksLikeCall(v: unknown): v is CallRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.callId === 'string' && typeof r.attempt === 'number' && typeof r.status === 'string';
}

/**
 * An append-only file of ledger rows, one JSON line each, fsync'd before append() resolves.
 * Replay reads from an in-memory position; the file is emptied once every line is consumed.
 * One process owns a spool (lock file): another truncating it would drop our rows.
 */
export class SpoolFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly releaseLock: () => void,
    /** Bytes in the file. */
    private size: number,
    /** Lines appended and not yet consumed. */
    private unconsumed: number,
    private readOffset = 0,
  ) {}

  static async open(path: string): Promise<SpoolFile> {
    const key = resolve(path);
    // The lock file stops other processes; this stops a second open in this one.
    if (openInProcess.has(key)) throw new StoreLockedError(`spool ${path} is already open in this process`);
    const fileLock = acquireFileLock(path);
    openInProcess.add(key);
    const release = () => {
      openInProcess.delete(key);
      fileLock();
    };
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'a+');
      await syncDirectory(path);
      const { size, lines } = await scanWholeLines(fh);
      const actual = (await fh.stat()).size;
      // A crash mid-append leaves a torn last line; it was never acknowledged, and left in place
      // it would glue itself to the next append.
      if (actual !== size) {
        await fh.truncate(size);
        await fh.datasync();
      }
      return new SpoolFile(path, fh, release, size, lines);
    } catch (err) {
      await fh?.close();
      release();
      throw err;
    }
  }

  /** Rows spooled and not yet replayed. */
  get pending(): number {
    return this.unconsumed;
  }

  async append(rows: CallRecord[]): Promise<void> {
    if (rows.length === 0) return;
    const text = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
    const bytes = Buffer.from(text, 'utf8');
    try {
      // 'a+' mode: the kernel appends at the end whatever position we pass.
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await this.fh.write(bytes, written, bytes.length - written, null);
        written += bytesWritten;
      }
      await this.fh.datasync();
    } catch (err) {
      // Disk full or I/O error: cut off the partial lines so the next append starts clean.
      await this.fh.truncate(this.size).catch(() => {});
      throw err;
    }
    this.size += bytes.length;
    this.unconsumed += rows.length;
  }

  /** Up to maxLines lines from the replay position. */
  async peek(maxLines: number): Promise<SpoolChunk> {
    const chunk: SpoolChunk = { rows: [], corrupt: [], lines: 0, end: this.readOffset };
    // File offset of carry[0]: bytes read but not yet split into whole lines.
    let base = this.readOffset;
    let carry = Buffer.alloc(0);
    while (chunk.lines < maxLines && base + carry.length < this.size) {
      const readAt = base + carry.length;
      const want = Math.min(READ_BYTES, this.size - readAt);
      const buf = Buffer.alloc(want);
      const { bytesRead } = await this.fh.read(buf, 0, want, readAt);
      if (bytesRead === 0) break;
      const data = Buffer.concat([carry, buf.subarray(0, bytesRead)]);
      let start = 0;
      while (chunk.lines < maxLines) {
        const nl = data.indexOf(NEWLINE, start);
        if (nl === -1) break;
        addLine(chunk, data.toString('utf8', start, nl));
        start = nl + 1;
        chunk.end = base + start;
      }
      base += start;
      carry = data.subarray(start);
    }
    return chunk;
  }

  /** Marks a peeked chunk as replayed; empties the file once nothing is left. */
  async consume(chunk: SpoolChunk): Promise<void> {
    if (chunk.end >= this.size) {
      await this.empty();
      return;
    }
    this.readOffset = chunk.end;
    this.unconsumed -= chunk.lines;
  }

  async close(): Promise<void> {
    await this.fh.close();
    this.releaseLock();
  }

  private async empty(): Promise<void> {
    await this.fh.truncate(0);
    await this.fh.datasync();
    this.size = 0;
    this.readOffset = 0;
    this.unconsumed = 0;
  }
}

function addLine(chunk: SpoolChunk, line: string): void {
  chunk.lines++;
  try {
    const parsed: unknown = JSON.parse(line);
    if (looksLikeCall(parsed)) {
      chunk.rows.push(parsed);
      return;
    }
  } catch {
    // falls through to corrupt
  }
  chunk.corrupt.push(line);
}

/** Length of the file up to and including its last newline, and how many lines that holds. */
async function scanWholeLines(fh: FileHandle): Promise<{ size: number; lines: number }> {
  const buf = Buffer.alloc(READ_BYTES);
  let pos = 0;
  let lines = 0;
  let lastNewlineEnd = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    for (let i = buf.indexOf(NEWLINE, 0); i !== -1 && i < bytesRead; i = buf.indexOf(NEWLINE, i + 1)) {
      lines++;
      lastNewlineEnd = pos + i + 1;
    }
    pos += bytesRead;
  }
  return { size: lastNewlineEnd, lines };
}

/** Appends text and fsyncs it. */
export async function appendDurably(path: string, text: string): Promise<void> {
  const fh = await open(path, 'a');
  try {
    await fh.writeFile(text, 'utf8');
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** A new file's directory entry must be durable too, or a crash could lose the whole spool. */
async function syncDirectory(path: string): Promise<void> {
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
