/**
 * Prints the README configuration tables from the config schemas, so documentation cannot
 * drift from code (tests/unit/compose.test.ts checks README against the schemas).
 *   npx tsx scripts/config-table.ts start|gateway|workers
 */
import type { TObject } from '@sinclair/typebox';
import { GatewayConfigSchema } from '../server/src/config.js';
import { WorkersConfigSchema } from '../workers/src/config.js';
import { StartConfigSchema } from './start-config.js';

const schemas: Record<string, TObject> = {
  start: StartConfigSchema,
  gateway: GatewayConfigSchema,
  workers: WorkersConfigSchema,
};
const which = process.argv[2] ?? 'gateway';
const schema = schemas[which];
if (!schema) throw new Error(`unknown process ${which}`);
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
process.stdout.write(`<!-- config:${which} -->\n${lines.join('\n')}\n<!-- /config -->\n`);
