import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GeminiStreamDecoder } from '../../providers/gemini/stream.ts';
import type { MockServer } from '../index.ts';
import { mockContent, startMock } from '../index.ts';
import { MOCK_GEMINI_API_KEY } from './index.ts';

let mock: MockServer;

beforeAll(async () => {
  mock = await startMock({ outputTokens: 6 });
});
afterAll(async () => {
  await mock.close();
});

const hi = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };

async function call(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${mock.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

const withKey = { 'x-goog-api-key': MOCK_GEMINI_API_KEY };

describe('mock Gemini', () => {
  it('takes the key from x-goog-api-key or ?key=, and answers Google-style without a valid one', async () => {
    const header = await call('/v1beta/models/gemini-2.5-flash:generateContent', hi, withKey);
    expect(header.status).toBe(200);
    const query = await call(
      `/v1beta/models/gemini-2.5-flash:generateContent?key=${MOCK_GEMINI_API_KEY}`,
      hi,
    );
    expect(query.status).toBe(200);
    const missing = await call('/v1beta/models/gemini-2.5-flash:generateContent', hi);
    expect(missing.status).toBe(403);
    expect(JSON.parse(missing.text)).toMatchObject({ error: { code: 403, status: 'PERMISSION_DENIED' } });
    const wrong = await call('/v1beta/models/gemini-2.5-flash:generateContent', hi, {
      'x-goog-api-key': 'nope',
    });
    expect(JSON.parse(wrong.text)).toMatchObject({
      error: {
        code: 400,
        status: 'INVALID_ARGUMENT',
        message: 'API key not valid. Please pass a valid API key.',
      },
    });
  });

  it('answers a GenerateContentResponse with Gemini usage fields, zero counts left out', async () => {
    const res = await call('/v1beta/models/gemini-2.5-flash:generateContent', hi, {
      ...withKey,
      'x-mock-cached-tokens': '1',
    });
    expect(JSON.parse(res.text)).toMatchObject({
      candidates: [
        { content: { role: 'model', parts: [{ text: mockContent(6) }] }, finishReason: 'STOP', index: 0 },
      ],
      usageMetadata: {
        promptTokenCount: 1,
        candidatesTokenCount: 6,
        totalTokenCount: 7,
        cachedContentTokenCount: 1,
      },
      modelVersion: 'gemini-2.5-flash',
    });
    expect(JSON.parse(res.text).usageMetadata.thoughtsTokenCount).toBeUndefined();
  });

  it('shows thought parts only when includeThoughts is set; counts them either way', async () => {
    const body = {
      ...hi,
      generationConfig: { thinkingConfig: { includeThoughts: true }, maxOutputTokens: 8 },
    };
    const res = await call('/v1beta/models/gemini-2.5-flash:generateContent', body, {
      ...withKey,
      'x-mock-reasoning-tokens': '4',
    });
    const parsed = JSON.parse(res.text);
    expect(parsed.candidates[0].content.parts).toEqual([
      { text: mockContent(4), thought: true },
      { text: mockContent(4) },
    ]);
    expect(parsed.candidates[0].finishReason).toBe('MAX_TOKENS');
    expect(parsed.usageMetadata).toMatchObject({
      candidatesTokenCount: 4,
      thoughtsTokenCount: 4,
      totalTokenCount: 9,
    });
  });

  it('streams SSE with alt=sse (cumulative usage) and a JSON array without it', async () => {
    const sse = await call('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', hi, withKey);
    expect(sse.type).toBe('text/event-stream');
    const decoder = new GeminiStreamDecoder();
    const chunks = [...decoder.push(Buffer.from(sse.text)), ...decoder.end()];
    expect(chunks).toHaveLength(6);
    expect(decoder.usage()).toMatchObject({ inputTokens: 1, outputTokens: 6 });
    const totals = sse.text
      .split('\r\n\r\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => JSON.parse(e.slice(6)).usageMetadata.candidatesTokenCount);
    expect(totals).toEqual([1, 2, 3, 4, 5, 6]);

    const array = await call('/v1beta/models/gemini-2.5-flash:streamGenerateContent', hi, withKey);
    const events = JSON.parse(array.text) as { candidates: { content: { parts: { text: string }[] } }[] }[];
    expect(events.map((e) => e.candidates[0]!.content.parts[0]!.text).join('')).toBe(mockContent(6));
  });

  it('refuses what Gemini refuses: unknown fields, bad roles, empty parts, no contents', async () => {
    const path = '/v1beta/models/gemini-2.5-flash:generateContent';
    const cases: [unknown, string][] = [
      [{ ...hi, messages: [] }, 'Unknown name "messages"'],
      [{ contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] }, 'valid role'],
      [{ contents: [{ role: 'user', parts: [] }] }, 'parts must not be empty'],
      [{ contents: [{ role: 'user', parts: [{ text: '' }] }] }, 'empty text parameter'],
      [{ contents: [] }, 'contents is not specified'],
      [{ ...hi, generationConfig: { max_tokens: 5 } }, 'Unknown name "max_tokens"'],
      ['{not json', 'Invalid JSON payload'],
    ];
    for (const [body, message] of cases) {
      const res = await call(path, body, withKey);
      expect(res.status, message).toBe(400);
      expect(JSON.parse(res.text).error.message).toContain(message);
    }
    const unknown = await call('/v1beta/models/gpt-4o:generateContent', hi, withKey);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text).error.status).toBe('NOT_FOUND');
  });
});
