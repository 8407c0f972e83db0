import { isRecord } from '../../json.ts';
/**
 * The Converse request checks Bedrock makes, with its wording where it is known. They catch
 * translation bugs a lenient mock would hide: non-alternating roles, blank text, tool
 * blocks without a toolConfig, image URLs where bytes are required.
 */

export type Json = Record<string, unknown>;

export interface ConverseBlock {
  text?: string;
  image?: { format?: string; source?: { bytes?: string; s3Location?: { uri?: string } } };
  toolUse?: { toolUseId?: string; name?: string; input?: unknown };
  toolResult?: { toolUseId?: string; content?: Json[]; status?: string };
  reasoningContent?: { reasoningText?: { text?: string } };
}

export interface ConverseMessage {
  role: 'user' | 'assistant';
  content: ConverseBlock[];
}

export interface ToolSpec {
  name: string;
  description?: string;
  inputSchema: { json: Json };
}

/** The parts of a Converse request the mock reads. */
export interface ConverseBody {
  messages: ConverseMessage[];
  system?: Array<{ text?: string }>;
  inferenceConfig?: { maxTokens?: number; temperature?: number; topP?: number; stopSequences?: string[] };
  toolConfig?: {
    tools: Array<{ toolSpec: ToolSpec }>;
    toolChoice?: { auto?: Json; any?: Json; tool?: { name: string } };
  };
}

export type ParsedConverse = { ok: true; body: ConverseBody } | { ok: false; message: string };

const TOP_LEVEL = new Set([
  'messages',
  'system',
  'inferenceConfig',
  'toolConfig',
  'guardrailConfig',
  'additionalModelRequestFields',
  'additionalModelResponseFieldPaths',
  'promptVariables',
  'requestMetadata',
  'performanceConfig',
]);
const BLOCK_KINDS = new Set([
  'text',
  'image',
  'document',
  'video',
  'toolUse',
  'toolResult',
  'guardContent',
  'reasoningContent',
  'cachePoint',
]);
const IMAGE_FORMATS = new Set(['png', 'jpeg', 'gif', 'webp']);
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function blockProblem(block: unknown, at: string): string | null {
  if (!isRecord(block)) return `${at} must be an object.`;
  const kinds = Object.keys(block).filter((k) => BLOCK_KINDS.has(k));
  if (kinds.length !== 1 || Object.keys(block).length !== 1) {
    return `Malformed input request: ${at} must have exactly one of ${[...BLOCK_KINDS].join(', ')}.`;
  }
  if ('text' in block) {
    if (typeof block.text !== 'string' || block.text.trim() === '') {
      return `The text field in the ContentBlock object at ${at} is blank. Add text to the text field, and try again.`;
    }
  }
  if ('image' in block) {
    const image = block.image;
    if (!isRecord(image) || typeof image.format !== 'string' || !IMAGE_FORMATS.has(image.format)) {
      return `${at}.image.format must be one of png, jpeg, gif, webp.`;
    }
    const source = isRecord(image.source) ? image.source : {};
    if (typeof source.bytes === 'string') {
      if (!/^[A-Za-z0-9+/]+=*$/.test(source.bytes)) return `${at}.image.source.bytes is not valid base64.`;
    } else if (isRecord(source.s3Location)) {
      const uri = source.s3Location.uri;
      if (typeof uri !== 'string' || !uri.startsWith('s3://')) {
        return `The provided S3 URI at ${at}.image.source.s3Location.uri is invalid: only s3:// URIs are supported.`;
      }
    } else {
      return `${at}.image.source must have bytes or s3Location.`;
    }
  }
  if ('toolUse' in block) {
    const use = block.toolUse;
    if (!isRecord(use) || typeof use.toolUseId !== 'string' || use.toolUseId === '') {
      return `${at}.toolUse.toolUseId is required.`;
    }
    if (typeof use.name !== 'string' || !TOOL_NAME.test(use.name)) return `${at}.toolUse.name is invalid.`;
    if (!isRecord(use.input)) return `${at}.toolUse.input must be a JSON object.`;
  }
  if ('toolResult' in block) {
    const result = block.toolResult;
    if (!isRecord(result) || typeof result.toolUseId !== 'string' || result.toolUseId === '') {
      return `${at}.toolResult.toolUseId is required.`;
    }
    if (!Array.isArray(result.content)) return `${at}.toolResult.content must be an array.`;
  }
  return null;
}

function messagesProblem(messages: unknown): string | null {
  if (!Array.isArray(messages) || messages.length === 0) {
    return 'Malformed input request: messages must be a non-empty array.';
  }
  let previous: unknown = null;
  for (let i = 0; i < messages.length; i++) {
    const m: unknown = messages[i];
    if (!isRecord(m) || (m.role !== 'user' && m.role !== 'assistant')) {
      return `Malformed input request: messages.${i}.role must be user or assistant.`;
    }
    if (i === 0 && m.role !== 'user') {
      return 'A conversation must start with a user message. Try again with a conversation that starts with a user message.';
    }
    if (m.role === previous) {
      return 'A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.';
    }
    previous = m.role;
    if (!Array.isArray(m.content) || m.content.length === 0) {
      return `Malformed input request: messages.${i}.content must be a non-empty array.`;
    }
    for (let j = 0; j < m.content.length; j++) {
      const problem = blockProblem(m.content[j], `messages.${i}.content.${j}`);
      if (problem) return problem;
    }
  }
  return null;
}

function toolConfigProblem(config: unknown): string | null {
  if (!isRecord(config) || !Array.isArray(config.tools) || config.tools.length === 0) {
    return 'Malformed input request: toolConfig.tools must be a non-empty array.';
  }
  for (let i = 0; i < config.tools.length; i++) {
    const tool: unknown = config.tools[i];
    const spec = isRecord(tool) ? tool.toolSpec : undefined;
    if (!isRecord(spec) || typeof spec.name !== 'string' || !TOOL_NAME.test(spec.name)) {
      return `Malformed input request: toolConfig.tools.${i}.toolSpec.name must match [a-zA-Z0-9_-]{1,64}.`;
    }
    if (!isRecord(spec.inputSchema) || !isRecord(spec.inputSchema.json)) {
      return `Malformed input request: toolConfig.tools.${i}.toolSpec.inputSchema.json must be a JSON object.`;
    }
  }
  const choice = config.toolChoice;
  if (choice !== undefined) {
    if (
      !isRecord(choice) ||
      Object.keys(choice).length !== 1 ||
      !['auto', 'any', 'tool'].includes(Object.keys(choice)[0]!)
    ) {
      return 'Malformed input request: toolConfig.toolChoice must have exactly one of auto, any, tool.';
    }
  }
  return null;
}

function inferenceProblem(config: unknown): string | null {
  if (!isRecord(config)) return 'Malformed input request: inferenceConfig must be an object.';
  const { maxTokens, temperature, topP, stopSequences } = config;
  if (
    maxTokens !== undefined &&
    (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1)
  ) {
    return 'Malformed input request: inferenceConfig.maxTokens must be an integer >= 1.';
  }
  for (const [name, v] of [
    ['temperature', temperature],
    ['topP', topP],
  ] as const) {
    if (v !== undefined && (typeof v !== 'number' || v < 0 || v > 1)) {
      return `Malformed input request: inferenceConfig.${name} must be a number from 0 to 1.`;
    }
  }
  if (
    stopSequences !== undefined &&
    (!Array.isArray(stopSequences) || !stopSequences.every((s) => typeof s === 'string'))
  ) {
    return 'Malformed input request: inferenceConfig.stopSequences must be an array of strings.';
  }
  return null;
}

function usesTools(messages: ConverseMessage[]): boolean {
  return messages.some((m) => m.content.some((b) => 'toolUse' in b || 'toolResult' in b));
}

export function parseConverse(value: unknown): ParsedConverse {
  const fail = (message: string): ParsedConverse => ({ ok: false, message });
  if (!isRecord(value)) return fail('Malformed input request, please reformat your input and try again.');
  for (const key of Object.keys(value)) {
    if (!TOP_LEVEL.has(key))
      return fail(
        `Malformed input request: extraneous key [${key}] is not permitted, please reformat your input and try again.`,
      );
  }
  const problem =
    messagesProblem(value.messages) ??
    (value.system === undefined || Array.isArray(value.system)
      ? null
      : 'Malformed input request: system must be an array.') ??
    (value.inferenceConfig === undefined ? null : inferenceProblem(value.inferenceConfig)) ??
    (value.toolConfig === undefined ? null : toolConfigProblem(value.toolConfig));
  if (problem) return fail(problem);
  const body = value as unknown as ConverseBody;
  if (body.toolConfig === undefined && usesTools(body.messages)) {
    return fail('The toolConfig field must be defined when using toolUse and toolResult content blocks.');
  }
  if (Array.isArray(body.system)) {
    for (let i = 0; i < body.system.length; i++) {
      const text = body.system[i]?.text;
      if (text !== undefined && (typeof text !== 'string' || text.trim() === '')) {
        return fail(`The text field in the SystemContentBlock object at system.${i} is blank.`);
      }
    }
  }
  return { ok: true, body };
}
