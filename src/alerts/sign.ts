import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures in Stripe's scheme: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.
 * The timestamp is inside the MAC so a captured request cannot be replayed outside the tolerance.
 */

export const SIGNATURE_HEADER = 'x-tollgate-signature';
export const EVENT_ID_HEADER = 'x-tollgate-event-id';

/** Receivers should reject signatures older (or newer) than this by default. */
export const DEFAULT_TOLERANCE_SEC = 300;

type RawBody = string | Uint8Array;

function mac(secret: string, timestampSec: number, rawBody: RawBody): Buffer {
  return createHmac('sha256', secret).update(`${timestampSec}.`).update(rawBody).digest();
}

/** The x-tollgate-signature header value for `rawBody` signed at `timestampSec`. */
export function signatureHeader(secret: string, rawBody: RawBody, timestampSec: number): string {
  return `t=${timestampSec},v1=${mac(secret, timestampSec, rawBody).toString('hex')}`;
}

/** Every header a signed delivery carries besides content-type. */
export function signedHeaders(
  secret: string,
  eventId: string,
  rawBody: RawBody,
  nowSec: number,
): Record<string, string> {
  return { [SIGNATURE_HEADER]: signatureHeader(secret, rawBody, nowSec), [EVENT_ID_HEADER]: eventId };
}

export type SignatureProblem = 'missing' | 'malformed' | 'stale' | 'mismatch';

/**
 * Why a signature does not verify, or null if it does. The body must be the raw bytes as
 * received: re-serialized JSON will not match. Several v1 entries are accepted (one matching is
 * enough) so a sender can sign with an old and a new secret during rotation.
 */
export function signatureProblem(
  secret: string,
  header: string | null | undefined,
  rawBody: RawBody,
  toleranceSec: number,
  nowSec: number,
): SignatureProblem | null {
  if (!header) return 'missing';
  let timestamp: number | null = null;
  const candidates: Buffer[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) return 'malformed';
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't') {
      if (!/^\d{1,12}$/.test(value)) return 'malformed';
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/i.test(value)) return 'malformed';
      candidates.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === null || candidates.length === 0) return 'malformed';
  if (Math.abs(nowSec - timestamp) > toleranceSec) return 'stale';
  const expected = mac(secret, timestamp, rawBody);
  // Compare against every candidate, without an early exit, so timing says nothing about which matched.
  let matched = false;
  for (const candidate of candidates) matched = timingSafeEqual(candidate, expected) || matched;
  return matched ? null : 'mismatch';
}

/** True when `header` is a valid signature of `rawBody` with `secret`, within `toleranceSec` of `nowSec`. */
export function verifySignature(
  secret: string,
  header: string | null | undefined,
  rawBody: RawBody,
  toleranceSec: number,
  nowSec: number,
): boolean {
  return signatureProblem(secret, header, rawBody, toleranceSec, nowSec) === null;
}
