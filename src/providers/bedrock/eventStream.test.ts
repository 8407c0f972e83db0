import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  corruptFrame,
  encodeEventMessage,
  eventFrame,
  exceptionFrame,
} from '../../mock/bedrock/eventStream.ts';
import { type EventStreamMessage, EventStreamSplitter, HeaderType } from './eventStream.ts';
import { ConverseStreamDecoder } from './stream.ts';

/** Feeds `bytes` in pieces cut at `cuts` and collects every message. */
function splitAt(
  bytes: Buffer,
  cuts: number[],
): { messages: EventStreamMessage[]; splitter: EventStreamSplitter } {
  const splitter = new EventStreamSplitter();
  const messages: EventStreamMessage[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    messages.push(...splitter.push(bytes.subarray(from, cut)));
    from = cut;
  }
  return { messages, splitter };
}

const plain = (m: EventStreamMessage) => ({ headers: m.headers, payload: m.payload.toString('utf8') });

describe('event-stream frame codec', () => {
  it("decodes AWS's own test vector (an empty message: 16 bytes, prelude CRC 05c248eb)", () => {
    const vector = Buffer.from('000000100000000005c248eb7d98c8ff', 'hex');
    const { messages, splitter } = splitAt(vector, []);
    expect(splitter.error()).toBeNull();
    expect(messages).toHaveLength(1);
    expect(messages[0]!.headers).toEqual({});
    expect(messages[0]!.payload.length).toBe(0);
    // The mock's encoder writes the same bytes.
    expect(encodeEventMessage({}, Buffer.alloc(0)).equals(vector)).toBe(true);
  });

  it('lays out a frame as length | headers length | prelude CRC | headers | payload | CRC', () => {
    const frame = encodeEventMessage({ ':event-type': 'x' }, Buffer.from('{}'));
    const headerBytes = 1 + 11 + 1 + 2 + 1;
    expect(frame.readUInt32BE(0)).toBe(frame.length);
    expect(frame.readUInt32BE(4)).toBe(headerBytes);
    expect(frame.readUInt32BE(8)).toBe(crc32(frame.subarray(0, 8)));
    expect(frame.subarray(12, 12 + headerBytes).toString('latin1')).toBe(
      '\u000b:event-type\u0007\u0000\u0001x',
    );
    expect(frame.subarray(12 + headerBytes, -4).toString()).toBe('{}');
    expect(frame.readUInt32BE(frame.length - 4)).toBe(crc32(frame.subarray(0, -4)));
  });

  it('round-trips messages with headers and UTF-8 payloads', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            headers: fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 50 }), {
              maxKeys: 4,
            }),
            payload: fc.string({ maxLength: 300, unit: 'grapheme' }),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        (msgs) => {
          const bytes = Buffer.concat(msgs.map((m) => encodeEventMessage(m.headers, Buffer.from(m.payload))));
          const { messages, splitter } = splitAt(bytes, []);
          expect(splitter.error()).toBeNull();
          expect(messages.map(plain)).toEqual(msgs);
        },
      ),
    );
  });

  it('gives the same messages whatever the chunk boundaries: split at every byte, and byte by byte', () => {
    const bytes = Buffer.concat([
      eventFrame('messageStart', { role: 'assistant' }),
      eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: ' héllo ✓' } }),
      eventFrame('messageStop', { stopReason: 'end_turn' }),
    ]);
    const whole = splitAt(bytes, []).messages.map(plain);
    expect(whole).toHaveLength(3);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { messages, splitter } = splitAt(bytes, [cut]);
      expect(splitter.error()).toBeNull();
      expect(messages.map(plain)).toEqual(whole);
    }
    const each = Array.from({ length: bytes.length }, (_, i) => i);
    const oneByOne = splitAt(bytes, each);
    expect(oneByOne.messages.map(plain)).toEqual(whole);
    expect(oneByOne.splitter.pendingBytes()).toBe(0);
  });

  it('any split into random pieces decodes the same (property)', () => {
    const bytes = Buffer.concat(
      Array.from({ length: 6 }, (_, i) => eventFrame('contentBlockDelta', { delta: { text: `word ${i}` } })),
    );
    const whole = splitAt(bytes, []).messages.map(plain);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 20 }),
        (cuts) => {
          expect(
            splitAt(
              bytes,
              cuts.sort((a, b) => a - b),
            ).messages.map(plain),
          ).toEqual(whole);
        },
      ),
    );
  });

  it('a bad message CRC stops the stream after the good messages before it', () => {
    const good = eventFrame('messageStart', { role: 'assistant' });
    const bad = corruptFrame(eventFrame('contentBlockDelta', { delta: { text: 'x' } }));
    const after = eventFrame('messageStop', { stopReason: 'end_turn' });
    const { messages, splitter } = splitAt(Buffer.concat([good, bad, after]), []);
    expect(messages).toHaveLength(1);
    expect(splitter.error()).toBe('event-stream message CRC mismatch');
    expect(splitter.push(after)).toEqual([]);
  });

  it('a bad prelude CRC is caught as soon as the prelude is complete, before the length is trusted', () => {
    const frame = eventFrame('messageStart', { role: 'assistant' });
    frame.writeUInt32BE(0x7fffffff, 0); // a garbage length the prelude CRC no longer covers
    const splitter = new EventStreamSplitter();
    expect(splitter.push(frame.subarray(0, 11))).toEqual([]);
    expect(splitter.error()).toBeNull();
    expect(splitter.push(frame.subarray(11, 12))).toEqual([]);
    expect(splitter.error()).toBe('event-stream prelude CRC mismatch');
  });

  it('lengths out of range are refused even with a valid prelude CRC', () => {
    const prelude = (total: number, headers: number) => {
      const b = Buffer.alloc(12);
      b.writeUInt32BE(total, 0);
      b.writeUInt32BE(headers, 4);
      b.writeUInt32BE(crc32(b.subarray(0, 8)), 8);
      return b;
    };
    for (const [total, headers] of [
      [8, 0],
      [64 * 1024 * 1024, 0],
      [40, 30],
    ] as const) {
      const splitter = new EventStreamSplitter();
      splitter.push(prelude(total, headers));
      expect(splitter.error()).toMatch(/out of range/);
    }
  });

  it('reads every header value type', () => {
    const parts: Buffer[] = [];
    const header = (name: string, type: number, value: Buffer) =>
      parts.push(Buffer.concat([Buffer.from([name.length]), Buffer.from(name), Buffer.from([type]), value]));
    const u16 = (n: number) => {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(n);
      return b;
    };
    const i64 = (n: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(n);
      return b;
    };
    header('t', HeaderType.boolTrue, Buffer.alloc(0));
    header('f', HeaderType.boolFalse, Buffer.alloc(0));
    header('b', HeaderType.byte, Buffer.from([0xff]));
    header('s', HeaderType.short, Buffer.from([0x01, 0x02]));
    header('i', HeaderType.integer, Buffer.from([0xff, 0xff, 0xff, 0xfe]));
    header('l', HeaderType.long, i64(-5n));
    header('y', HeaderType.bytes, Buffer.concat([u16(3), Buffer.from([1, 2, 3])]));
    header('str', HeaderType.string, Buffer.concat([u16(2), Buffer.from('ok')]));
    header('ts', HeaderType.timestamp, i64(1_700_000_000_000n));
    header('u', HeaderType.uuid, Buffer.alloc(16, 7));
    const headers = Buffer.concat(parts);
    const total = 12 + headers.length + 4;
    const frame = Buffer.alloc(total);
    frame.writeUInt32BE(total, 0);
    frame.writeUInt32BE(headers.length, 4);
    frame.writeUInt32BE(crc32(frame.subarray(0, 8)), 8);
    headers.copy(frame, 12);
    frame.writeUInt32BE(crc32(frame.subarray(0, total - 4)), total - 4);
    const [message] = splitAt(frame, []).messages;
    expect(message?.headers).toEqual({
      t: true,
      f: false,
      b: -1,
      s: 0x0102,
      i: -2,
      l: -5n,
      y: Buffer.from([1, 2, 3]),
      str: 'ok',
      ts: new Date(1_700_000_000_000),
      u: Buffer.alloc(16, 7),
    });
  });

  it('never throws on garbage (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const decoder = new ConverseStreamDecoder();
        for (const c of chunks) decoder.push(Buffer.from(c));
        decoder.end();
        expect(decoder.completed()).toBe(false);
      }),
    );
  });
});

describe('ConverseStream decoder → chat.completion.chunk', () => {
  const stream = Buffer.concat([
    eventFrame('messageStart', { role: 'assistant', p: 'abc' }),
    eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { reasoningContent: { text: 'hmm' } } }),
    eventFrame('contentBlockStop', { contentBlockIndex: 0 }),
    eventFrame('contentBlockDelta', { contentBlockIndex: 1, delta: { text: 'Hi' } }),
    eventFrame('contentBlockStop', { contentBlockIndex: 1 }),
    eventFrame('contentBlockStart', {
      contentBlockIndex: 2,
      start: { toolUse: { toolUseId: 'tooluse_1', name: 'lookup' } },
    }),
    eventFrame('contentBlockDelta', { contentBlockIndex: 2, delta: { toolUse: { input: '{"q":' } } }),
    eventFrame('contentBlockDelta', { contentBlockIndex: 2, delta: { toolUse: { input: '"x"}' } } }),
    eventFrame('contentBlockStop', { contentBlockIndex: 2 }),
    eventFrame('messageStop', { stopReason: 'tool_use' }),
    eventFrame('metadata', {
      usage: {
        inputTokens: 10,
        outputTokens: 7,
        totalTokens: 29,
        cacheReadInputTokens: 4,
        cacheWriteInputTokens: 8,
      },
      metrics: { latencyMs: 12 },
    }),
  ]);

  it('maps every event and takes usage from metadata (cache tokens by kind)', () => {
    const decoder = new ConverseStreamDecoder();
    const chunks = [...decoder.push(stream), ...decoder.end()];
    const deltas = chunks.map((c) => (c.choices as Array<{ delta: unknown; finish_reason: unknown }>)[0]);
    expect(deltas).toEqual([
      { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
      { index: 0, delta: { reasoning_content: 'hmm' }, logprobs: null, finish_reason: null },
      { index: 0, delta: { content: 'Hi' }, logprobs: null, finish_reason: null },
      {
        index: 0,
        delta: {
          tool_calls: [
            { index: 0, id: 'tooluse_1', type: 'function', function: { name: 'lookup', arguments: '' } },
          ],
        },
        logprobs: null,
        finish_reason: null,
      },
      {
        index: 0,
        delta: { tool_calls: [{ index: 0, function: { arguments: '{"q":' } }] },
        logprobs: null,
        finish_reason: null,
      },
      {
        index: 0,
        delta: { tool_calls: [{ index: 0, function: { arguments: '"x"}' } }] },
        logprobs: null,
        finish_reason: null,
      },
      { index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' },
    ]);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id)).toBe(true);
    expect(decoder.completed()).toBe(true);
    expect(decoder.streamError()).toBeNull();
    expect(decoder.usage()).toEqual({
      inputTokens: 10,
      outputTokens: 7,
      cacheReadTokens: 4,
      cacheWriteTokens: 8,
      reasoningTokens: 0,
    });
    expect(decoder.generatedText()).toBe('hmmHilookup{"q":"x"}');
  });

  it('decodes the same stream fed one byte at a time', () => {
    const decoder = new ConverseStreamDecoder();
    let count = 0;
    for (let i = 0; i < stream.length; i++) count += decoder.push(stream.subarray(i, i + 1)).length;
    expect(count).toBe(7);
    expect(decoder.usage()?.outputTokens).toBe(7);
  });

  it('an exception message becomes streamError; nothing after it is decoded', () => {
    const decoder = new ConverseStreamDecoder();
    const chunks = decoder.push(
      Buffer.concat([
        eventFrame('messageStart', { role: 'assistant' }),
        eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'partial' } }),
        exceptionFrame('throttlingException', 'Too many tokens, please wait before trying again.'),
        eventFrame('messageStop', { stopReason: 'end_turn' }),
      ]),
    );
    expect(chunks).toHaveLength(2);
    expect(decoder.streamError()).toBe(
      'throttlingException: Too many tokens, please wait before trying again.',
    );
    expect(decoder.completed()).toBe(false);
    expect(decoder.generatedText()).toBe('partial');
  });

  it('an error message (:message-type error) becomes streamError', () => {
    const decoder = new ConverseStreamDecoder();
    decoder.push(
      encodeEventMessage(
        { ':message-type': 'error', ':error-code': 'InternalFailure', ':error-message': 'boom' },
        Buffer.alloc(0),
      ),
    );
    expect(decoder.streamError()).toBe('InternalFailure: boom');
  });

  it('a corrupt frame becomes streamError; a frame cut in half leaves the stream incomplete', () => {
    const corrupt = new ConverseStreamDecoder();
    corrupt.push(
      Buffer.concat([
        eventFrame('messageStart', { role: 'assistant' }),
        corruptFrame(eventFrame('messageStop', {})),
      ]),
    );
    expect(corrupt.streamError()).toBe('event-stream message CRC mismatch');

    const cut = new ConverseStreamDecoder();
    const stop = eventFrame('messageStop', { stopReason: 'end_turn' });
    cut.push(Buffer.concat([eventFrame('messageStart', { role: 'assistant' }), stop.subarray(0, 20)]));
    cut.end();
    expect(cut.streamError()).toBeNull();
    expect(cut.completed()).toBe(false);
  });

  it('an event whose payload is not JSON becomes streamError', () => {
    const decoder = new ConverseStreamDecoder();
    decoder.push(
      encodeEventMessage(
        { ':event-type': 'contentBlockDelta', ':message-type': 'event', ':content-type': 'application/json' },
        Buffer.from('{"delta":'),
      ),
    );
    expect(decoder.streamError()).toBe('malformed contentBlockDelta payload');
  });
});
