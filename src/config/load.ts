import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type RawConfig } from './schema.ts';

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly issues: string[],
  ) {
    super(`${message}\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Replaces ${VAR} and ${VAR:-default} in every string scalar; a missing variable is an error naming its path. */
export function interpolateEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: string[] = [],
  missing: string[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
      (_m, name: string, fallback?: string) => {
        const found = env[name];
        if (found !== undefined && found !== '') return found;
        if (fallback !== undefined) return fallback;
        missing.push(`${path.join('.') || '(root)'}: environment variable ${name} is not set`);
        return '';
      },
    );
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, [...path, String(i)], missing));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateEnv(v, env, [...path, k], missing);
    return out;
  }
  return value;
}

export function formatZodIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
}

export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): RawConfig {
  const missing: string[] = [];
  const interpolated = interpolateEnv(raw ?? {}, env, [], missing);
  if (missing.length > 0) throw new ConfigError('invalid config: missing environment variables', missing);
  const parsed = configSchema.safeParse(interpolated);
  if (!parsed.success) throw new ConfigError('invalid config', formatZodIssues(parsed.error));
  return parsed.data;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): RawConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}`, [(err as Error).message]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML`, [(err as Error).message]);
  }
  return parseConfig(raw, env);
}
