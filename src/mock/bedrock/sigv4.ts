import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The one AWS identity the mock knows: the example key pair of AWS's own SigV4 test suite.
 * Tests configure a Bedrock provider with it; the mock then checks signatures for real.
 */
export const MOCK_AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
export const MOCK_AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

/** How far x-amz-date may be from the mock's clock, as AWS allows. */
const MAX_SKEW_MS = 15 * 60_000;

export interface AuthFailure {
  status: number;
  type: string;
  message: string;
}

interface ParsedAuthorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

const AUTH_PATTERN =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

function parseAuthorization(header: string): ParsedAuthorization | null {
  const m = AUTH_PATTERN.exec(header.trim());
  if (!m) return null;
  return {
    accessKeyId: m[1]!,
    date: m[2]!,
    region: m[3]!,
    service: m[4]!,
    signedHeaders: m[5]!.split(';'),
    signature: m[6]!,
  };
}

/** RFC 3986 percent-encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * Non-S3 services encode each path segment once more than it arrived: `%3A` in the request
 * becomes `%253A` in the canonical request.
 */
function canonicalPath(rawPath: string): string {
  return rawPath.split('/').map(uriEncode).join('/');
}

function canonicalQuery(rawQuery: string): string {
  if (rawQuery === '') return '';
  return rawQuery
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const at = pair.indexOf('=');
      const [k, v] = at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
      return [uriEncode(safeDecode(k)), uriEncode(safeDecode(v))] as const;
    })
    .sort(([k1, v1], [k2, v2]) => (k1 < k2 ? -1 : k1 > k2 ? 1 : v1 < v2 ? -1 : v1 > v2 ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | null {
  const v = headers[name];
  if (v === undefined) return null;
  return (Array.isArray(v) ? v.join(',') : v).trim().replace(/\s+/g, ' ');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** x-amz-date (20240101T000000Z) as epoch ms, or NaN. */
function amzDateMs(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return Number.NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

export interface SignedParts {
  method: string;
  /** Path and query as received (percent-encoded). */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  signedHeaders: string[];
  amzDate: string;
  date: string;
  region: string;
  service: string;
  secretAccessKey: string;
}

/** The SigV4 signature (raw bytes) of a request, computed from its parts as AWS does. */
export function sigV4Signature(p: SignedParts): Buffer {
  const queryAt = p.url.indexOf('?');
  const path = queryAt < 0 ? p.url : p.url.slice(0, queryAt);
  const query = queryAt < 0 ? '' : p.url.slice(queryAt + 1);
  const canonicalHeaders = p.signedHeaders
    .map((name) => `${name}:${headerValue(p.headers, name) ?? ''}\n`)
    .join('');
  const payloadHash =
    headerValue(p.headers, 'x-amz-content-sha256') ?? createHash('sha256').update(p.body).digest('hex');
  const canonicalRequest = [
    p.method.toUpperCase(),
    canonicalPath(path),
    canonicalQuery(query),
    canonicalHeaders,
    p.signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    p.amzDate,
    `${p.date}/${p.region}/${p.service}/aws4_request`,
    createHash('sha256').update(canonicalRequest, 'utf8').digest('hex'),
  ].join('\n');
  const signingKey = hmac(
    hmac(hmac(hmac(`AWS4${p.secretAccessKey}`, p.date), p.region), p.service),
    'aws4_request',
  );
  return createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest();
}

const incomplete = (message: string): AuthFailure => ({
  status: 403,
  type: 'IncompleteSignatureException',
  message,
});
const invalid = (message: string): AuthFailure => ({
  status: 403,
  type: 'InvalidSignatureException',
  message,
});

/**
 * Checks a request's SigV4 Authorization as AWS does: present, well-formed, scoped to
 * `bedrock`, signed by the known key within the allowed clock skew, and the signature
 * recomputed over the method, path, query, signed headers and the exact body bytes.
 * Returns null when the request is authentic.
 */
export function verifySigV4(
  method: string,
  url: string,
  headers: IncomingHttpHeaders,
  body: Buffer,
  nowMs: number,
): AuthFailure | null {
  const header = headers.authorization;
  if (header === undefined || header.trim() === '') {
    return {
      status: 403,
      type: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    };
  }
  const auth = parseAuthorization(header);
  if (!auth) {
    return incomplete(
      `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters (AWS4-HMAC-SHA256). Authorization=${header.slice(0, 40)}`,
    );
  }
  if (auth.accessKeyId !== MOCK_AWS_ACCESS_KEY_ID) {
    return {
      status: 403,
      type: 'UnrecognizedClientException',
      message: 'The security token included in the request is invalid.',
    };
  }
  if (auth.service !== 'bedrock') {
    return invalid(`Credential should be scoped to correct service: 'bedrock'.`);
  }
  const amzDate = headerValue(headers, 'x-amz-date');
  if (amzDate === null)
    return incomplete('Authorization header requires existence of either a X-Amz-Date or a Date header.');
  if (!auth.signedHeaders.includes('host') || !auth.signedHeaders.includes('x-amz-date')) {
    return invalid("The request's SignedHeaders must include host and x-amz-date.");
  }
  const sorted = [...auth.signedHeaders].sort();
  if (sorted.join(';') !== auth.signedHeaders.join(';')) return invalid('SignedHeaders must be sorted.');
  if (!amzDate.startsWith(auth.date)) {
    return invalid(
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${amzDate.slice(0, 8)}'`,
    );
  }
  const signedAt = amzDateMs(amzDate);
  if (Number.isNaN(signedAt) || Math.abs(nowMs - signedAt) > MAX_SKEW_MS) {
    return invalid(`Signature expired: ${amzDate} is not within 15 minutes of the current time.`);
  }

  const expected = sigV4Signature({
    method,
    url,
    headers,
    body,
    signedHeaders: auth.signedHeaders,
    amzDate,
    date: auth.date,
    region: auth.region,
    service: auth.service,
    secretAccessKey: MOCK_AWS_SECRET_ACCESS_KEY,
  });
  if (!timingSafeEqual(expected, Buffer.from(auth.signature, 'hex'))) {
    return invalid(
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  }
  return null;
}
