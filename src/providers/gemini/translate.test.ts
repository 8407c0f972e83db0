import { describe, expect, it } from 'vitest';
import type { ModelEntry, ProviderEntry } from '../../config/compile.ts';
import { FOREIGN_THOUGHT_SIGNATURE, generateContentBody } from './generateContentBody.ts';
import { generateContentRequest, generateContentUrl } from './request.ts';
import { completionFromGemini } from './response.ts';
import { GeminiStreamDecoder } from './stream.ts';
import { usageFromGemini } from './usage.ts';

const provider = (base_url: string, api_key?: string) =>
  ({ id: 'google', kind: 'gemini', base_url, api_key, headers: {} }) as unknown as ProviderEntry;
const model = (upstreamModel: string) => ({ id: 'm', upstreamModel }) as ModelEntry;

describe('OpenAI chat → Gemini request', () => {
  it('builds the generateContent / streamGenerateContent URL, adding v1beta unless a version is given', () => {
    const host = provider('https://generativelanguage.googleapis.com/');
    expect(generateContentUrl(host, model('gemini-2.5-flash'), false)).toBe(
      'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent',
    );
    expect(generateContentUrl(host, model('gemini-2.5-flash'), true)).toBe(
      'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    );
    const v1 = provider('https://generativelanguage.googleapis.com/v1');
    expect(generateContentUrl(v1, model('tunedModels/my-tune'), false)).toBe(
      'https://generativelanguage.googleapis.com/v1/tunedModels/my-tune:generateContent',
    );
    const vertex = provider(
      'https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/publishers/google',
    );
    expect(generateContentUrl(vertex, model('gemini-2.5-flash'), true)).toBe(
      'https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    );
    // A host name that merely looks like a version is not one.
    expect(generateContentUrl(provider('http://v1.example'), model('gemini-2.5-flash'), false)).toBe(
      'http://v1.example/v1beta/models/gemini-2.5-flash:generateContent',
    );
  });

  it('sends the key as x-goog-api-key, never in the URL or as a Bearer token', () => {
    const req = generateContentRequest(
      provider('https://g.example', 'AIza-secret'),
      model('gemini-2.5-flash'),
      { model: 'x', messages: [{ role: 'user', content: 'hi' }] },
      { stream: false, clientWantsUsage: false },
    );
    expect(req.headers['x-goog-api-key']).toBe('AIza-secret');
    expect(req.headers.authorization).toBeUndefined();
    expect(req.url).not.toContain('AIza-secret');
    expect(JSON.parse(req.body)).toEqual({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] });
  });

  it('maps system, roles, images, tools, tool calls and results, and generation settings', () => {
    const body = generateContentBody({
      model: 'x',
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'developer', content: [{ type: 'text', text: 'Use metric units.' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather here?' },
            { type: 'image_url', image_url: { url: 'data:image/PNG;base64,AAAA' } },
            { type: 'image_url', image_url: { url: 'gs://bucket/cat.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: '',
          tool_calls: [
            {
              id: 'call_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_a', content: 'Sunny' },
        { role: 'tool', tool_call_id: 'call_b', content: '{"time":"12:00"}' },
        { role: 'user', content: 'Thanks' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Weather',
            parameters: {
              type: 'object',
              properties: { city: { type: 'string' } },
              additionalProperties: false,
            },
          },
        },
        { type: 'function', function: { name: 'get_time' } },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      max_tokens: 100,
      temperature: 0.2,
      top_p: 0.9,
      stop: 'END',
      n: 2,
      seed: 7,
      response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' } } },
      reasoning_effort: 'low',
      user: 'ignored',
    });
    expect(body).toEqual({
      systemInstruction: { parts: [{ text: 'Be terse.' }, { text: 'Use metric units.' }] },
      contents: [
        {
          role: 'user',
          parts: [
            { text: 'Weather here?' },
            { inlineData: { mimeType: 'image/png', data: 'AAAA' } },
            { fileData: { mimeType: 'image/jpeg', fileUri: 'gs://bucket/cat.jpg' } },
          ],
        },
        {
          role: 'model',
          parts: [
            {
              functionCall: { name: 'get_weather', args: { city: 'Paris' } },
              thoughtSignature: FOREIGN_THOUGHT_SIGNATURE,
            },
            { functionCall: { name: 'get_time', args: {} } },
          ],
        },
        {
          role: 'user',
          parts: [
            { functionResponse: { name: 'get_weather', response: { output: 'Sunny' } } },
            { functionResponse: { name: 'get_time', response: { time: '12:00' } } },
            { text: 'Thanks' },
          ],
        },
      ],
      tools: [
        {
          functionDeclarations: [
            {
              name: 'get_weather',
              description: 'Weather',
              parametersJsonSchema: {
                type: 'object',
                properties: { city: { type: 'string' } },
                additionalProperties: false,
              },
            },
            { name: 'get_time' },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } },
      generationConfig: {
        maxOutputTokens: 100,
        temperature: 0.2,
        topP: 0.9,
        stopSequences: ['END'],
        candidateCount: 2,
        seed: 7,
        responseMimeType: 'application/json',
        responseJsonSchema: { type: 'object' },
        thinkingConfig: { thinkingBudget: 1024 },
      },
    });
  });

  it('survives malformed messages without throwing', () => {
    expect(generateContentBody({ messages: 'nope' })).toEqual({ contents: [] });
    expect(
      generateContentBody({ messages: [null, 3, { role: 'assistant', tool_calls: [{ function: 'x' }] }] }),
    ).toEqual({ contents: [] });
  });
});

describe('Gemini usage', () => {
  it('splits cached out of the prompt and bills thoughts as output', () => {
    expect(
      usageFromGemini({
        promptTokenCount: 100,
        cachedContentTokenCount: 40,
        candidatesTokenCount: 20,
        thoughtsTokenCount: 30,
        toolUsePromptTokenCount: 5,
        totalTokenCount: 155,
      }),
    ).toEqual({
      inputTokens: 65,
      outputTokens: 50,
      cacheReadTokens: 40,
      cacheWriteTokens: 0,
      reasoningTokens: 30,
    });
    expect(usageFromGemini({ promptTokenCount: 7, totalTokenCount: 7 })).toEqual({
      inputTokens: 7,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    });
    expect(usageFromGemini(null)).toBeNull();
    expect(usageFromGemini({ totalTokenCount: 3 })).toBeNull();
  });
});

describe('Gemini response → chat.completion', () => {
  it('maps text, thoughts, function calls, finish reasons and usage', () => {
    const { completion, usage } = completionFromGemini({
      candidates: [
        {
          content: {
            role: 'model',
            parts: [
              { text: 'thinking…', thought: true },
              { text: 'Calling.' },
              { functionCall: { name: 'f', args: { a: 1 } }, thoughtSignature: 'sig' },
            ],
          },
          finishReason: 'STOP',
          index: 0,
        },
      ],
      usageMetadata: {
        promptTokenCount: 10,
        candidatesTokenCount: 4,
        thoughtsTokenCount: 3,
        totalTokenCount: 17,
      },
      modelVersion: 'gemini-2.5-flash',
    });
    const choice = (completion.choices as Record<string, unknown>[])[0]!;
    expect(choice).toMatchObject({
      index: 0,
      finish_reason: 'tool_calls',
      message: {
        role: 'assistant',
        content: 'Calling.',
        reasoning_content: 'thinking…',
        tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
      },
    });
    expect(usage).toEqual({
      inputTokens: 10,
      outputTokens: 7,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 3,
    });
    expect(completion.usage).toMatchObject({ prompt_tokens: 10, completion_tokens: 7, total_tokens: 17 });
  });

  it('a blocked prompt is an empty content_filter answer; garbage is an empty answer, never a throw', () => {
    const blocked = completionFromGemini({
      promptFeedback: { blockReason: 'SAFETY' },
      usageMetadata: { promptTokenCount: 5 },
    });
    expect((blocked.completion.choices as Record<string, unknown>[])[0]).toMatchObject({
      finish_reason: 'content_filter',
    });
    expect(blocked.usage?.inputTokens).toBe(5);
    for (const junk of [null, 'x', [], { candidates: 'no' }, { candidates: [null, { content: 5 }] }]) {
      expect(() => completionFromGemini(junk)).not.toThrow();
    }
    expect(
      completionFromGemini({ candidates: [{ finishReason: 'MAX_TOKENS' }] }).completion.choices,
    ).toMatchObject([{ finish_reason: 'length', message: { content: '' } }]);
  });
});

const sse = (obj: unknown) => `data: ${JSON.stringify(obj)}\r\n\r\n`;
const textEvent = (text: string, extra: Record<string, unknown> = {}, usage?: Record<string, unknown>) =>
  sse({
    candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...extra }],
    ...(usage ? { usageMetadata: usage } : {}),
  });

describe('Gemini stream → chat chunks', () => {
  it('decodes text across arbitrary byte splits; usage only once the candidate finished', () => {
    const bytes = Buffer.from(
      textEvent(' hello', {}, { promptTokenCount: 5, candidatesTokenCount: 1, totalTokenCount: 6 }) +
        textEvent(
          ' wörld',
          { finishReason: 'STOP' },
          { promptTokenCount: 5, candidatesTokenCount: 2, totalTokenCount: 7 },
        ),
    );
    const decoder = new GeminiStreamDecoder();
    const chunks = [];
    for (let i = 0; i < bytes.length; i += 7) {
      chunks.push(...decoder.push(bytes.subarray(i, i + 7)));
      if (i + 7 < bytes.length) expect(decoder.usage()).toBeNull();
    }
    chunks.push(...decoder.end());
    expect(chunks.map((c) => (c.choices as { delta: unknown }[])[0]!.delta)).toEqual([
      { role: 'assistant', content: ' hello' },
      { content: ' wörld' },
    ]);
    expect((chunks[1]!.choices as { finish_reason: unknown }[])[0]!.finish_reason).toBe('stop');
    expect(decoder.completed()).toBe(true);
    expect(decoder.usage()).toMatchObject({ inputTokens: 5, outputTokens: 2 });
    expect(decoder.generatedText()).toBe(' hello wörld');
  });

  it('a cut stream is not completed and reports no usage, but keeps the generated text', () => {
    const decoder = new GeminiStreamDecoder();
    decoder.push(Buffer.from(textEvent(' one', {}, { promptTokenCount: 5, candidatesTokenCount: 1 })));
    decoder.push(Buffer.from('data: {"candidates": [{"content": {"par'));
    decoder.end();
    expect(decoder.completed()).toBe(false);
    expect(decoder.usage()).toBeNull();
    expect(decoder.generatedText()).toBe(' one');
    expect(decoder.streamError()).toBeNull();
  });

  it('function calls become whole tool_calls deltas with running indexes; finish is tool_calls', () => {
    const decoder = new GeminiStreamDecoder();
    const chunks = decoder.push(
      Buffer.from(
        sse({
          candidates: [
            {
              content: {
                role: 'model',
                parts: [{ functionCall: { name: 'f', args: { x: 1 } } }, { functionCall: { name: 'g' } }],
              },
              finishReason: 'STOP',
            },
          ],
          usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4 },
        }),
      ),
    );
    const choice = (chunks[0]!.choices as Record<string, unknown>[])[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.delta).toMatchObject({
      tool_calls: [
        { index: 0, type: 'function', function: { name: 'f', arguments: '{"x":1}' } },
        { index: 1, type: 'function', function: { name: 'g', arguments: '{}' } },
      ],
    });
    expect(decoder.generatedText()).toBe('f{"x":1}g{}');
  });

  it('garbage and error events set streamError instead of throwing', () => {
    const bad = new GeminiStreamDecoder();
    expect(() => bad.push(Buffer.from('data: {not json\r\n\r\n'))).not.toThrow();
    expect(bad.streamError()).toMatch(/not valid JSON/);
    const err = new GeminiStreamDecoder();
    err.push(Buffer.from(sse({ error: { code: 500, message: 'boom', status: 'INTERNAL' } })));
    expect(err.streamError()).toBe('INTERNAL: boom');
  });

  it('a blocked prompt ends the stream with content_filter', () => {
    const decoder = new GeminiStreamDecoder();
    const chunks = decoder.push(
      Buffer.from(
        sse({
          promptFeedback: { blockReason: 'PROHIBITED_CONTENT' },
          usageMetadata: { promptTokenCount: 9 },
        }),
      ),
    );
    expect((chunks[0]!.choices as Record<string, unknown>[])[0]!.finish_reason).toBe('content_filter');
    expect(decoder.completed()).toBe(true);
    expect(decoder.usage()?.inputTokens).toBe(9);
  });
});
