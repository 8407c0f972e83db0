import { isRecord } from '../../json.ts';
/**
 * The GenerateContentRequest as the mock reads it, validated the way Gemini validates it:
 * unknown field names are refused (a translation that invents a field gets the same 400 the
 * real API gives), roles are user/model, parts are never empty and hold exactly one kind of data.
 */

export type Json = Record<string, unknown>;

export interface GeminiPart {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType?: string; fileUri: string };
  functionCall?: { id?: string; name: string; args?: Json };
  functionResponse?: { id?: string; name: string; response: Json };
}

export interface GeminiContent {
  role?: 'user' | 'model';
  parts: GeminiPart[];
}

export interface FunctionDeclaration {
  name: string;
  description?: string;
  parameters?: Json;
  parametersJsonSchema?: Json;
}

export interface GenerationConfig {
  maxOutputTokens?: number;
  candidateCount?: number;
  stopSequences?: string[];
  thinkingConfig?: { includeThoughts?: boolean; thinkingBudget?: number; thinkingLevel?: string };
}

export interface GeminiBody {
  contents: GeminiContent[];
  systemInstruction?: { parts: GeminiPart[] };
  tools?: { functionDeclarations?: FunctionDeclaration[] }[];
  toolConfig?: { functionCallingConfig?: { mode?: string; allowedFunctionNames?: string[] } };
  generationConfig?: GenerationConfig;
}

export type ParsedGemini = { ok: true; body: GeminiBody } | { ok: false; message: string };

const REQUEST_FIELDS = [
  'contents',
  'systemInstruction',
  'tools',
  'toolConfig',
  'generationConfig',
  'safetySettings',
  'cachedContent',
  'labels',
];
const CONTENT_FIELDS = ['role', 'parts'];
const PART_DATA = [
  'text',
  'inlineData',
  'fileData',
  'functionCall',
  'functionResponse',
  'executableCode',
  'codeExecutionResult',
];
const PART_FIELDS = [...PART_DATA, 'thought', 'thoughtSignature', 'videoMetadata', 'partMetadata'];
const GENERATION_FIELDS = [
  'stopSequences',
  'responseMimeType',
  'responseSchema',
  'responseJsonSchema',
  'responseModalities',
  'candidateCount',
  'maxOutputTokens',
  'temperature',
  'topP',
  'topK',
  'seed',
  'presencePenalty',
  'frequencyPenalty',
  'responseLogprobs',
  'logprobs',
  'enableEnhancedCivicAnswers',
  'speechConfig',
  'thinkingConfig',
  'imageConfig',
  'mediaResolution',
];
const TOOL_FIELDS = [
  'functionDeclarations',
  'googleSearch',
  'codeExecution',
  'urlContext',
  'googleSearchRetrieval',
];
const DECLARATION_FIELDS = [
  'name',
  'description',
  'parameters',
  'parametersJsonSchema',
  'response',
  'responseJsonSchema',
  'behavior',
];
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;

class Invalid extends Error {}

function unknownFields(value: Json, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new Invalid(
        `Invalid JSON payload received. Unknown name "${key}" at '${where}': Cannot find field.`,
      );
    }
  }
}

function checkPart(part: unknown, where: string): void {
  if (!isRecord(part)) throw new Invalid(`Invalid JSON payload received. Expected an object at '${where}'.`);
  unknownFields(part, PART_FIELDS, where);
  const data = PART_DATA.filter((k) => part[k] !== undefined);
  if (data.length !== 1) {
    throw new Invalid(
      `* GenerateContentRequest.${where}.data: required oneof field 'data' must have one initialized field\n`,
    );
  }
  if (part.text !== undefined && (typeof part.text !== 'string' || part.text === '')) {
    throw new Invalid(
      'Unable to submit request because it has an empty text parameter. Add a value to the parameter and try again.',
    );
  }
  if (part.functionCall !== undefined) {
    const call = part.functionCall;
    if (!isRecord(call) || typeof call.name !== 'string' || call.name === '')
      throw new Invalid(`* GenerateContentRequest.${where}.function_call.name: Name cannot be empty.\n`);
    if (call.args !== undefined && !isRecord(call.args))
      throw new Invalid(
        `Invalid value at '${where}.function_call.args' (type.googleapis.com/google.protobuf.Struct)`,
      );
  }
  if (part.functionResponse !== undefined) {
    const response = part.functionResponse;
    if (!isRecord(response) || typeof response.name !== 'string' || response.name === '')
      throw new Invalid(`* GenerateContentRequest.${where}.function_response.name: Name cannot be empty.\n`);
    if (!isRecord(response.response))
      throw new Invalid(
        `Invalid value at '${where}.function_response.response' (type.googleapis.com/google.protobuf.Struct)`,
      );
  }
  if (part.inlineData !== undefined) {
    const inline = part.inlineData;
    if (!isRecord(inline) || typeof inline.mimeType !== 'string' || typeof inline.data !== 'string')
      throw new Invalid(`* GenerateContentRequest.${where}.inline_data: mimeType and data are required\n`);
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(inline.data))
      throw new Invalid(`Invalid value at '${where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed`);
  }
  if (part.fileData !== undefined) {
    const file = part.fileData;
    if (!isRecord(file) || typeof file.fileUri !== 'string')
      throw new Invalid(`* GenerateContentRequest.${where}.file_data.file_uri: fileUri is required\n`);
  }
}

function checkContents(contents: unknown): void {
  if (!Array.isArray(contents) || contents.length === 0) {
    throw new Invalid('* GenerateContentRequest.contents: contents is not specified\n');
  }
  contents.forEach((content, i) => {
    const where = `contents[${i}]`;
    if (!isRecord(content))
      throw new Invalid(`Invalid JSON payload received. Expected an object at '${where}'.`);
    unknownFields(content, CONTENT_FIELDS, where);
    if (content.role !== undefined && content.role !== 'user' && content.role !== 'model') {
      throw new Invalid('Please use a valid role: user, model.');
    }
    if (!Array.isArray(content.parts) || content.parts.length === 0) {
      throw new Invalid(`* GenerateContentRequest.${where}.parts: contents.parts must not be empty.\n`);
    }
    content.parts.forEach((part, j) => {
      checkPart(part, `${where}.parts[${j}]`);
    });
  });
}

function checkTools(tools: unknown): void {
  if (tools === undefined) return;
  if (!Array.isArray(tools))
    throw new Invalid(
      "Invalid value at 'tools' (type.googleapis.com/google.ai.generativelanguage.v1beta.Tool)",
    );
  tools.forEach((tool, i) => {
    if (!isRecord(tool)) throw new Invalid(`Invalid value at 'tools[${i}]'`);
    unknownFields(tool, TOOL_FIELDS, `tools[${i}]`);
    const declarations = tool.functionDeclarations;
    if (declarations === undefined) return;
    if (!Array.isArray(declarations))
      throw new Invalid(`Invalid value at 'tools[${i}].function_declarations'`);
    declarations.forEach((d, j) => {
      const where = `tools[${i}].function_declarations[${j}]`;
      if (!isRecord(d)) throw new Invalid(`Invalid value at '${where}'`);
      unknownFields(d, DECLARATION_FIELDS, where);
      if (typeof d.name !== 'string' || !FUNCTION_NAME.test(d.name)) {
        throw new Invalid(
          `* GenerateContentRequest.${where}.name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:) or dashes (-), with a maximum length of 64.\n`,
        );
      }
      if (d.parameters !== undefined && d.parametersJsonSchema !== undefined) {
        throw new Invalid(
          `* GenerateContentRequest.${where}: parameters and parameters_json_schema are mutually exclusive.\n`,
        );
      }
    });
  });
}

function checkGenerationConfig(config: unknown): void {
  if (config === undefined) return;
  if (!isRecord(config)) throw new Invalid("Invalid value at 'generation_config'");
  unknownFields(config, GENERATION_FIELDS, 'generation_config');
  for (const field of ['maxOutputTokens', 'candidateCount'] as const) {
    const v = config[field];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1)) {
      throw new Invalid(`Invalid value at 'generation_config.${field}' (TYPE_INT32), ${JSON.stringify(v)}`);
    }
  }
  const stops = config.stopSequences;
  if (stops !== undefined && (!Array.isArray(stops) || stops.some((s) => typeof s !== 'string'))) {
    throw new Invalid("Invalid value at 'generation_config.stop_sequences'");
  }
}

export function parseGenerateContent(body: unknown): ParsedGemini {
  try {
    if (!isRecord(body)) throw new Invalid('Invalid JSON payload received. Expected an object.');
    unknownFields(body, REQUEST_FIELDS, 'request');
    checkContents(body.contents);
    if (body.systemInstruction !== undefined) {
      const si = body.systemInstruction;
      if (!isRecord(si) || !Array.isArray(si.parts))
        throw new Invalid("Invalid value at 'system_instruction'");
      si.parts.forEach((part, j) => {
        checkPart(part, `system_instruction.parts[${j}]`);
      });
    }
    checkTools(body.tools);
    checkGenerationConfig(body.generationConfig);
    return { ok: true, body: body as unknown as GeminiBody };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, message: err.message };
    throw err;
  }
}
