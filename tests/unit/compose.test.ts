/**
 * The production compose file, the README's configuration tables and the config schemas must
 * agree both ways: every key the compose file sets for a RadLink process is one its schema
 * knows, every required key is set, images are pinned, and README documents each key with its
 * real default.
 */
import { readFileSync } from 'node:fs';
import type { TObject } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { StartConfigSchema } from '../../scripts/start-config.js';
import { GatewayConfigSchema } from '../../server/src/config.js';
import { WorkersConfigSchema } from '../../workers/src/config.js';

interface ComposeService {
  image?: string;
  environment?: Record<string, string>;
}
const compose = parse(readFileSync('deploy/compose.yaml', 'utf8')) as {
  services: Record<string, ComposeService>;
};
const readme = readFileSync('README.md', 'utf8');

const processes: [string, TObject][] = [
  ['gateway', GatewayConfigSchema],
  ['workers', WorkersConfigSchema],
];

function required(schema: TObject): string[] {
  return Object.entries(schema.properties)
    .filter(([k, v]) => schema.required?.includes(k) && (v as { default?: unknown }).default === undefined)
    .map(([k]) => k);
}

describe.each(processes)('%s configuration', (service, schema) => {
  const env = compose.services[service]?.environment ?? {};

  it('compose sets only keys the schema knows', () => {
    const unknown = Object.keys(env).filter((k) => !(k in schema.properties));
    expect(unknown).toEqual([]);
  });

  it('compose sets every required key', () => {
    const missing = required(schema).filter((k) => !(k in env));
    expect(missing).toEqual([]);
  });

  it('README documents every key with its default, and no key that does not exist', () => {
    const section = readme.split(`<!-- config:${service} -->`)[1]?.split('<!-- /config -->')[0];
    expect(section, `README needs a <!-- config:${service} --> table`).toBeDefined();
    const rows = new Map(
      [...section!.matchAll(/^\| `([A-Z0-9_]+)` \| ([^|]*) \|/gm)].map((m) => [m[1]!, m[2]!.trim()] as const),
    );
    expect([...rows.keys()].sort()).toEqual(Object.keys(schema.properties).sort());
    for (const [key, prop] of Object.entries(schema.properties)) {
      const def = (prop as { default?: unknown }).default;
      const documented = rows.get(key)!;
      if (def === undefined) expect(documented, key).toMatch(/^(required|unset|—)/);
      else expect(documented, key).toBe(`\`${String(def)}\``);
    }
  });
});

describe('npm start configuration', () => {
  it('README documents every key of scripts/start-config.ts with its default', () => {
    const section = readme.split('<!-- config:start -->')[1]?.split('<!-- /config -->')[0];
    expect(section).toBeDefined();
    const keys = [...section!.matchAll(/^\| `([A-Z0-9_]+)` \| ([^|]*) \|/gm)].map((m) => m[1]);
    expect(keys.sort()).toEqual(Object.keys(StartConfigSchema.properties).sort());
  });
});

describe('compose images', () => {
  it('are all pinned to a version', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      expect(svc.image, name).toMatch(/:[0-9A-Za-z][\w.-]*\d[\w.-]*$/);
      expect(svc.image, name).not.toMatch(/:latest$/);
    }
  });
});
