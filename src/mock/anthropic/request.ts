import { isRecord } from '../../json.ts';
/**
 * The Messages API request as the mock reads it, validated the way Anthropic validates it:
 * unknown top-level fields are refused (a translation that leaks an OpenAI field gets the same
 * 400 the real API gives), roles are user/assistant, text blocks are never empty, and every
 * tool_use is answered by a tool_result in the very next message (and the other way round).
 */

export type Json = Record<string, unknown>;

export interface AnthropicTool {
  type?: string;
  name: string;
  description?: string;
  input_schema?: Json;
}

export interface AnthropicBlock {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
  tool_use_id?: string;
  content?: unknown;
  source?: Json;
  thinking?: string;
}

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | AnthropicBlock[];
}

export interface MessagesBody {
  model: string;
  max_tokens: number;
  messages: AnthropicMessage[];
  system?: string | AnthropicBlock[];
  stop_sequences?: string[];
  stream?: boolean;
  tools?: AnthropicTool[];
  tool_choice?: { type: 'auto' | 'any' | 'tool' | 'none'; name?: string };
  thinking?: { type: 'enabled' | 'disabled'; budget_tokens?: number };
}

export type ParsedMessages = { ok: true; body: MessagesBody } | { ok: false; message: string };

const REQUEST_FIELDS = new Set([
  'model',
  'messages',
  'max_tokens',
  'system',
  'metadata',
  'stop_sequences',
  'stream',
  'temperature',
  'top_p',
  'top_k',
  'tools',
  'tool_choice',
  'thinking',
  'service_tier',
  'container',
  'mcp_servers',
  'context_management',
]);
const BLOCK_TYPES = [
  'text',
  'image',
  'document',
  'search_result',
  'thinking',
  'redacted_thinking',
  'tool_use',
  'tool_result',
  'server_tool_use',
  'web_search_tool_result',
];
const IMAGE_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,128}$/;

class Invalid extends Error {}

function inRange(body: Json, field: string, min: number, max: number): void {
  const v = body[field];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new Invalid(`${field}: Input should be a valid number`);
  if (v < min) throw new Invalid(`${field}: Input should be greater than or equal to ${min}`);
  if (v > max) throw new Invalid(`${field}: Input should be less than or equal to ${max}`);
}

function checkText(text: unknown, where: string): void {
  if (typeof text !== 'string') throw new Invalid(`${where}.text: Input should be a valid string`);
  if (text === '') throw new Invalid(`${where}: text content blocks must be non-empty`);
  if (text.trim() === '') throw new Invalid(`${where}: text content blocks must contain non-whitespace text`);
}

function checkSource(block: Json, where: string): void {
  const source = block.source;
  if (!isRecord(source)) throw new Invalid(`${where}.source: Field required`);
  if (source.type === 'url') {
    if (typeof source.url !== 'string') throw new Invalid(`${where}.source.url: Field required`);
    return;
  }
  if (source.type === 'text' && block.type === 'document') return;
  if (source.type !== 'base64') {
    throw new Invalid(
      `${where}.source: Input tag '${String(source.type)}' found using 'type' does not match`,
    );
  }
  if (typeof source.data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(source.data)) {
    throw new Invalid(`${where}.source.base64.data: Invalid base64 data`);
  }
  if (block.type === 'image' && !IMAGE_MEDIA_TYPES.includes(String(source.media_type))) {
    throw new Invalid(
      `${where}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`,
    );
  }
}

function checkBlock(block: unknown, where: string): void {
  if (!isRecord(block)) throw new Invalid(`${where}: Input should be a valid dictionary`);
  if (typeof block.type !== 'string' || !BLOCK_TYPES.includes(block.type)) {
    throw new Invalid(
      `${where}: Input tag '${String(block.type)}' found using 'type' does not match any of the expected tags: ${BLOCK_TYPES.map((t) => `'${t}'`).join(', ')}`,
    );
  }
  switch (block.type) {
    case 'text':
      checkText(block.text, where);
      return;
    case 'image':
    case 'document':
      checkSource(block, where);
      return;
    case 'tool_use':
      if (typeof block.id !== 'string') throw new Invalid(`${where}.id: Field required`);
      if (typeof block.name !== 'string') throw new Invalid(`${where}.name: Field required`);
      if (!isRecord(block.input)) throw new Invalid(`${where}.input: Input should be a valid dictionary`);
      return;
    case 'tool_result': {
      if (typeof block.tool_use_id !== 'string') throw new Invalid(`${where}.tool_use_id: Field required`);
      const content = block.content;
      if (content === undefined || typeof content === 'string') return;
      if (!Array.isArray(content)) throw new Invalid(`${where}.content: Input should be a valid list`);
      content.forEach((inner, i) => {
        checkBlock(inner, `${where}.content.${i}`);
      });
      return;
    }
    default:
      return;
  }
}

function toolUseIds(message: Json): string[] {
  const content = message.content;
  if (!Array.isArray(content)) return [];
  return content.filter((b) => isRecord(b) && b.type === 'tool_use').map((b) => String((b as Json).id));
}

function toolResultIds(message: Json): string[] {
  const content = message.content;
  if (!Array.isArray(content)) return [];
  return content
    .filter((b) => isRecord(b) && b.type === 'tool_result')
    .map((b) => String((b as Json).tool_use_id));
}

function checkMessages(messages: unknown): void {
  if (messages === undefined) throw new Invalid('messages: Field required');
  if (!Array.isArray(messages)) throw new Invalid('messages: Input should be a valid list');
  if (messages.length === 0) throw new Invalid('messages: at least one message is required');
  messages.forEach((m, i) => {
    const where = `messages.${i}`;
    if (!isRecord(m)) throw new Invalid(`${where}: Input should be a valid dictionary`);
    if (m.role !== 'user' && m.role !== 'assistant') {
      throw new Invalid(`${where}.role: Input should be 'user' or 'assistant'`);
    }
    if (typeof m.content === 'string') {
      if (m.content === '' && i < messages.length - 1) {
        throw new Invalid(
          `${where}: all messages must have non-empty content except for the optional final assistant message`,
        );
      }
      return;
    }
    if (!Array.isArray(m.content)) throw new Invalid(`${where}.content: Input should be a valid list`);
    m.content.forEach((block, j) => {
      checkBlock(block, `${where}.content.${j}`);
    });
  });
  // Tool calls and results pair up across adjacent messages.
  messages.forEach((m: Json, i) => {
    const uses = toolUseIds(m);
    const next = messages[i + 1] as Json | undefined;
    const answered = next?.role === 'user' ? toolResultIds(next) : [];
    const missing = uses.filter((id) => !answered.includes(id));
    if (m.role === 'assistant' && missing.length > 0) {
      throw new Invalid(
        `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
      );
    }
    const previous = messages[i - 1] as Json | undefined;
    const asked = previous?.role === 'assistant' ? toolUseIds(previous) : [];
    const unexpected = toolResultIds(m).filter((id) => !asked.includes(id));
    if (unexpected.length > 0) {
      throw new Invalid(
        `messages.${i}.content.0: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${unexpected.join(', ')}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
      );
    }
  });
}

function checkSystem(system: unknown): void {
  if (system === undefined || typeof system === 'string') return;
  if (!Array.isArray(system)) throw new Invalid('system: Input should be a valid string or list');
  system.forEach((block, i) => {
    if (!isRecord(block) || block.type !== 'text') {
      throw new Invalid(
        `system.${i}: Input tag '${String(isRecord(block) ? block.type : block)}' found using 'type' does not match any of the expected tags: 'text'`,
      );
    }
    checkText(block.text, `system.${i}`);
  });
}

function checkTools(tools: unknown, choice: unknown): void {
  if (tools !== undefined) {
    if (!Array.isArray(tools)) throw new Invalid('tools: Input should be a valid list');
    tools.forEach((tool, i) => {
      if (!isRecord(tool)) throw new Invalid(`tools.${i}: Input should be a valid dictionary`);
      // Server tools (web_search_20250305, bash_20250124, …) carry a dated type and no schema.
      if (tool.type !== undefined && tool.type !== 'custom') return;
      if (typeof tool.name !== 'string' || !TOOL_NAME.test(tool.name)) {
        throw new Invalid(`tools.${i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`);
      }
      if (!isRecord(tool.input_schema)) throw new Invalid(`tools.${i}.custom.input_schema: Field required`);
      if (tool.input_schema.type !== 'object') {
        throw new Invalid(`tools.${i}.custom.input_schema.type: Input should be 'object'`);
      }
    });
  }
  if (choice === undefined) return;
  if (!isRecord(choice) || !['auto', 'any', 'tool', 'none'].includes(String(choice.type))) {
    throw new Invalid(
      "tool_choice: Input tag found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'",
    );
  }
  if (tools === undefined)
    throw new Invalid('tool_choice: tool_choice may only be specified while providing tools');
  if (choice.type === 'tool') {
    if (typeof choice.name !== 'string') throw new Invalid('tool_choice.tool.name: Field required');
    if (!(tools as Json[]).some((t) => t.name === choice.name)) {
      throw new Invalid(`tool_choice.name: Tool '${choice.name}' not found in tools`);
    }
  }
}

function checkThinking(thinking: unknown, maxTokens: number): void {
  if (thinking === undefined) return;
  if (!isRecord(thinking)) throw new Invalid('thinking: Input should be a valid dictionary');
  if (thinking.type === 'disabled') return;
  if (thinking.type !== 'enabled') {
    throw new Invalid(
      "thinking: Input tag found using 'type' does not match any of the expected tags: 'enabled', 'disabled'",
    );
  }
  const budget = thinking.budget_tokens;
  if (typeof budget !== 'number' || !Number.isInteger(budget))
    throw new Invalid('thinking.enabled.budget_tokens: Field required');
  if (budget < 1024)
    throw new Invalid('thinking.enabled.budget_tokens: Input should be greater than or equal to 1024');
  if (budget >= maxTokens) throw new Invalid('`max_tokens` must be greater than `thinking.budget_tokens`');
}

function check(body: unknown): MessagesBody {
  if (!isRecord(body)) throw new Invalid('Input should be a valid dictionary');
  for (const key of Object.keys(body)) {
    if (!REQUEST_FIELDS.has(key)) throw new Invalid(`${key}: Extra inputs are not permitted`);
  }
  if (body.model === undefined) throw new Invalid('model: Field required');
  if (typeof body.model !== 'string') throw new Invalid('model: Input should be a valid string');
  const maxTokens = body.max_tokens;
  if (maxTokens === undefined) throw new Invalid('max_tokens: Field required');
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens)) {
    throw new Invalid('max_tokens: Input should be a valid integer');
  }
  if (maxTokens < 1) throw new Invalid('max_tokens: Input should be greater than or equal to 1');
  checkMessages(body.messages);
  checkSystem(body.system);
  if (body.stream !== undefined && typeof body.stream !== 'boolean') {
    throw new Invalid('stream: Input should be a valid boolean');
  }
  inRange(body, 'temperature', 0, 1);
  inRange(body, 'top_p', 0, 1);
  const stops = body.stop_sequences;
  if (stops !== undefined && (!Array.isArray(stops) || stops.some((s) => typeof s !== 'string'))) {
    throw new Invalid('stop_sequences: Input should be a valid list of strings');
  }
  checkTools(body.tools, body.tool_choice);
  checkThinking(body.thinking, maxTokens);
  return body as unknown as MessagesBody;
}

export function parseMessagesRequest(body: unknown): ParsedMessages {
  try {
    return { ok: true, body: check(body) };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, message: err.message };
    throw err;
  }
}
