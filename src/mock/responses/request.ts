import { isRecord } from '../../json.ts';
import type { RequestProblem } from '../chatRequest.ts';

/** The parts of a Responses request the mock reads; the rest is echoed back as given. */
export interface ResponsesRequest {
  body: Record<string, unknown>;
  model: string;
  stream: boolean;
  maxOutputTokens: number | null;
  /** The function the reply calls, when tool_choice forces one; null for a text reply. */
  forcedFunction: string | null;
}

export type ParsedResponses =
  | { ok: true; request: ResponsesRequest }
  | { ok: false; problem: RequestProblem };

/** OpenAI refuses smaller caps on the Responses API. */
export const MIN_MAX_OUTPUT_TOKENS = 16;

function functionNames(tools: unknown): string[] {
  if (!Array.isArray(tools)) return [];
  const names: string[] = [];
  for (const tool of tools as unknown[]) {
    if (isRecord(tool) && tool.type === 'function' && typeof tool.name === 'string') names.push(tool.name);
  }
  return names;
}

/**
 * 'required' calls the first function tool; {type:'function', name} calls that one; 'auto'
 * and 'none' answer with text, so tests choose a tool call explicitly.
 */
function forcedFunction(body: Record<string, unknown>): string | null | RequestProblem {
  const names = functionNames(body.tools);
  const choice = body.tool_choice;
  if (choice === 'required') return names[0] ?? null;
  if (isRecord(choice) && choice.type === 'function') {
    if (typeof choice.name === 'string' && names.includes(choice.name)) return choice.name;
    return {
      message: `Tool choice '${String(choice.name)}' not found in 'tools' parameter.`,
      param: 'tool_choice',
      code: null,
    };
  }
  return null;
}

/** Validates what the mock relies on, with OpenAI's wording. */
export function parseResponsesRequest(body: unknown): ParsedResponses {
  const fail = (
    message: string,
    param: string | null = null,
    code: string | null = null,
  ): ParsedResponses => ({
    ok: false,
    problem: { message, param, code },
  });
  if (!isRecord(body)) return fail('Invalid type for body: expected an object.');
  if (typeof body.model !== 'string' || body.model === '') return fail('you must provide a model parameter');
  const input = body.input;
  if (input !== undefined && typeof input !== 'string' && !Array.isArray(input)) {
    return fail(
      "Invalid type for 'input': expected a string or an array of input items.",
      'input',
      'invalid_type',
    );
  }
  if (Array.isArray(input) && input.some((item) => !isRecord(item))) {
    return fail("Invalid type for 'input': expected an array of objects.", 'input', 'invalid_type');
  }
  const cap = body.max_output_tokens;
  if (cap !== undefined && cap !== null) {
    if (typeof cap !== 'number' || !Number.isInteger(cap)) {
      return fail(
        "Invalid type for 'max_output_tokens': expected an integer.",
        'max_output_tokens',
        'invalid_type',
      );
    }
    if (cap < MIN_MAX_OUTPUT_TOKENS) {
      return fail(
        `Invalid 'max_output_tokens': integer below minimum value. Expected a value >= ${MIN_MAX_OUTPUT_TOKENS}, but got ${cap} instead.`,
        'max_output_tokens',
        'integer_below_min_value',
      );
    }
  }
  if (body.tools != null && !Array.isArray(body.tools)) {
    return fail("Invalid type for 'tools': expected an array.", 'tools', 'invalid_type');
  }
  const forced = forcedFunction(body);
  if (forced !== null && typeof forced === 'object') return { ok: false, problem: forced };
  return {
    ok: true,
    request: {
      body,
      model: body.model,
      stream: body.stream === true,
      maxOutputTokens: typeof cap === 'number' ? cap : null,
      forcedFunction: forced,
    },
  };
}
