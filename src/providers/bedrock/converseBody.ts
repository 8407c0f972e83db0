import { isRecord } from '../../json.ts';
import { plainText, toolArgumentsObject } from '../canonicalText.ts';
import type { CanonicalRequest } from '../types.ts';

/**
 * OpenAI chat-completions body → Bedrock Converse body. Converse is stricter than OpenAI:
 * system text lives apart, roles must alternate user/assistant starting with user, tool
 * results are user content blocks, blank text blocks are refused. The translation keeps
 * what the client meant and lets Bedrock reject what has no Converse equivalent.
 */

type Json = Record<string, unknown>;
type Block = Json;
interface Turn {
  role: 'user' | 'assistant';
  content: Block[];
}

const IMAGE_FORMATS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

function textBlock(text: string): Block[] {
  // Converse refuses blank text blocks; an empty OpenAI string means "nothing here".
  return text.trim().length > 0 ? [{ text }] : [];
}

/**
 * An image_url part. Converse takes image bytes (or an S3 object), not URLs: data URLs are
 * decoded into bytes; any other URL goes as an S3 location, which Bedrock accepts for s3://
 * and rejects (400) otherwise — the gateway never fetches client URLs itself.
 */
function imageBlock(part: Json): Block[] {
  const ref = part.image_url;
  const url = typeof ref === 'string' ? ref : isRecord(ref) && typeof ref.url === 'string' ? ref.url : null;
  if (url === null) return [];
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (data) {
    return [
      { image: { format: IMAGE_FORMATS[data[1]!.toLowerCase()] ?? 'png', source: { bytes: data[2] } } },
    ];
  }
  const ext = /\.(png|jpe?g|gif|webp)(?:[?#].*)?$/i.exec(url)?.[1]?.toLowerCase();
  const format = ext === 'jpg' ? 'jpeg' : (ext ?? 'png');
  return [{ image: { format, source: { s3Location: { uri: url } } } }];
}

function contentBlocks(content: unknown): Block[] {
  if (typeof content === 'string') return textBlock(content);
  if (!Array.isArray(content)) return [];
  const blocks: Block[] = [];
  for (const part of content) {
    if (typeof part === 'string') blocks.push(...textBlock(part));
    else if (!isRecord(part)) continue;
    else if (part.type === 'text' && typeof part.text === 'string') blocks.push(...textBlock(part.text));
    else if (part.type === 'image_url') blocks.push(...imageBlock(part));
    else if (part.type === 'refusal' && typeof part.refusal === 'string')
      blocks.push(...textBlock(part.refusal));
  }
  return blocks;
}

function toolUseBlocks(toolCalls: unknown): Block[] {
  if (!Array.isArray(toolCalls)) return [];
  const blocks: Block[] = [];
  for (const call of toolCalls) {
    if (!isRecord(call) || !isRecord(call.function)) continue;
    blocks.push({
      toolUse: {
        toolUseId: typeof call.id === 'string' ? call.id : '',
        name: typeof call.function.name === 'string' ? call.function.name : '',
        input: toolArgumentsObject(call.function.arguments),
      },
    });
  }
  return blocks;
}

function toolResultBlock(message: Json): Block {
  const id = message.tool_call_id ?? message.name;
  return {
    toolResult: {
      toolUseId: typeof id === 'string' ? id : '',
      // A tool may legitimately return nothing; Converse still wants one non-blank block.
      content: [{ text: plainText(message.content) || '(empty)' }],
    },
  };
}

/** System prompts and the alternating user/assistant turns. */
function conversation(messages: unknown[]): { system: Block[]; turns: Turn[] } {
  const system: Block[] = [];
  const turns: Turn[] = [];
  const add = (role: Turn['role'], blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    // Consecutive same-role messages (e.g. several tool results) become one turn.
    if (last?.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  for (const message of messages) {
    if (!isRecord(message)) continue;
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...textBlock(plainText(message.content)));
        break;
      case 'assistant':
        add('assistant', [...contentBlocks(message.content), ...toolUseBlocks(message.tool_calls)]);
        break;
      case 'tool':
      case 'function':
        add('user', [toolResultBlock(message)]);
        break;
      default:
        add('user', contentBlocks(message.content));
    }
  }
  return { system, turns };
}

function stopSequences(stop: unknown): string[] | undefined {
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop)) {
    const list = stop.filter((s): s is string => typeof s === 'string');
    return list.length > 0 ? list : undefined;
  }
  return undefined;
}

function inferenceConfig(body: CanonicalRequest): Json | undefined {
  const config: Json = {};
  const max = body.max_completion_tokens ?? body.max_tokens;
  if (typeof max === 'number') config.maxTokens = max;
  if (typeof body.temperature === 'number') config.temperature = body.temperature;
  if (typeof body.top_p === 'number') config.topP = body.top_p;
  const stops = stopSequences(body.stop);
  if (stops) config.stopSequences = stops;
  return Object.keys(config).length > 0 ? config : undefined;
}

function toolSpecs(tools: unknown): Block[] {
  if (!Array.isArray(tools)) return [];
  const specs: Block[] = [];
  for (const tool of tools) {
    if (!isRecord(tool) || !isRecord(tool.function)) continue;
    const fn = tool.function;
    const spec: Json = {
      name: fn.name,
      inputSchema: { json: isRecord(fn.parameters) ? fn.parameters : { type: 'object', properties: {} } },
    };
    if (typeof fn.description === 'string' && fn.description !== '') spec.description = fn.description;
    specs.push({ toolSpec: spec });
  }
  return specs;
}

function hasToolBlocks(turns: Turn[]): boolean {
  return turns.some((t) => t.content.some((b) => 'toolUse' in b || 'toolResult' in b));
}

/**
 * tool_choice: auto → auto, required → any, a named function → tool. Converse has no
 * "none": the tools are left out instead — unless the history has tool blocks, which
 * Converse only accepts alongside a toolConfig.
 */
function toolConfig(body: CanonicalRequest, turns: Turn[]): Json | undefined {
  const tools = toolSpecs(body.tools);
  if (tools.length === 0) return undefined;
  const choice = body.tool_choice;
  if (choice === 'none') return hasToolBlocks(turns) ? { tools } : undefined;
  const config: Json = { tools };
  if (choice === 'auto') config.toolChoice = { auto: {} };
  else if (choice === 'required') config.toolChoice = { any: {} };
  else if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    config.toolChoice = { tool: { name: choice.function.name } };
  }
  return config;
}

export function converseBody(body: CanonicalRequest): Json {
  const { system, turns } = conversation(Array.isArray(body.messages) ? body.messages : []);
  const out: Json = { messages: turns };
  if (system.length > 0) out.system = system;
  const inference = inferenceConfig(body);
  if (inference) out.inferenceConfig = inference;
  const tools = toolConfig(body, turns);
  if (tools) out.toolConfig = tools;
  return out;
}
