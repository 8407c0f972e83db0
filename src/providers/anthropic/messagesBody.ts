import type { ModelEntry } from '../../config/compile.ts';
import { isRecord } from '../../json.ts';
import { toolArgumentsObject } from '../canonicalText.ts';
import type { CanonicalRequest } from '../types.ts';

/**
 * OpenAI chat-completions body → Anthropic Messages body. The Messages API keeps system text
 * apart, wants every tool result as a `tool_result` block in the user turn right after the
 * assistant's `tool_use` blocks, refuses empty text blocks and requires `max_tokens`. The
 * translation keeps what the client meant; whatever has no Messages equivalent (an audio part,
 * say) goes through as it is, so Anthropic refuses it with its own message rather than the
 * gateway dropping it silently.
 */

type Json = Record<string, unknown>;
type Block = Json;
interface Turn {
  role: 'user' | 'assistant';
  content: Block[];
}

/** A text block, with the part's cache_control carried over (LiteLLM-style clients set it on parts). */
function textBlocks(text: unknown, from?: Json): Block[] {
  if (typeof text !== 'string' || text.trim() === '') return [];
  const block: Block = { type: 'text', text };
  if (from && isRecord(from.cache_control)) block.cache_control = from.cache_control;
  return [block];
}

function urlOf(ref: unknown): string | null {
  if (typeof ref === 'string') return ref;
  return isRecord(ref) && typeof ref.url === 'string' ? ref.url : null;
}

/** data: URLs become base64 sources; any other URL a url source, fetched by Anthropic (never by the gateway). */
function mediaSource(url: string): Json {
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (data) return { type: 'base64', media_type: data[1]!.toLowerCase(), data: data[2] };
  return { type: 'url', url };
}

function partBlocks(part: unknown): Block[] {
  if (typeof part === 'string') return textBlocks(part);
  if (!isRecord(part)) return [];
  switch (part.type) {
    case 'text':
      return textBlocks(part.text, part);
    case 'refusal':
      return textBlocks(part.refusal, part);
    case 'image_url': {
      const url = urlOf(part.image_url);
      if (url === null) return [part];
      const block: Block = { type: 'image', source: mediaSource(url) };
      if (isRecord(part.cache_control)) block.cache_control = part.cache_control;
      return [block];
    }
    case 'file': {
      const file = isRecord(part.file) ? part.file : {};
      const data = typeof file.file_data === 'string' ? file.file_data : null;
      if (data === null) return [part];
      const source = data.startsWith('data:')
        ? mediaSource(data)
        : { type: 'base64', media_type: 'application/pdf', data };
      const block: Block = { type: 'document', source };
      if (typeof file.filename === 'string') block.title = file.filename;
      return [block];
    }
    default:
      return [part];
  }
}

function contentBlocks(content: unknown): Block[] {
  if (typeof content === 'string') return textBlocks(content);
  if (!Array.isArray(content)) return [];
  return content.flatMap(partBlocks);
}

function toolUseBlocks(toolCalls: unknown): Block[] {
  if (!Array.isArray(toolCalls)) return [];
  const blocks: Block[] = [];
  for (const call of toolCalls) {
    if (!isRecord(call) || !isRecord(call.function)) continue;
    blocks.push({
      type: 'tool_use',
      id: typeof call.id === 'string' ? call.id : '',
      name: typeof call.function.name === 'string' ? call.function.name : '',
      input: toolArgumentsObject(call.function.arguments),
    });
  }
  return blocks;
}

/** A tool message → a tool_result block; text parts stay text, image parts become image blocks. */
function toolResultBlock(message: Json): Block {
  const content = message.content;
  const block: Block = {
    type: 'tool_result',
    tool_use_id: typeof message.tool_call_id === 'string' ? message.tool_call_id : '',
  };
  if (typeof content === 'string') block.content = content;
  else if (Array.isArray(content)) block.content = contentBlocks(content);
  return block;
}

/** Appends to the conversation, merging a turn into the previous one of the same role. */
function push(turns: Turn[], role: Turn['role'], content: Block[]): void {
  if (content.length === 0) return;
  const last = turns.at(-1);
  if (last?.role === role) last.content.push(...content);
  else turns.push({ role, content });
}

function systemOf(blocks: Block[]): string | Block[] | undefined {
  if (blocks.length === 0) return undefined;
  const only = blocks[0]!;
  return blocks.length === 1 && only.cache_control === undefined ? (only.text as string) : blocks;
}

/** A turn whose content is one plain text block goes as a string, as Anthropic's own examples do. */
function wire(turn: Turn): Json {
  const only = turn.content[0]!;
  const plain = turn.content.length === 1 && only.type === 'text' && only.cache_control === undefined;
  return { role: turn.role, content: plain ? only.text : turn.content };
}

function toolOf(tool: unknown): Json {
  if (!isRecord(tool) || tool.type !== 'function' || !isRecord(tool.function))
    return isRecord(tool) ? tool : {};
  const fn = tool.function;
  const out: Json = {
    name: fn.name,
    input_schema: isRecord(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
  };
  if (typeof fn.description === 'string') out.description = fn.description;
  return out;
}

function toolChoiceOf(choice: unknown, parallel: unknown): Json | undefined {
  let out: Json | undefined;
  if (choice === 'auto') out = { type: 'auto' };
  else if (choice === 'none') out = { type: 'none' };
  else if (choice === 'required') out = { type: 'any' };
  else if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    out = { type: 'tool', name: choice.function.name };
  }
  if (parallel === false && out?.type !== 'none')
    out = { ...(out ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return out;
}

function stopSequences(stop: unknown): string[] | undefined {
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop)) return stop.filter((s): s is string => typeof s === 'string');
  return undefined;
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

export function messagesBodyFromChat(model: ModelEntry, body: CanonicalRequest, stream: boolean): Json {
  const system: Block[] = [];
  const turns: Turn[] = [];
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (const message of messages) {
    if (!isRecord(message)) continue;
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...contentBlocks(message.content));
        break;
      case 'assistant':
        push(turns, 'assistant', [...contentBlocks(message.content), ...toolUseBlocks(message.tool_calls)]);
        break;
      case 'tool':
        push(turns, 'user', [toolResultBlock(message)]);
        break;
      default:
        push(turns, 'user', contentBlocks(message.content));
    }
  }
  // tool_result blocks must open their user turn, before any text the client added after them.
  for (const turn of turns) {
    if (turn.role !== 'user') continue;
    const results = turn.content.filter((b) => b.type === 'tool_result');
    if (results.length > 0)
      turn.content = [...results, ...turn.content.filter((b) => b.type !== 'tool_result')];
  }
  const out: Json = {
    model: model.upstreamModel,
    max_tokens:
      positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens) ?? model.maxOutputTokens,
    messages: turns.map(wire),
  };
  const systemValue = systemOf(system);
  if (systemValue !== undefined) out.system = systemValue;
  const stops = stopSequences(body.stop);
  if (stops && stops.length > 0) out.stop_sequences = stops;
  for (const field of ['temperature', 'top_p'] as const) {
    if (typeof body[field] === 'number') out[field] = body[field];
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    out.tools = body.tools.map(toolOf);
    const choice = toolChoiceOf(body.tool_choice, body.parallel_tool_calls);
    if (choice) out.tool_choice = choice;
  }
  if (typeof body.user === 'string' && body.user !== '') out.metadata = { user_id: body.user };
  if (stream) out.stream = true;
  return out;
}
