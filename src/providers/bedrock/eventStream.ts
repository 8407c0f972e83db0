import { crc32 } from 'node:zlib';

/**
 * AWS event-stream framing (`application/vnd.amazon.eventstream`), the binary format of
 * Bedrock's ConverseStream. Each message:
 *
 *   total length (u32 BE) | headers length (u32 BE) | prelude CRC32 (of the first 8 bytes)
 *   | headers | payload | message CRC32 (of everything before it)
 *
 * A header is: name length (u8), name (UTF-8), value type (u8), value.
 */

export type HeaderValue = string | number | boolean | bigint | Buffer | Date;

export interface EventStreamMessage {
  headers: Record<string, HeaderValue>;
  payload: Buffer;
}

const PRELUDE_BYTES = 12;
const CRC_BYTES = 4;
const MIN_MESSAGE_BYTES = PRELUDE_BYTES + CRC_BYTES;
/** The service's own limits: 16 MiB per message, 128 KiB of headers. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const MAX_HEADER_BYTES = 128 * 1024;

/** Value type tags of the event-stream header encoding. */
export const HeaderType = {
  boolTrue: 0,
  boolFalse: 1,
  byte: 2,
  short: 3,
  integer: 4,
  long: 5,
  bytes: 6,
  string: 7,
  timestamp: 8,
  uuid: 9,
} as const;

class FrameError extends Error {}

/**
 * Splits a byte stream into event-stream messages, whatever the chunk boundaries, and
 * checks both CRCs. After the first bad frame it stops: the length fields can no longer be
 * trusted, so there is no way to find the next message. Never throws.
 */
export class EventStreamSplitter {
  private chunks: Buffer[] = [];
  private size = 0;
  private failure: string | null = null;

  /** Whole messages completed by this chunk (those before a bad frame included). */
  push(chunk: Buffer): EventStreamMessage[] {
    if (this.failure !== null || chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.size += chunk.length;
    const messages: EventStreamMessage[] = [];
    let pos = 0;
    let buf: Buffer;
    try {
      if (this.size < this.needed()) return [];
      // Joined once per completed message at most: a big frame split in many chunks stays O(n).
      buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
      for (;;) {
        const length = frameLength(buf, pos);
        if (length === null || buf.length - pos < length) break;
        messages.push(decodeMessage(buf.subarray(pos, pos + length)));
        pos += length;
      }
    } catch (err) {
      this.failure = err instanceof FrameError ? err.message : 'malformed event-stream frame';
      this.chunks = [];
      this.size = 0;
      return messages;
    }
    const rest = buf.subarray(pos);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return messages;
  }

  /** Why the stream became unreadable, or null. */
  error(): string | null {
    return this.failure;
  }

  /** Bytes of an incomplete message still held (non-zero at the end means the stream was cut mid-frame). */
  pendingBytes(): number {
    return this.size;
  }

  /**
   * Bytes needed before the next message can be decoded. The prelude is checked as soon as
   * it is complete, so a corrupt length is reported at once instead of waited for.
   */
  private needed(): number {
    if (this.size < PRELUDE_BYTES) return PRELUDE_BYTES;
    const first = this.chunks[0]!;
    const head = first.length >= PRELUDE_BYTES ? first : Buffer.concat(this.chunks, PRELUDE_BYTES);
    return frameLength(head, 0) ?? PRELUDE_BYTES;
  }
}

/** The total length of the message at `pos`, after checking its prelude; null when the prelude is incomplete. */
function frameLength(buf: Buffer, pos: number): number | null {
  if (buf.length - pos < PRELUDE_BYTES) return null;
  const total = buf.readUInt32BE(pos);
  const headersLength = buf.readUInt32BE(pos + 4);
  if (crc32(buf.subarray(pos, pos + 8)) !== buf.readUInt32BE(pos + 8)) {
    throw new FrameError('event-stream prelude CRC mismatch');
  }
  if (total < MIN_MESSAGE_BYTES || total > MAX_MESSAGE_BYTES) {
    throw new FrameError(`event-stream message length ${total} out of range`);
  }
  if (headersLength > MAX_HEADER_BYTES || headersLength > total - MIN_MESSAGE_BYTES) {
    throw new FrameError(`event-stream headers length ${headersLength} out of range`);
  }
  return total;
}

/** One whole message (exactly its bytes): CRC-checked, headers parsed. */
export function decodeMessage(frame: Buffer): EventStreamMessage {
  const total = frame.length;
  const end = total - CRC_BYTES;
  if (crc32(frame.subarray(0, end)) !== frame.readUInt32BE(end)) {
    throw new FrameError('event-stream message CRC mismatch');
  }
  const headersEnd = PRELUDE_BYTES + frame.readUInt32BE(4);
  return {
    headers: decodeHeaders(frame.subarray(PRELUDE_BYTES, headersEnd)),
    payload: frame.subarray(headersEnd, end),
  };
}

function decodeHeaders(buf: Buffer): Record<string, HeaderValue> {
  // No prototype: a header named __proto__ from the wire must stay a plain entry.
  const headers: Record<string, HeaderValue> = Object.create(null);
  let pos = 0;
  const take = (n: number): number => {
    if (pos + n > buf.length) throw new FrameError('event-stream header runs past its section');
    const at = pos;
    pos += n;
    return at;
  };
  while (pos < buf.length) {
    const nameLength = buf.readUInt8(take(1));
    const nameAt = take(nameLength);
    const name = buf.toString('utf8', nameAt, nameAt + nameLength);
    const type = buf.readUInt8(take(1));
    headers[name] = decodeValue(buf, type, take);
  }
  return headers;
}

function decodeValue(buf: Buffer, type: number, take: (n: number) => number): HeaderValue {
  switch (type) {
    case HeaderType.boolTrue:
      return true;
    case HeaderType.boolFalse:
      return false;
    case HeaderType.byte:
      return buf.readInt8(take(1));
    case HeaderType.short:
      return buf.readInt16BE(take(2));
    case HeaderType.integer:
      return buf.readInt32BE(take(4));
    case HeaderType.long:
      return buf.readBigInt64BE(take(8));
    case HeaderType.bytes:
    case HeaderType.string: {
      const length = buf.readUInt16BE(take(2));
      const at = take(length);
      return type === HeaderType.string
        ? buf.toString('utf8', at, at + length)
        : Buffer.from(buf.subarray(at, at + length));
    }
    case HeaderType.timestamp:
      return new Date(Number(buf.readBigInt64BE(take(8))));
    case HeaderType.uuid: {
      const at = take(16);
      return Buffer.from(buf.subarray(at, at + 16));
    }
    default:
      throw new FrameError(`event-stream header value type ${type} is unknown`);
  }
}
