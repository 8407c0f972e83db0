import { isRecord } from '../../json.ts';
import type { CanonicalRequest } from '../../providers/types.ts';

/**
 * Anthropic Messages body → OpenAI chat-completions body (the canonical form), for models
 * served by providers that do not speak Messages. The inverse of the Anthropic adapter's
 * translation: `system` becomes a system message, tool_use blocks assistant tool_calls,
 * tool_result blocks `tool` messages (placed right after the assistant turn, as OpenAI
 * requires), images data or http URLs. Thinking blocks of earlier turns are dropped (chat has
 * no way to send them back); blocks with no chat equivalent go through as they are, so the
 * provider refuses them with its own message. Never throws.
 */

type Json = Record<string, unknown>;

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** An image or document source as a URL: base64 sources become data URLs. */
function sourceUrl(source: unknown): string | null {
  if (!isRecord(source)) return null;
  if (source.type === 'url' && typeof source.url === 'string') return source.url;
  if (source.type === 'base64' && typeof source.data === 'string') {
    return `data:${str(source.media_type) || 'application/octet-stream'};base64,${source.data}`;
  }
  return null;
}

/** A user-side content block as a chat content part. */
function partOf(block: unknown): Json | null {
  if (typeof block === 'string') return { type: 'text', text: block };
  if (!isRecord(block)) return null;
  switch (block.type) {
    case 'text':
      return { type: 'text', text: str(block.text) };
    case 'image': {
      const url = sourceUrl(block.source);
      return url === null ? block : { type: 'image_url', image_url: { url } };
    }
    case 'document': {
      const source = isRecord(block.source) ? block.source : {};
      if (source.type === 'text') return { type: 'text', text: str(source.data) };
      if (source.type !== 'base64') return block;
      const file: Json = { file_data: sourceUrl(source) };
      file.filename = typeof block.title === 'string' ? block.title : 'document.pdf';
      return { type: 'file', file };
    }
    case 'thinking':
    case 'redacted_thinking':
      return null;
    default:
      return block;
  }
}

/** Parts as chat content: a lone text part as a plain string. */
function contentOf(parts: Json[]): string | Json[] {
  const only = parts[0];
  return parts.length === 1 && only?.type === 'text' ? str(only.text) : parts;
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((b) => (isRecord(b) && b.type === 'text' ? str(b.text) : ''))
    .filter((t) => t !== '')
    .join('\n');
}

function assistantMessage(content: unknown): Json {
  if (!Array.isArray(content))
    return { role: 'assistant', content: typeof content === 'string' ? content : '' };
  let text = '';
  const toolCalls: Json[] = [];
  for (const block of content) {
    if (!isRecord(block)) continue;
    if (block.type === 'text') text += str(block.text);
    else if (block.type === 'tool_use') {
      let args = '{}';
      try {
        args = JSON.stringify(block.input ?? {}) ?? '{}';
      } catch {
        // Only values JSON.parse never produces get here.
      }
      toolCalls.push({
        id: str(block.id),
        type: 'function',
        function: { name: str(block.name), arguments: args },
      });
    }
  }
  const message: Json = { role: 'assistant', content: text !== '' || toolCalls.length === 0 ? text : null };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}

/** A user turn: its tool results first (as tool messages), then the rest as one user message. */
function userMessages(content: unknown): Json[] {
  if (!Array.isArray(content)) return [{ role: 'user', content: typeof content === 'string' ? content : '' }];
  const out: Json[] = [];
  const parts: Json[] = [];
  for (const block of content) {
    if (isRecord(block) && block.type === 'tool_result') {
      const result = block.content;
      out.push({ role: 'tool', tool_call_id: str(block.tool_use_id), content: textOf(result) });
      // Chat tool messages hold text only: images a tool returned follow as user content.
      if (Array.isArray(result)) {
        for (const inner of result) {
          if (isRecord(inner) && inner.type !== 'text') {
            const part = partOf(inner);
            if (part) parts.push(part);
          }
        }
      }
      continue;
    }
    const part = partOf(block);
    if (part) parts.push(part);
  }
  if (parts.length > 0) out.push({ role: 'user', content: contentOf(parts) });
  return out;
}

function toolOf(tool: unknown): unknown {
  if (!isRecord(tool) || (tool.type !== undefined && tool.type !== 'custom')) return tool;
  const fn: Json = { name: tool.name };
  if (typeof tool.description === 'string') fn.description = tool.description;
  fn.parameters = isRecord(tool.input_schema) ? tool.input_schema : { type: 'object', properties: {} };
  return { type: 'function', function: fn };
}

function toolChoiceOf(choice: Json): unknown {
  switch (choice.type) {
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      return { type: 'function', function: { name: str(choice.name) } };
    default:
      return 'auto';
  }
}

export function anthropicToChat(body: Record<string, unknown>): CanonicalRequest {
  const messages: Json[] = [];
  if (typeof body.system === 'string' && body.system !== '')
    messages.push({ role: 'system', content: body.system });
  else if (Array.isArray(body.system) && body.system.length > 0) {
    const parts = body.system.map(partOf).filter((p): p is Json => p !== null);
    if (parts.length > 0) messages.push({ role: 'system', content: contentOf(parts) });
  }
  for (const message of Array.isArray(body.messages) ? body.messages : []) {
    if (!isRecord(message)) continue;
    if (message.role === 'assistant') messages.push(assistantMessage(message.content));
    else messages.push(...userMessages(message.content));
  }
  const out: CanonicalRequest = { model: body.model, messages };
  if (typeof body.max_tokens === 'number') out.max_completion_tokens = body.max_tokens;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) out.stop = body.stop_sequences;
  for (const field of ['temperature', 'top_p'] as const) {
    if (typeof body[field] === 'number') out[field] = body[field];
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    out.tools = body.tools.map(toolOf);
    const choice = isRecord(body.tool_choice) ? body.tool_choice : null;
    if (choice) out.tool_choice = toolChoiceOf(choice);
    if (choice?.disable_parallel_tool_use === true && choice.type !== 'none') out.parallel_tool_calls = false;
  }
  const metadata = isRecord(body.metadata) ? body.metadata : {};
  if (typeof metadata.user_id === 'string' && metadata.user_id !== '') out.user = metadata.user_id;
  if (body.stream === true) out.stream = true;
  return out;
}
