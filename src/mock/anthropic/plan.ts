import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type { Knobs } from '../knobs.ts';
import { mockContent } from '../words.ts';
import type { AnthropicBlock, AnthropicTool, Json, MessagesBody } from './request.ts';

/** What the mock bills an image or a PDF document: Anthropic's cost of a ~1.15 megapixel image. */
export const MEDIA_TOKENS = 1568;
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

function tokens(text: unknown): number {
  return typeof text === 'string' && text.length > 0 ? countTokens(text, AS_PLAIN_TEXT) : 0;
}

function blockTokens(block: AnthropicBlock): number {
  switch (block.type) {
    case 'text':
      return tokens(block.text);
    case 'image':
      return MEDIA_TOKENS;
    case 'document':
      return block.source?.type === 'text' ? tokens(block.source.data) : MEDIA_TOKENS;
    case 'tool_use':
      return tokens(block.name) + tokens(JSON.stringify(block.input ?? {}));
    case 'tool_result':
      return contentTokens(block.content);
    default:
      // Thinking blocks of earlier turns are stripped from the context and not billed, as Anthropic does.
      return 0;
  }
}

function contentTokens(content: unknown): number {
  if (typeof content === 'string') return tokens(content);
  if (!Array.isArray(content)) return 0;
  let sum = 0;
  for (const block of content as AnthropicBlock[]) sum += blockTokens(block);
  return sum;
}

/**
 * The exact prompt size the mock reports (input + cache write + cache read), o200k, no framing:
 *   system text + Σ message blocks + tokens(JSON of tools) when tools are sent,
 * a block being its text, 1,568 per image / PDF document, a tool_use's name + JSON input, a
 * tool_result's content; thinking blocks count 0.
 */
export function anthropicInputTokens(body: MessagesBody): number {
  let sum = contentTokens(body.system);
  for (const message of body.messages) sum += contentTokens(message.content);
  if (body.tools !== undefined) sum += tokens(JSON.stringify(body.tools));
  return sum;
}

export type StopReason = 'end_turn' | 'max_tokens' | 'tool_use' | 'stop_sequence';

export interface AnthropicUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  output_tokens: number;
  service_tier: 'standard';
}

/** Everything about an answer decided before any byte is written. */
export interface MessagesPlan {
  id: string;
  model: string;
  /** Thinking words (only when `thinking` is enabled), each one token. */
  thinking: string[];
  /** Text words, each one token. */
  text: string[];
  toolUse: { id: string; name: string; input: Json } | null;
  stopReason: StopReason;
  stopSequence: string | null;
  usage: AnthropicUsage;
}

function words(count: number): string[] {
  return count > 0 ? mockContent(count).split(/(?= )/) : [];
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const raw = headers[name];
  return Array.isArray(raw) ? raw[0] : raw;
}

function headerCount(headers: IncomingHttpHeaders, name: string): number {
  const n = Number(header(headers, name));
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/** Input that fits the declared schema: strings get mock words, other types a fixed value. */
function inputFor(tool: AnthropicTool, count: number): Json {
  const properties = tool.input_schema?.properties;
  const input: Json = {};
  if (typeof properties !== 'object' || properties === null) return input;
  for (const [name, prop] of Object.entries(properties as Json)) {
    const type = typeof prop === 'object' && prop !== null ? (prop as Json).type : undefined;
    if (type === 'number' || type === 'integer') input[name] = 1;
    else if (type === 'boolean') input[name] = true;
    else if (type === 'array') input[name] = [];
    else if (type === 'object') input[name] = {};
    else input[name] = mockContent(Math.max(count, 1)).trim();
  }
  return input;
}

function lastTurnHasToolResult(body: MessagesBody): boolean {
  const content = body.messages.at(-1)?.content;
  return Array.isArray(content) && content.some((b) => b.type === 'tool_result');
}

/**
 * The tool the model "decides" to call: a forced one (tool_choice `tool` / `any`), or — with
 * the header x-mock-tool-call: 1 — the first tool, unless tool_choice is `none` or the last
 * turn already carries tool results (so a tool round trip ends in text).
 */
function chosenTool(body: MessagesBody, headers: IncomingHttpHeaders): AnthropicTool | null {
  const tools = (body.tools ?? []).filter((t) => t.type === undefined || t.type === 'custom');
  if (tools.length === 0) return null;
  const choice = body.tool_choice;
  if (choice?.type === 'tool') return tools.find((t) => t.name === choice.name) ?? null;
  if (choice?.type === 'any') return tools[0]!;
  if (choice?.type === 'none' || header(headers, 'x-mock-tool-call') !== '1') return null;
  return lastTurnHasToolResult(body) ? null : tools[0]!;
}

/**
 * Output as the OpenAI mock plans it: `outputTokens` single-token words, cut by max_tokens
 * (thinking takes its share first, up to its budget) or at the first word equal to a stop
 * sequence. A tool call's output is its name + JSON input. Cache tokens come out of the
 * prompt: x-mock-cached-tokens as cache reads, x-mock-cache-write-tokens as cache writes.
 */
export function planMessages(body: MessagesBody, knobs: Knobs, headers: IncomingHttpHeaders): MessagesPlan {
  const cap = body.max_tokens;
  const thinkingBudget = body.thinking?.type === 'enabled' ? (body.thinking.budget_tokens ?? 0) : 0;
  const thinkingCount = Math.min(knobs.reasoningTokens, thinkingBudget, cap);
  const room = cap - thinkingCount;
  const count = Math.min(room, knobs.outputTokens);
  const tool = chosenTool(body, headers);
  const toolInput = tool ? inputFor(tool, count) : null;
  const toolTokens = tool ? tokens(tool.name) + tokens(JSON.stringify(toolInput)) : 0;
  let text: string[] = [];
  let stopReason: StopReason = room < knobs.outputTokens ? 'max_tokens' : 'end_turn';
  let stopSequence: string | null = null;
  let outputTokens = thinkingCount + count;
  let toolUse: MessagesPlan['toolUse'] = null;
  if (tool && toolInput && toolTokens <= room) {
    toolUse = {
      id: `toolu_01${randomUUID().replaceAll('-', '').slice(0, 22)}`,
      name: tool.name,
      input: toolInput,
    };
    stopReason = 'tool_use';
    outputTokens = thinkingCount + toolTokens;
  } else {
    text = words(count);
    const stops = body.stop_sequences ?? [];
    const hit = text.findIndex((w) => stops.includes(w.trim()));
    if (hit >= 0) {
      stopSequence = text[hit]!.trim();
      text = text.slice(0, hit);
      stopReason = 'stop_sequence';
      outputTokens = thinkingCount + hit;
    }
  }
  const prompt = anthropicInputTokens(body);
  const cacheRead = Math.min(knobs.cachedTokens, prompt);
  const cacheWrite = Math.min(headerCount(headers, 'x-mock-cache-write-tokens'), prompt - cacheRead);
  return {
    id: `msg_01${randomUUID().replaceAll('-', '').slice(0, 22)}`,
    model: body.model,
    thinking: words(thinkingCount),
    text,
    toolUse,
    stopReason,
    stopSequence,
    usage: {
      input_tokens: prompt - cacheRead - cacheWrite,
      cache_creation_input_tokens: cacheWrite,
      cache_read_input_tokens: cacheRead,
      cache_creation: { ephemeral_5m_input_tokens: cacheWrite, ephemeral_1h_input_tokens: 0 },
      output_tokens: outputTokens,
      service_tier: 'standard',
    },
  };
}
