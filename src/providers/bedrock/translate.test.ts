import { describe, expect, it } from 'vitest';
import type { ModelEntry, ProviderEntry } from '../../config/compile.ts';
import { converseBody } from './converseBody.ts';
import { converseRequest, converseUrl } from './request.ts';
import { completionFromConverse } from './response.ts';

const provider = {
  id: 'aws',
  kind: 'bedrock',
  base_url: 'https://bedrock-runtime.eu-west-1.amazonaws.com/',
  region: 'eu-west-1',
  aws_access_key_id: 'AKIDEXAMPLE',
  aws_secret_access_key: 'secret',
  headers: {},
} as unknown as ProviderEntry;
const model = (upstreamModel: string) => ({ id: 'm', upstreamModel }) as ModelEntry;

describe('OpenAI chat → Converse request', () => {
  it('puts the model id in the path as one encoded segment', () => {
    expect(converseUrl(provider, model('anthropic.claude-3-5-sonnet-20241022-v2:0'), false)).toBe(
      'https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse',
    );
    expect(
      converseUrl(
        provider,
        model('arn:aws:bedrock:eu-west-1:123:inference-profile/eu.anthropic.claude'),
        true,
      ),
    ).toBe(
      'https://bedrock-runtime.eu-west-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123%3Ainference-profile%2Feu.anthropic.claude/converse-stream',
    );
  });

  it('signs with SigV4 for bedrock in the provider region, session token included', async () => {
    const req = await converseRequest(
      { ...provider, aws_session_token: 'session-token' },
      model('amazon.nova-lite-v1:0'),
      { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
      { stream: true, clientWantsUsage: false },
    );
    expect(req.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/bedrock\/aws4_request, SignedHeaders=accept;host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    );
    expect(req.headers['x-amz-security-token']).toBe('session-token');
    expect(req.headers.accept).toBe('application/vnd.amazon.eventstream');
    expect(JSON.parse(req.body)).toEqual({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] });
  });

  it('without credentials the request goes unsigned (Bedrock answers 403)', async () => {
    const req = await converseRequest(
      { ...provider, aws_access_key_id: undefined },
      model('x'),
      { messages: [{ role: 'user', content: 'hi' }] },
      { stream: false, clientWantsUsage: false },
    );
    expect(req.headers.authorization).toBeUndefined();
  });

  it('system and developer messages become system blocks; blank text is dropped; same roles merge', () => {
    expect(
      converseBody({
        messages: [
          { role: 'developer', content: 'Rule one.' },
          { role: 'system', content: [{ type: 'text', text: 'Rule two.' }] },
          { role: 'user', content: 'first' },
          { role: 'assistant', content: '' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'second' },
              { type: 'text', text: '  ' },
            ],
          },
        ],
        max_tokens: 10,
        stop: 'END',
        n: 1,
        seed: 4,
      }),
    ).toEqual({
      system: [{ text: 'Rule one.' }, { text: 'Rule two.' }],
      messages: [{ role: 'user', content: [{ text: 'first' }, { text: 'second' }] }],
      inferenceConfig: { maxTokens: 10, stopSequences: ['END'] },
    });
  });

  it('max_completion_tokens wins over max_tokens', () => {
    const body = converseBody({
      messages: [{ role: 'user', content: 'x' }],
      max_tokens: 100,
      max_completion_tokens: 7,
    });
    expect(body.inferenceConfig).toEqual({ maxTokens: 7 });
  });

  it('images: data URLs become bytes, other URLs an S3 location', () => {
    const body = converseBody({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,AAAA' } },
            { type: 'image_url', image_url: { url: 's3://bucket/cat.JPG' } },
          ],
        },
      ],
    });
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { image: { format: 'jpeg', source: { bytes: 'AAAA' } } },
          { image: { format: 'jpeg', source: { s3Location: { uri: 's3://bucket/cat.JPG' } } } },
        ],
      },
    ]);
  });

  it('tools: schemas, choices, unparsable arguments and empty tool results', () => {
    const tools = [
      {
        type: 'function',
        function: { name: 'a', parameters: { type: 'object', properties: { x: { type: 'string' } } } },
      },
      { type: 'function', function: { name: 'b' } },
    ];
    const history = [
      { role: 'user', content: 'go' },
      {
        role: 'assistant',
        tool_calls: [{ id: 't1', type: 'function', function: { name: 'a', arguments: 'not json' } }],
      },
      { role: 'tool', tool_call_id: 't1', content: '' },
    ];
    const withHistory = converseBody({ messages: history, tools, tool_choice: 'none' });
    expect(withHistory.toolConfig).toEqual({
      tools: [
        { toolSpec: { name: 'a', inputSchema: { json: tools[0]!.function.parameters } } },
        { toolSpec: { name: 'b', inputSchema: { json: { type: 'object', properties: {} } } } },
      ],
    });
    expect(withHistory.messages).toEqual([
      { role: 'user', content: [{ text: 'go' }] },
      {
        role: 'assistant',
        content: [{ toolUse: { toolUseId: 't1', name: 'a', input: { arguments: 'not json' } } }],
      },
      { role: 'user', content: [{ toolResult: { toolUseId: 't1', content: [{ text: '(empty)' }] } }] },
    ]);
    const fresh = [{ role: 'user', content: 'go' }];
    expect(converseBody({ messages: fresh, tools, tool_choice: 'none' }).toolConfig).toBeUndefined();
    expect(converseBody({ messages: fresh, tools, tool_choice: 'auto' }).toolConfig).toMatchObject({
      toolChoice: { auto: {} },
    });
    expect(converseBody({ messages: fresh, tools }).toolConfig).not.toHaveProperty('toolChoice');
  });
});

describe('Converse response → chat.completion', () => {
  it('text, reasoning and tool use; usage with cache tokens in OpenAI shape', () => {
    const { completion, usage } = completionFromConverse({
      output: {
        message: {
          role: 'assistant',
          content: [
            { reasoningContent: { reasoningText: { text: 'thinking', signature: 's' } } },
            { text: 'Let me check.' },
            { toolUse: { toolUseId: 'tu1', name: 'lookup', input: { q: 'x' } } },
          ],
        },
      },
      stopReason: 'tool_use',
      usage: {
        inputTokens: 10,
        outputTokens: 5,
        totalTokens: 21,
        cacheReadInputTokens: 2,
        cacheWriteInputTokens: 4,
      },
      metrics: { latencyMs: 100 },
    });
    expect(completion).toMatchObject({
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content: 'Let me check.',
            reasoning_content: 'thinking',
            tool_calls: [
              { id: 'tu1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } },
            ],
          },
        },
      ],
      usage: {
        prompt_tokens: 16,
        completion_tokens: 5,
        total_tokens: 21,
        prompt_tokens_details: { cached_tokens: 2 },
      },
    });
    expect(usage).toEqual({
      inputTokens: 10,
      outputTokens: 5,
      cacheReadTokens: 2,
      cacheWriteTokens: 4,
      reasoningTokens: 0,
    });
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['guardrail_intervened', 'content_filter'],
    ['content_filtered', 'content_filter'],
  ])('stopReason %s → finish_reason %s', (stopReason, finish) => {
    const { completion } = completionFromConverse({ output: { message: { content: [] } }, stopReason });
    expect((completion.choices as Array<{ finish_reason: string }>)[0]?.finish_reason).toBe(finish);
  });

  it('never throws on odd shapes; no usage is null usage', () => {
    for (const body of [
      null,
      42,
      'x',
      [],
      {},
      { output: 'x' },
      { output: { message: { content: [null, 1, {}] } } },
    ]) {
      const { completion, usage } = completionFromConverse(body);
      expect(completion.object).toBe('chat.completion');
      expect(usage).toBeNull();
    }
  });
});
