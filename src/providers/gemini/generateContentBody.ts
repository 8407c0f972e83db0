import { isRecord } from '../../json.ts';
import { plainText, toolArgumentsObject } from '../canonicalText.ts';
import type { CanonicalRequest } from '../types.ts';

/**
 * OpenAI chat-completions body → Gemini GenerateContentRequest. Gemini keeps the system
 * prompt apart (systemInstruction), calls the assistant `model`, takes tool results as
 * `functionResponse` parts of a user turn, matched to the call by function NAME (OpenAI
 * matches by id), and refuses empty text parts. What has no Gemini equivalent is left out.
 */

type Json = Record<string, unknown>;
type Part = Json;
interface Content {
  role: 'user' | 'model';
  parts: Part[];
}

/**
 * Gemini 3 refuses a replayed functionCall that has no thought signature. A call coming back
 * through OpenAI chat has lost the one Gemini sent, so it gets the signature Google documents
 * for calls the model did not produce in this conversation.
 */
export const FOREIGN_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';

/** OpenAI reasoning_effort → a thinking budget, as Google's own OpenAI compatibility maps it. */
const THINKING_BUDGET: Record<string, number> = { none: 0, minimal: 0, low: 1024, medium: 8192, high: 24576 };

const AUDIO_TYPES: Record<string, string> = { wav: 'audio/wav', mp3: 'audio/mp3' };

const FILE_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  pdf: 'application/pdf',
  mp3: 'audio/mp3',
  wav: 'audio/wav',
  mp4: 'video/mp4',
};

function textPart(text: string): Part[] {
  // Gemini answers 400 to an empty text part; an empty OpenAI string means "nothing here".
  return text.length > 0 ? [{ text }] : [];
}

/**
 * A URL as a Gemini part: data URLs carry their bytes inline; other URLs (gs://, Files API,
 * http) go as fileData for Gemini to fetch or refuse — the gateway never fetches client URLs.
 */
function urlPart(url: string): Part[] {
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (data) return [{ inlineData: { mimeType: data[1]!.toLowerCase(), data: data[2] } }];
  const ext = /\.([a-z0-9]+)(?:[?#].*)?$/i.exec(url)?.[1]?.toLowerCase();
  const mimeType = ext === undefined ? undefined : FILE_TYPES[ext];
  return [{ fileData: mimeType ? { mimeType, fileUri: url } : { fileUri: url } }];
}

function mediaParts(part: Json): Part[] {
  if (part.type === 'image_url') {
    const ref = part.image_url;
    const url = typeof ref === 'string' ? ref : isRecord(ref) && typeof ref.url === 'string' ? ref.url : null;
    return url === null ? [] : urlPart(url);
  }
  if (part.type === 'input_audio' && isRecord(part.input_audio)) {
    const { data, format } = part.input_audio;
    if (typeof data !== 'string') return [];
    const mimeType = typeof format === 'string' ? (AUDIO_TYPES[format] ?? `audio/${format}`) : 'audio/wav';
    return [{ inlineData: { mimeType, data } }];
  }
  if (part.type === 'file' && isRecord(part.file)) {
    const { file_data: fileData, file_id: fileId } = part.file;
    if (typeof fileData === 'string') return urlPart(fileData);
    if (typeof fileId === 'string') return [{ fileData: { fileUri: fileId } }];
  }
  return [];
}

function contentParts(content: unknown): Part[] {
  if (typeof content === 'string') return textPart(content);
  if (!Array.isArray(content)) return [];
  const parts: Part[] = [];
  for (const part of content) {
    if (typeof part === 'string') parts.push(...textPart(part));
    else if (!isRecord(part)) continue;
    else if (part.type === 'text' && typeof part.text === 'string') parts.push(...textPart(part.text));
    else if (part.type === 'refusal' && typeof part.refusal === 'string')
      parts.push(...textPart(part.refusal));
    else parts.push(...mediaParts(part));
  }
  return parts;
}

function functionCallParts(toolCalls: unknown, names: Map<string, string>): Part[] {
  if (!Array.isArray(toolCalls)) return [];
  const parts: Part[] = [];
  for (const call of toolCalls) {
    if (!isRecord(call) || !isRecord(call.function)) continue;
    const name = typeof call.function.name === 'string' ? call.function.name : '';
    if (typeof call.id === 'string') names.set(call.id, name);
    const part: Part = { functionCall: { name, args: toolArgumentsObject(call.function.arguments) } };
    // Only the first call of a step carries a signature.
    if (parts.length === 0) part.thoughtSignature = FOREIGN_THOUGHT_SIGNATURE;
    parts.push(part);
  }
  return parts;
}

/**
 * A tool message as a functionResponse. Gemini's response is a JSON object: a tool that
 * returned an object passes it as-is; anything else goes under `output`, the key Gemini's
 * reference suggests for a function's output.
 */
function functionResponsePart(message: Json, names: Map<string, string>): Part {
  const id = typeof message.tool_call_id === 'string' ? message.tool_call_id : null;
  const name =
    (id !== null ? names.get(id) : undefined) ?? (typeof message.name === 'string' ? message.name : '');
  const text = plainText(message.content);
  let response: Json = { output: text };
  try {
    const parsed: unknown = JSON.parse(text);
    response = isRecord(parsed) ? parsed : { output: parsed };
  } catch {
    // Plain text output.
  }
  return { functionResponse: { name, response } };
}

/** System prompts and the user/model turns (consecutive same-role messages merge into one turn). */
function conversation(messages: unknown[]): { system: Part[]; contents: Content[] } {
  const system: Part[] = [];
  const contents: Content[] = [];
  // tool_call id → function name, since Gemini matches results to calls by name.
  const names = new Map<string, string>();
  const add = (role: Content['role'], parts: Part[]) => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    if (last?.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  for (const message of messages) {
    if (!isRecord(message)) continue;
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...textPart(plainText(message.content)));
        break;
      case 'assistant':
        add('model', [...contentParts(message.content), ...functionCallParts(message.tool_calls, names)]);
        break;
      case 'tool':
      case 'function':
        add('user', [functionResponsePart(message, names)]);
        break;
      default:
        add('user', contentParts(message.content));
    }
  }
  return { system, contents };
}

function functionDeclarations(tools: unknown): Json[] {
  if (!Array.isArray(tools)) return [];
  const declarations: Json[] = [];
  for (const tool of tools) {
    if (!isRecord(tool) || !isRecord(tool.function) || typeof tool.function.name !== 'string') continue;
    const fn = tool.function;
    const declaration: Json = { name: fn.name };
    if (typeof fn.description === 'string' && fn.description !== '') declaration.description = fn.description;
    // parametersJsonSchema takes full JSON Schema (additionalProperties, $defs, …) as OpenAI
    // clients write it; the older `parameters` field only takes an OpenAPI subset.
    if (isRecord(fn.parameters)) declaration.parametersJsonSchema = fn.parameters;
    declarations.push(declaration);
  }
  return declarations;
}

/** tool_choice: none → NONE, auto → AUTO, required → ANY, a named function → ANY limited to it. */
function toolConfig(choice: unknown): Json | undefined {
  if (choice === 'none') return { functionCallingConfig: { mode: 'NONE' } };
  if (choice === 'auto') return { functionCallingConfig: { mode: 'AUTO' } };
  if (choice === 'required') return { functionCallingConfig: { mode: 'ANY' } };
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.function.name] } };
  }
  return undefined;
}

function stopSequences(stop: unknown): string[] | undefined {
  if (typeof stop === 'string') return [stop];
  if (!Array.isArray(stop)) return undefined;
  const list = stop.filter((s): s is string => typeof s === 'string');
  return list.length > 0 ? list : undefined;
}

/** response_format → JSON mode: json_object asks for JSON; json_schema also passes the schema. */
function responseFormat(format: unknown, config: Json): void {
  if (!isRecord(format)) return;
  if (format.type === 'json_object') config.responseMimeType = 'application/json';
  if (format.type === 'json_schema') {
    config.responseMimeType = 'application/json';
    const schema = isRecord(format.json_schema) ? format.json_schema.schema : undefined;
    if (isRecord(schema)) config.responseJsonSchema = schema;
  }
}

function generationConfig(body: CanonicalRequest): Json | undefined {
  const config: Json = {};
  const max = body.max_completion_tokens ?? body.max_tokens;
  if (typeof max === 'number') config.maxOutputTokens = max;
  if (typeof body.temperature === 'number') config.temperature = body.temperature;
  if (typeof body.top_p === 'number') config.topP = body.top_p;
  const stops = stopSequences(body.stop);
  if (stops) config.stopSequences = stops;
  if (typeof body.n === 'number' && body.n > 1) config.candidateCount = body.n;
  if (typeof body.presence_penalty === 'number') config.presencePenalty = body.presence_penalty;
  if (typeof body.frequency_penalty === 'number') config.frequencyPenalty = body.frequency_penalty;
  if (typeof body.seed === 'number') config.seed = body.seed;
  responseFormat(body.response_format, config);
  const effort =
    typeof body.reasoning_effort === 'string' ? THINKING_BUDGET[body.reasoning_effort] : undefined;
  if (effort !== undefined) config.thinkingConfig = { thinkingBudget: effort };
  return Object.keys(config).length > 0 ? config : undefined;
}

export function generateContentBody(body: CanonicalRequest): Json {
  const { system, contents } = conversation(Array.isArray(body.messages) ? body.messages : []);
  const out: Json = { contents };
  if (system.length > 0) out.systemInstruction = { parts: system };
  const declarations = functionDeclarations(body.tools);
  if (declarations.length > 0) {
    out.tools = [{ functionDeclarations: declarations }];
    const config = toolConfig(body.tool_choice);
    if (config) out.toolConfig = config;
  }
  const generation = generationConfig(body);
  if (generation) out.generationConfig = generation;
  return out;
}
