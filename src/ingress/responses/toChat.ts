import { isRecord } from '../../json.ts';
import type { CanonicalRequest } from '../../providers/types.ts';

/**
 * A Responses request as canonical chat, for providers that do not speak the Responses API:
 * instructions → a system message, input text / messages → messages, function calls and
 * their outputs → assistant tool_calls and tool messages, function tools → chat tools,
 * max_output_tokens → max_completion_tokens, text.format → response_format.
 * What chat cannot express (built-in tools, reasoning items, item references, stored state)
 * is left out.
 */
export function responsesToChat(body: Record<string, unknown>): CanonicalRequest {
  const messages: ChatMessage[] = [];
  if (typeof body.instructions === 'string' && body.instructions !== '') {
    messages.push({ role: 'system', content: body.instructions });
  } else if (Array.isArray(body.instructions)) {
    appendItems(messages, body.instructions);
  }
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else if (Array.isArray(body.input)) appendItems(messages, body.input);

  const chat: CanonicalRequest = { model: body.model, messages };
  for (const key of ['temperature', 'top_p', 'parallel_tool_calls', 'user', 'stream'] as const) {
    if (body[key] !== undefined && body[key] !== null) chat[key] = body[key];
  }
  if (body.stream === true) chat.stream_options = { include_usage: true };
  if (typeof body.max_output_tokens === 'number') chat.max_completion_tokens = body.max_output_tokens;
  const tools = functionTools(body.tools);
  if (tools.length > 0) {
    chat.tools = tools;
    const choice = toolChoice(body.tool_choice);
    if (choice !== undefined) chat.tool_choice = choice;
  }
  const format = responseFormat(body.text);
  if (format) chat.response_format = format;
  const reasoning = body.reasoning;
  if (isRecord(reasoning) && typeof reasoning.effort === 'string') chat.reasoning_effort = reasoning.effort;
  return chat;
}

type ChatMessage = Record<string, unknown> & { role: string };

function appendItems(messages: ChatMessage[], items: unknown[]): void {
  for (const item of items) {
    if (!isRecord(item)) continue;
    if (item.type === 'message' || (item.type === undefined && typeof item.role === 'string')) {
      messages.push(message(item));
    } else if (item.type === 'function_call') {
      const call = {
        id: typeof item.call_id === 'string' ? item.call_id : '',
        type: 'function',
        function: { name: item.name, arguments: typeof item.arguments === 'string' ? item.arguments : '{}' },
      };
      // Parallel calls are consecutive items; chat puts them on one assistant message.
      const last = messages.at(-1);
      if (last?.role === 'assistant') {
        last.tool_calls = [...(Array.isArray(last.tool_calls) ? last.tool_calls : []), call];
      } else {
        messages.push({ role: 'assistant', content: null, tool_calls: [call] });
      }
    } else if (item.type === 'function_call_output') {
      messages.push({
        role: 'tool',
        tool_call_id: item.call_id,
        content: typeof item.output === 'string' ? item.output : JSON.stringify(item.output ?? ''),
      });
    }
  }
}

function message(item: Record<string, unknown>): ChatMessage {
  // `developer` is the Responses name of the system role; every chat provider knows `system`.
  const role = item.role === 'developer' ? 'system' : String(item.role);
  const content = item.content;
  if (typeof content === 'string' || !Array.isArray(content)) return { role, content: content ?? '' };
  const parts = content.map(part).filter((p) => p !== null);
  // Chat assistant and system turns take text only: joined into one string.
  if (role !== 'user' || parts.every((p) => p.type === 'text')) {
    return { role, content: parts.map((p) => (p.type === 'text' ? p.text : '')).join('') };
  }
  return { role, content: parts };
}

function part(p: unknown): Record<string, unknown> | null {
  if (!isRecord(p)) return null;
  switch (p.type) {
    case 'input_text':
    case 'output_text':
      return { type: 'text', text: typeof p.text === 'string' ? p.text : '' };
    case 'refusal':
      return { type: 'text', text: typeof p.refusal === 'string' ? p.refusal : '' };
    case 'input_image': {
      const url = typeof p.image_url === 'string' ? p.image_url : null;
      if (url === null) return null;
      return {
        type: 'image_url',
        image_url: { url, ...(typeof p.detail === 'string' ? { detail: p.detail } : {}) },
      };
    }
    case 'input_file':
      if (typeof p.file_data !== 'string') return null;
      return { type: 'file', file: { file_data: p.file_data, filename: p.filename } };
    default:
      return null;
  }
}

/** Only function tools have a chat equivalent. */
function functionTools(tools: unknown): Record<string, unknown>[] {
  if (!Array.isArray(tools)) return [];
  const out: Record<string, unknown>[] = [];
  for (const tool of tools) {
    if (!isRecord(tool) || tool.type !== 'function' || typeof tool.name !== 'string') continue;
    const fn: Record<string, unknown> = { name: tool.name };
    for (const key of ['description', 'parameters', 'strict'] as const) {
      if (tool[key] !== undefined && tool[key] !== null) fn[key] = tool[key];
    }
    out.push({ type: 'function', function: fn });
  }
  return out;
}

function toolChoice(choice: unknown): unknown {
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  if (isRecord(choice) && choice.type === 'function' && typeof choice.name === 'string') {
    return { type: 'function', function: { name: choice.name } };
  }
  return undefined;
}

/** text.format → response_format. */
function responseFormat(text: unknown): Record<string, unknown> | null {
  const format = isRecord(text) ? text.format : undefined;
  if (!isRecord(format)) return null;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type !== 'json_schema') return null;
  const schema: Record<string, unknown> = { name: format.name ?? 'response', schema: format.schema };
  if (format.strict !== undefined && format.strict !== null) schema.strict = format.strict;
  if (typeof format.description === 'string') schema.description = format.description;
  return { type: 'json_schema', json_schema: schema };
}
