import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type { Knobs } from '../knobs.ts';
import { mockContent } from '../words.ts';
import type { ConverseBlock, ConverseBody, Json, ToolSpec } from './converseRequest.ts';

/** Per-message framing and reply priming, as the OpenAI mock counts them. */
const PER_MESSAGE = 3;
const REPLY_PRIMING = 3;
/** Every image block, whatever its size (the OpenAI mock's low-detail figure). */
const IMAGE_TOKENS = 85;
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

function tokens(text: unknown): number {
  return typeof text === 'string' && text.length > 0 ? countTokens(text, AS_PLAIN_TEXT) : 0;
}

function blockTokens(block: ConverseBlock): number {
  if (typeof block.text === 'string') return tokens(block.text);
  if (block.image) return IMAGE_TOKENS;
  if (block.toolUse) return tokens(block.toolUse.name) + tokens(JSON.stringify(block.toolUse.input ?? {}));
  if (block.toolResult) {
    let sum = 0;
    for (const part of block.toolResult.content ?? []) {
      sum += typeof part.text === 'string' ? tokens(part.text) : tokens(JSON.stringify(part.json ?? part));
    }
    return sum;
  }
  if (block.reasoningContent) return tokens(block.reasoningContent.reasoningText?.text);
  return 0;
}

/**
 * The exact inputTokens + cacheReadInputTokens + cacheWriteInputTokens the mock reports:
 *   3 + Σ system texts + Σ over messages (3 + Σ blocks) + tokens(JSON of toolConfig.tools),
 * a block being its text, 85 per image, a toolUse's name + JSON input, a toolResult's texts.
 */
export function converseInputTokens(body: ConverseBody): number {
  let sum = REPLY_PRIMING;
  for (const block of body.system ?? []) sum += tokens(block.text);
  for (const message of body.messages) {
    sum += PER_MESSAGE;
    for (const block of message.content) sum += blockTokens(block);
  }
  if (body.toolConfig) sum += tokens(JSON.stringify(body.toolConfig.tools));
  return sum;
}

export interface ConverseUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  cacheReadInputTokens: number;
  cacheWriteInputTokens: number;
}

export type StopReason = 'end_turn' | 'max_tokens' | 'tool_use' | 'stop_sequence';

/** Everything about an answer decided before any byte is written. */
export interface ConversePlan {
  /** Reasoning words (a reasoningContent block), when x-mock-reasoning-tokens asks for some. */
  reasoning: string[];
  /** Text words, each one token. */
  text: string[];
  toolUse: { toolUseId: string; name: string; input: Json } | null;
  stopReason: StopReason;
  usage: ConverseUsage;
}

function words(count: number): string[] {
  return count > 0 ? mockContent(count).split(/(?= )/) : [];
}

/** An input that fits the tool's schema: strings get mock words, other types a fixed value. */
function toolInput(spec: ToolSpec, count: number): Json {
  const properties = spec.inputSchema.json.properties;
  const input: Json = {};
  if (typeof properties !== 'object' || properties === null) return input;
  for (const [name, schema] of Object.entries(properties as Json)) {
    const type = typeof schema === 'object' && schema !== null ? (schema as Json).type : undefined;
    if (type === 'number' || type === 'integer') input[name] = 1;
    else if (type === 'boolean') input[name] = true;
    else if (type === 'array') input[name] = [];
    else if (type === 'object') input[name] = {};
    else input[name] = mockContent(Math.max(count, 1)).trim();
  }
  return input;
}

/** The tool the model "decides" to call: tools offered and the last turn is not a tool result. */
function chosenTool(body: ConverseBody): ToolSpec | null {
  const tools = body.toolConfig?.tools ?? [];
  if (tools.length === 0) return null;
  const last = body.messages.at(-1);
  if (last?.content.some((b) => b.toolResult !== undefined)) return null;
  const named = body.toolConfig?.toolChoice?.tool?.name;
  return tools.find((t) => t.toolSpec.name === named)?.toolSpec ?? tools[0]!.toolSpec;
}

function headerCount(headers: IncomingHttpHeaders, name: string): number {
  const raw = headers[name];
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/**
 * Output as the OpenAI mock plans it: `outputTokens` single-token words, cut by maxTokens
 * (reasoning takes its share first) or at the first word equal to a stop sequence. Cache
 * tokens come out of the prompt: x-mock-cached-tokens as cache reads, and (Bedrock only)
 * x-mock-cache-write-tokens as cache writes.
 */
export function planConverse(body: ConverseBody, knobs: Knobs, headers: IncomingHttpHeaders): ConversePlan {
  const cap = body.inferenceConfig?.maxTokens ?? Number.POSITIVE_INFINITY;
  const reasoningCount = Math.min(knobs.reasoningTokens, cap);
  const room = cap - reasoningCount;
  const count = Math.min(room, knobs.outputTokens);
  const tool = chosenTool(body);
  let text: string[] = [];
  let stopReason: StopReason = room < knobs.outputTokens ? 'max_tokens' : 'end_turn';
  let outputTokens = reasoningCount + count;
  if (tool) {
    stopReason = 'tool_use';
  } else {
    text = words(count);
    const stops = body.inferenceConfig?.stopSequences ?? [];
    const hit = text.findIndex((w) => stops.includes(w.trim()));
    if (hit >= 0) {
      text = text.slice(0, hit);
      stopReason = 'stop_sequence';
      outputTokens = reasoningCount + hit;
    }
  }
  const prompt = converseInputTokens(body);
  const cacheRead = Math.min(knobs.cachedTokens, prompt);
  const cacheWrite = Math.min(headerCount(headers, 'x-mock-cache-write-tokens'), prompt - cacheRead);
  const inputTokens = prompt - cacheRead - cacheWrite;
  return {
    reasoning: words(reasoningCount),
    text,
    toolUse: tool
      ? {
          toolUseId: `tooluse_${randomUUID().replaceAll('-', '').slice(0, 22)}`,
          name: tool.name,
          input: toolInput(tool, count),
        }
      : null,
    stopReason,
    usage: {
      inputTokens,
      outputTokens,
      totalTokens: inputTokens + cacheRead + cacheWrite + outputTokens,
      cacheReadInputTokens: cacheRead,
      cacheWriteInputTokens: cacheWrite,
    },
  };
}
