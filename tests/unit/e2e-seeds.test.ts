/**
 * Browser tests share one archive for the whole e2e tier, and a synthetic study's UIDs derive
 * from its seed. Two files using the same seed with different patients collide in the archive
 * (409 "a different object is already stored under this SOP Instance UID"), but only when both
 * run in the same tier — each passes alone. This guard keeps every seed unique across files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const E2E = join(import.meta.dirname, '..', 'e2e');

function seedsByFile(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const name of readdirSync(E2E).filter((n) => n.endsWith('.ts'))) {
    const text = readFileSync(join(E2E, name), 'utf8');
    for (const m of text.matchAll(/\bseed:\s*([0-9_]+)/g)) {
      const seed = m[1]!.replaceAll('_', '');
      out.set(seed, [...(out.get(seed) ?? []), name]);
    }
  }
  return out;
}

describe('e2e synthetic study seeds', () => {
  it('finds the seeds of the browser tests', () => {
    expect(seedsByFile().size).toBeGreaterThanOrEqual(10);
  });

  it('uses each seed once across all browser test files', () => {
    const dup = [...seedsByFile()].filter(([, files]) => files.length > 1);
    expect(dup, `seeds used more than once: ${JSON.stringify(dup)}`).toEqual([]);
  });
});
