/**
 * Writes models/manifest.schema.json from the TypeBox schema in contracts/model-manifest.ts
 * (tests/unit/ai-manifest.test.ts fails when the committed file differs).
 *
 *   npx tsx models/build/write-schema.ts
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { manifestJsonSchema } from '../../contracts/model-manifest.js';

const out = join(import.meta.dirname, '..', 'manifest.schema.json');
writeFileSync(out, `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`);
console.log(`wrote ${out}`);
