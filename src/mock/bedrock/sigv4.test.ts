import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { ProviderEntry } from '../../config/compile.ts';
import { signedRequest } from '../../providers/bedrock/request.ts';
import { MOCK_AWS_ACCESS_KEY_ID, MOCK_AWS_SECRET_ACCESS_KEY, sigV4Signature, verifySigV4 } from './sigv4.ts';

describe('the mock SigV4 verifier', () => {
  it("computes AWS's get-vanilla test-suite signature", () => {
    const signature = sigV4Signature({
      method: 'GET',
      url: '/',
      headers: { host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z' },
      body: Buffer.alloc(0),
      signedHeaders: ['host', 'x-amz-date'],
      amzDate: '20150830T123600Z',
      date: '20150830',
      region: 'us-east-1',
      service: 'service',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    });
    expect(signature.toString('hex')).toBe(
      '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });

  const provider = {
    region: 'us-west-2',
    aws_access_key_id: MOCK_AWS_ACCESS_KEY_ID,
    aws_secret_access_key: MOCK_AWS_SECRET_ACCESS_KEY,
  } as ProviderEntry;
  const url = 'http://127.0.0.1:4010/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse';
  const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'héllo' }] }] });

  /** The request as the mock's HTTP server would see it. */
  async function received(p: ProviderEntry = provider, sentBody = body) {
    const req = await signedRequest(p, url, { 'content-type': 'application/json' }, body);
    const headers: IncomingHttpHeaders = { host: '127.0.0.1:4010' };
    for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
    return { path: new URL(url).pathname, headers, body: Buffer.from(sentBody) };
  }

  it('accepts what the gateway signs (aws4fetch), with or without a session token', async () => {
    for (const p of [provider, { ...provider, aws_session_token: 'FwoGZXIvYXdzEXAMPLE' }]) {
      const r = await received(p);
      expect(verifySigV4('POST', r.path, r.headers, r.body, Date.now())).toBeNull();
    }
  });

  it('refuses a changed body, a changed path, an unknown key, a wrong secret and a stale date', async () => {
    const r = await received(provider, `${body} `);
    expect(verifySigV4('POST', r.path, r.headers, r.body, Date.now())).toMatchObject({
      status: 403,
      type: 'InvalidSignatureException',
    });
    const ok = await received();
    expect(
      verifySigV4('POST', ok.path.replace('haiku', 'sonnet'), ok.headers, ok.body, Date.now()),
    ).toMatchObject({
      type: 'InvalidSignatureException',
    });
    expect(verifySigV4('POST', ok.path, ok.headers, ok.body, Date.now() + 20 * 60_000)).toMatchObject({
      type: 'InvalidSignatureException',
      message: expect.stringContaining('Signature expired'),
    });
    const other = await received({ ...provider, aws_access_key_id: 'AKIAOTHER' });
    expect(verifySigV4('POST', other.path, other.headers, other.body, Date.now())).toMatchObject({
      type: 'UnrecognizedClientException',
    });
    const wrong = await received({ ...provider, aws_secret_access_key: 'nope' });
    expect(verifySigV4('POST', wrong.path, wrong.headers, wrong.body, Date.now())).toMatchObject({
      type: 'InvalidSignatureException',
    });
  });

  it('refuses missing and malformed Authorization headers, and other services', () => {
    const now = Date.now();
    expect(verifySigV4('POST', '/', {}, Buffer.alloc(0), now)).toMatchObject({
      type: 'MissingAuthenticationTokenException',
    });
    expect(verifySigV4('POST', '/', { authorization: 'Bearer abc' }, Buffer.alloc(0), now)).toMatchObject({
      status: 403,
      type: 'IncompleteSignatureException',
    });
    const s3 = `AWS4-HMAC-SHA256 Credential=${MOCK_AWS_ACCESS_KEY_ID}/20240101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`;
    expect(verifySigV4('POST', '/', { authorization: s3 }, Buffer.alloc(0), now)).toMatchObject({
      type: 'InvalidSignatureException',
    });
  });
});
