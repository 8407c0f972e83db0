import type { ChatBody } from './types.ts';

export interface RequestProblem {
  message: string;
  param: string | null;
  code: string | null;
}

export type ParsedChat = { ok: true; body: ChatBody } | { ok: false; problem: RequestProblem };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** OpenAI's wording for an optional integer parameter that is present but out of range. */
function checkInteger(
  body: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
): RequestProblem | null {
  const value = body[name];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    return {
      message: `Invalid type for '${name}': expected an integer, but got ${typeName(value)} instead.`,
      param: name,
      code: 'invalid_type',
    };
  }
  if (value < min) {
    return {
      message: `Invalid '${name}': integer below minimum value. Expected a value >= ${min}, but got ${value} instead.`,
      param: name,
      code: 'integer_below_min_value',
    };
  }
  if (value > max) {
    return {
      message: `Invalid '${name}': integer above maximum value. Expected a value <= ${max}, but got ${value} instead.`,
      param: name,
      code: 'integer_above_max_value',
    };
  }
  return null;
}

/** Validates what the mock relies on, rejecting the same mistakes OpenAI rejects, with its messages. */
export function parseChatRequest(body: unknown): ParsedChat {
  const fail = (message: string, param: string | null = null, code: string | null = null): ParsedChat => ({
    ok: false,
    problem: { message, param, code },
  });
  if (!isObject(body))
    return fail(`Invalid type for body: expected an object, but got ${typeName(body)} instead.`);
  if (typeof body.model !== 'string' || body.model === '') return fail('you must provide a model parameter');
  const messages = body.messages;
  if (messages === undefined)
    return fail("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
  if (!Array.isArray(messages)) {
    return fail(
      `Invalid type for 'messages': expected an array of objects, but got ${typeName(messages)} instead.`,
      'messages',
      'invalid_type',
    );
  }
  if (messages.length === 0) {
    return fail(
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'messages',
      'empty_array',
    );
  }
  for (let i = 0; i < messages.length; i++) {
    const message: unknown = messages[i];
    if (!isObject(message) || typeof message.role !== 'string') {
      return fail(
        `Invalid type for 'messages[${i}]': expected an object with a string 'role'.`,
        `messages[${i}]`,
        'invalid_type',
      );
    }
  }
  const problem =
    checkInteger(body, 'max_tokens', 1, Number.MAX_SAFE_INTEGER) ??
    checkInteger(body, 'max_completion_tokens', 1, Number.MAX_SAFE_INTEGER) ??
    checkInteger(body, 'n', 1, 128);
  if (problem) return { ok: false, problem };
  if (body.stream_options != null && body.stream !== true) {
    return fail("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
  }
  return { ok: true, body: body as unknown as ChatBody };
}
