import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { PluginProblem } from './manifest.js';
import type { JsonObject, JsonValue } from './sdk.js';

/**
 * A plugin's settings: the defaults in its config.json (a JSON Schema whose properties carry
 * `default`s), then the user's `plugins.config.<name>` from the config file, then environment
 * variables PINCER_PLUGIN_<NAME>_<KEY>; the result is validated against the same schema
 * before any plugin code runs.
 */

export type ConfigResult = { ok: true; config: JsonObject } | { ok: false; problem: PluginProblem };

type Schema = { type?: string | string[]; properties?: Record<string, Schema>; default?: JsonValue };

export class PluginConfigResolver {
  // Compiled schemas are cached by file and content. Each gets its own Ajv, so an edited
  // schema (or two plugins) reusing an `$id` never clash.
  private readonly compiled = new Map<string, { text: string; schema: Schema; validate: ValidateFunction }>();

  /** `otherPlugins` keeps PINCER_PLUGIN_TRANSLATE_CACHE_X (plugin translate-cache) away from plugin translate. */
  resolve(plugin: string, configPath: string | undefined, user: Record<string, unknown> | undefined, env: NodeJS.ProcessEnv, otherPlugins: readonly string[] = []): ConfigResult {
    const sources = new Map<string, string>();
    let compiled: { schema: Schema; validate: ValidateFunction } | undefined;
    if (configPath) {
      const loaded = this.load(configPath);
      if ('problem' in loaded) return { ok: false, problem: loaded.problem };
      compiled = loaded;
    }
    const value: JsonObject = {};
    for (const [key, v] of Object.entries(user ?? {})) {
      value[key] = v as JsonValue;
      sources.set(key, 'config file');
    }
    const prefix = `PINCER_PLUGIN_${envName(plugin)}_`;
    const longer = otherPlugins.map((p) => `PINCER_PLUGIN_${envName(p)}_`).filter((p) => p.length > prefix.length && p.startsWith(prefix));
    for (const [name, raw] of Object.entries(env)) {
      if (!name.startsWith(prefix) || raw === undefined || longer.some((p) => name.startsWith(p))) continue;
      const envKey = name.slice(prefix.length);
      const key = Object.keys(compiled?.schema.properties ?? {}).find((k) => envName(k) === envKey) ?? envKey.toLowerCase();
      value[key] = coerce(raw, compiled?.schema.properties?.[key]);
      sources.set(key, name);
    }
    if (!compiled) {
      if (Object.keys(value).length > 0) {
        return { ok: false, problem: { code: 'PLUGIN_CONFIG_INVALID', field: `config.${Object.keys(value)[0]}`, message: 'this plugin has no config.json, so it takes no settings' } };
      }
      return { ok: true, config: value };
    }
    if (compiled.validate(value)) return { ok: true, config: value };
    return { ok: false, problem: describe(compiled.validate.errors ?? [], value, sources) };
  }

  private load(configPath: string): { schema: Schema; validate: ValidateFunction } | { problem: PluginProblem } {
    let text: string;
    try {
      text = readFileSync(configPath, 'utf8');
    } catch (err) {
      return { problem: { code: 'PLUGIN_CONFIG_MISSING', field: 'pincer.config', message: `cannot read ${configPath}: ${(err as Error).message}` } };
    }
    const cached = this.compiled.get(configPath);
    if (cached && cached.text === text) return cached;
    try {
      const schema = JSON.parse(text) as Schema;
      if (!schema || typeof schema !== 'object' || (schema.type !== undefined && schema.type !== 'object')) {
        throw new Error('config.json must be a JSON Schema of type "object" whose properties carry defaults');
      }
      const validate = new Ajv({ allErrors: true, useDefaults: true, strict: false, coerceTypes: false }).compile(schema);
      const entry = { text, schema, validate };
      this.compiled.set(configPath, entry);
      return entry;
    } catch (err) {
      return { problem: { code: 'PLUGIN_CONFIG_SCHEMA_INVALID', field: 'config.json', message: `${configPath}: ${(err as Error).message}` } };
    }
  }
}

export function envName(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** Environment values are text; shape them like the schema says so validation can judge them. */
function coerce(raw: string, schema: Schema | undefined): JsonValue {
  const types = schema?.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  const trimmed = raw.trim();
  if ((types.includes('number') || types.includes('integer')) && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(trimmed)) return Number(trimmed);
  if (types.includes('boolean')) {
    if (/^(true|1|yes|on)$/i.test(trimmed)) return true;
    if (/^(false|0|no|off)$/i.test(trimmed)) return false;
  }
  if (types.includes('array') && !trimmed.startsWith('[')) return trimmed.split(',').map((s) => s.trim()).filter(Boolean);
  if ((types.includes('array') || types.includes('object')) && /^[[{]/.test(trimmed)) {
    try {
      return JSON.parse(trimmed) as JsonValue;
    } catch {
      return raw;
    }
  }
  return raw;
}

function describe(errors: ErrorObject[], value: JsonObject, sources: Map<string, string>): PluginProblem {
  const first = errors[0];
  if (!first) return { code: 'PLUGIN_CONFIG_INVALID', field: 'config', message: 'invalid configuration' };
  const segments = first.instancePath.split('/').filter(Boolean);
  if (first.keyword === 'additionalProperties') segments.push(String((first.params as { additionalProperty: string }).additionalProperty));
  if (first.keyword === 'required') segments.push(String((first.params as { missingProperty: string }).missingProperty));
  const field = ['config', ...segments].join('.');
  const top = segments[0];
  let shown: JsonValue | undefined = value;
  for (const s of segments) shown = shown && typeof shown === 'object' && !Array.isArray(shown) ? shown[s] : undefined;
  const source = top ? sources.get(top) : undefined;
  const reason = first.keyword === 'additionalProperties' ? 'unknown setting (not in the plugin\'s config.json)' : (first.message ?? 'invalid');
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''})` : '';
  return {
    code: 'PLUGIN_CONFIG_INVALID',
    field,
    message: `${field} = ${shown === undefined ? 'missing' : JSON.stringify(shown)}${source ? ` (from ${source})` : ''}: ${reason}${more}`,
  };
}
