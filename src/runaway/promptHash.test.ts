import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { promptHash } from './promptHash.ts';

const messages = [{ role: 'user', content: 'list the files' }];

describe('promptHash', () => {
  it('is the sha1 of [system, prompt]', () => {
    const expected = createHash('sha1')
      .update('[null,[{"role":"user","content":"list the files"}]]')
      .digest('hex');
    expect(promptHash({ model: 'gpt-4.1', messages })).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{40}$/);
  });

  it('ignores the fields that change between retries of one loop step', () => {
    const a = promptHash({ model: 'a', messages, temperature: 0.2, stream: true, user: 'u1' });
    const b = promptHash({ model: 'b', messages, temperature: 0.9, max_tokens: 10, metadata: { n: 3 } });
    expect(a).toBe(b);
  });

  it('changes with the conversation and with the system prompt', () => {
    const base = promptHash({ messages });
    expect(promptHash({ messages: [...messages, { role: 'assistant', content: 'a' }] })).not.toBe(base);
    expect(promptHash({ system: 'be brief', messages })).not.toBe(base);
    expect(promptHash({ system: 'be brief', messages })).not.toBe(
      promptHash({ system: 'be long', messages }),
    );
  });

  it('reads input (Responses, embeddings) and contents (Gemini), and hashes an unknown body whole', () => {
    expect(promptHash({ input: 'hello', instructions: 'x' })).toBe(
      createHash('sha1').update('["x","hello"]').digest('hex'),
    );
    expect(promptHash({ contents: [{ parts: [{ text: 'hi' }] }] })).not.toBe(promptHash({ contents: [] }));
    expect(promptHash({ prompt: 'legacy' })).toBe(
      createHash('sha1').update('{"prompt":"legacy"}').digest('hex'),
    );
  });
});
