import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EVENT_ID_HEADER,
  SIGNATURE_HEADER,
  signatureHeader,
  signatureProblem,
  signedHeaders,
  verifySignature,
} from './sign.ts';

const SECRET = 'whsec_0123456789abcdef';
const BODY = '{"id":"evt_1","type":"budget.threshold","threshold":0.8}';
const T = 1_793_500_000;

describe('signatureHeader', () => {
  it('is t=<seconds>,v1=<hex HMAC-SHA256 of "t.body">', () => {
    const expected = createHmac('sha256', SECRET).update(`${T}.${BODY}`).digest('hex');
    expect(signatureHeader(SECRET, BODY, T)).toBe(`t=${T},v1=${expected}`);
  });

  it('comes with the event id header', () => {
    const headers = signedHeaders(SECRET, 'evt_1', BODY, T);
    expect(Object.keys(headers).sort()).toEqual([EVENT_ID_HEADER, SIGNATURE_HEADER].sort());
    expect(headers[EVENT_ID_HEADER]).toBe('evt_1');
  });
});

describe('verifySignature', () => {
  const header = signatureHeader(SECRET, BODY, T);

  it('round-trips, from a string or from raw bytes', () => {
    expect(verifySignature(SECRET, header, BODY, 300, T)).toBe(true);
    expect(verifySignature(SECRET, header, Buffer.from(BODY), 300, T + 300)).toBe(true);
  });

  it('detects a tampered body', () => {
    const tampered = BODY.replace('0.8', '0.5');
    expect(signatureProblem(SECRET, header, tampered, 300, T)).toBe('mismatch');
    expect(verifySignature(SECRET, header, `${BODY} `, 300, T)).toBe(false);
  });

  it('detects a wrong secret', () => {
    expect(signatureProblem('another-secret-0000', header, BODY, 300, T)).toBe('mismatch');
  });

  it('detects a tampered timestamp (it is inside the MAC)', () => {
    const moved = header.replace(`t=${T}`, `t=${T + 1}`);
    expect(signatureProblem(SECRET, moved, BODY, 300, T)).toBe('mismatch');
  });

  it('rejects a signature outside the tolerance, either way', () => {
    expect(signatureProblem(SECRET, header, BODY, 300, T + 301)).toBe('stale');
    expect(signatureProblem(SECRET, header, BODY, 300, T - 301)).toBe('stale');
  });

  it('rejects missing and malformed headers', () => {
    expect(signatureProblem(SECRET, undefined, BODY, 300, T)).toBe('missing');
    expect(signatureProblem(SECRET, '', BODY, 300, T)).toBe('missing');
    expect(signatureProblem(SECRET, `t=${T}`, BODY, 300, T)).toBe('malformed');
    expect(signatureProblem(SECRET, 'v1=abc', BODY, 300, T)).toBe('malformed');
    expect(signatureProblem(SECRET, `t=soon,v1=${'a'.repeat(64)}`, BODY, 300, T)).toBe('malformed');
    expect(signatureProblem(SECRET, `t=${T},v1=${'z'.repeat(64)}`, BODY, 300, T)).toBe('malformed');
  });

  it('accepts when any of several v1 signatures matches (secret rotation)', () => {
    const old = signatureHeader('old-secret-0000000', BODY, T).split(',')[1];
    expect(verifySignature(SECRET, `${header},${old}`, BODY, 300, T)).toBe(true);
    expect(verifySignature(SECRET, `t=${T},${old}`, BODY, 300, T)).toBe(false);
  });
});
