/**
 * Typed, documented configuration: each process declares a TypeBox schema whose properties are
 * environment keys (with `default` and `description`), and loads it with `loadConfig`, which fails
 * fast naming every bad or missing key. README's configuration table and the production compose
 * file are checked against these schemas by tests.
 */
import { type Static, type TObject, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

export class ConfigError extends Error {
  constructor(
    readonly processName: string,
    readonly problems: string[],
  ) {
    super(`Invalid ${processName} configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Environment values are strings; convert, apply defaults, then validate strictly. */
export function loadConfig<S extends TObject>(
  processName: string,
  schema: S,
  env: Record<string, string | undefined> = process.env,
): Static<S> {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  const props = schema.properties as Record<string, { type?: string; description?: string }>;
  for (const key of Object.keys(props)) {
    const v = env[key];
    if (v === undefined || v === '') continue;
    // TypeBox's conversion truncates "1.5" or "1e1" to 1: a whole-number setting must be written
    // as one, or the process would run with a value nobody wrote.
    if (props[key]!.type === 'integer' && !/^[+-]?\d+$/.test(v.trim())) {
      problems.push(
        `${key}=${JSON.stringify(v)} is invalid: Expected a whole number (${props[key]!.description ?? ''})`,
      );
      continue;
    }
    raw[key] = v;
  }
  const withDefaults = Value.Default(schema, Value.Clone(raw)) as Record<string, unknown>;
  const converted = Value.Convert(schema, withDefaults) as Record<string, unknown>;
  for (const err of Value.Errors(schema, converted)) {
    const key = err.path.replace(/^\//, '').split('/')[0] || '(root)';
    if (problems.some((p) => p.startsWith(`${key}=`))) continue; // already explained above
    const given = env[key];
    const desc = (schema.properties as Record<string, { description?: string }>)[key]?.description;
    problems.push(
      given === undefined || given === ''
        ? `${key} is required${desc ? ` (${desc})` : ''}: ${err.message}`
        : `${key}=${JSON.stringify(given)} is invalid: ${err.message}${desc ? ` (${desc})` : ''}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(processName, [...new Set(problems)]);
  return converted as Static<S>;
}

/** Helpers that keep schema declarations short and self-documenting. */
export const Env = {
  str: (description: string, def?: string) =>
    def === undefined
      ? Type.String({ description, minLength: 1 })
      : Type.String({ description, default: def }),
  optStr: (description: string) => Type.Optional(Type.String({ description, minLength: 1 })),
  int: (description: string, def: number, min = 0, max = 2 ** 31) =>
    Type.Integer({ description, default: def, minimum: min, maximum: max }),
  port: (description: string, def: number) =>
    Type.Integer({ description, default: def, minimum: 1, maximum: 65535 }),
  bool: (description: string, def: boolean) => Type.Boolean({ description, default: def }),
  url: (description: string, def?: string) =>
    def === undefined
      ? Type.String({ description, pattern: '^[a-z][a-z0-9+.-]*://' })
      : Type.String({ description, pattern: '^[a-z][a-z0-9+.-]*://', default: def }),
  optUrl: (description: string) =>
    Type.Optional(Type.String({ description, pattern: '^[a-z][a-z0-9+.-]*://' })),
  enumOf: <T extends string>(description: string, values: readonly T[], def: T) =>
    Type.Union(
      values.map((v) => Type.Literal(v)),
      { description, default: def },
    ),
};

/**
 * The backing services every RadLink process that touches images needs (gateway, workers),
 * declared once so their names, defaults and documentation cannot diverge.
 */
export const SERVICE_KEYS = {
  RADLINK_QUEUE_PREFIX: Env.str('BullMQ key prefix (one per installation sharing a Redis).', 'radlink'),
  REDIS_URL: Env.url('Redis URL (queues, rate limits).'),
  ORTHANC_URL: Env.url('Orthanc HTTP API base URL (loopback).'),
  ORTHANC_USERNAME: Env.str('Orthanc HTTP user.'),
  ORTHANC_PASSWORD: Env.str('Orthanc HTTP password.'),
  S3_ENDPOINT: Env.url('S3 endpoint URL (MinIO, s3rver or any S3).'),
  S3_REGION: Env.str('S3 region.', 'us-east-1'),
  S3_ACCESS_KEY: Env.str('S3 access key.'),
  S3_SECRET_KEY: Env.str('S3 secret key.'),
  S3_BUCKET: Env.str('S3 bucket for archive copies and derived artefacts.', 'radlink'),
};
