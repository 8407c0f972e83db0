import { crc32 } from 'node:zlib';

/**
 * AWS event-stream encoding, written independently of the gateway's decoder so that the
 * codec tests check one against the other. Only string headers: all Bedrock uses.
 *
 *   total length (u32 BE) | headers length (u32 BE) | prelude CRC32 | headers | payload | message CRC32
 */
export function encodeEventMessage(headers: Record<string, string>, payload: Buffer): Buffer {
  const headerParts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    const h = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
    h.writeUInt8(n.length, 0);
    n.copy(h, 1);
    h.writeUInt8(7, 1 + n.length); // 7 = string
    h.writeUInt16BE(v.length, 2 + n.length);
    v.copy(h, 4 + n.length);
    headerParts.push(h);
  }
  const headerBytes = Buffer.concat(headerParts);
  const total = 12 + headerBytes.length + payload.length + 4;
  const frame = Buffer.alloc(total);
  frame.writeUInt32BE(total, 0);
  frame.writeUInt32BE(headerBytes.length, 4);
  frame.writeUInt32BE(crc32(frame.subarray(0, 8)), 8);
  headerBytes.copy(frame, 12);
  payload.copy(frame, 12 + headerBytes.length);
  frame.writeUInt32BE(crc32(frame.subarray(0, total - 4)), total - 4);
  return frame;
}

/** A ConverseStream event, as Bedrock frames it. */
export function eventFrame(eventType: string, body: Record<string, unknown>): Buffer {
  return encodeEventMessage(
    { ':event-type': eventType, ':content-type': 'application/json', ':message-type': 'event' },
    Buffer.from(JSON.stringify(body), 'utf8'),
  );
}

/** An exception inside a 200 stream (e.g. throttlingException, modelStreamErrorException). */
export function exceptionFrame(exceptionType: string, message: string): Buffer {
  return encodeEventMessage(
    { ':exception-type': exceptionType, ':content-type': 'application/json', ':message-type': 'exception' },
    Buffer.from(JSON.stringify({ message }), 'utf8'),
  );
}

/** The same frame with one payload byte flipped: its message CRC no longer matches. */
export function corruptFrame(frame: Buffer): Buffer {
  const copy = Buffer.from(frame);
  const at = copy.length - 5; // the last payload byte (or header byte, for an empty payload)
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}
