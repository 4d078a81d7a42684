/**
 * README's configuration tables, generated from the config schemas so documentation cannot
 * drift from code (tests/unit/compose.test.ts checks README against the schemas).
 *   npx tsx scripts/config-table.ts start|gateway|workers   print one table
 *   npm run docs:config                                    rewrite all tables in README.md
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { TObject } from '@sinclair/typebox';
import { GatewayConfigSchema } from '../server/src/config.js';
import { WorkersConfigSchema } from '../workers/src/config.js';
import { StartConfigSchema } from './start-config.js';

const schemas: Record<string, TObject> = {
  start: StartConfigSchema,
  gateway: GatewayConfigSchema,
  workers: WorkersConfigSchema,
};

function table(which: string, schema: TObject): string {
  const lines = ['| Key | Default | Meaning |', '| --- | --- | --- |'];
  for (const [key, prop] of Object.entries(schema.properties)) {
    const p = prop as { default?: unknown; description?: string };
    const def =
      p.default !== undefined
        ? `\`${String(p.default)}\``
        : schema.required?.includes(key)
          ? 'required'
          : 'unset';
    lines.push(`| \`${key}\` | ${def} | ${p.description ?? ''} |`);
  }
  return `<!-- config:${which} -->\n${lines.join('\n')}\n<!-- /config -->`;
}

const arg = process.argv[2] ?? 'gateway';
if (arg === '--write') {
  let readme = readFileSync('README.md', 'utf8');
  for (const [which, schema] of Object.entries(schemas)) {
    const re = new RegExp(`<!-- config:${which} -->[\\s\\S]*?<!-- /config -->`);
    if (!re.test(readme)) throw new Error(`README.md has no <!-- config:${which} --> table`);
    readme = readme.replace(re, table(which, schema));
  }
  writeFileSync('README.md', readme);
} else {
  const schema = schemas[arg];
  if (!schema) throw new Error(`unknown process ${arg}`);
  process.stdout.write(`${table(arg, schema)}\n`);
}
