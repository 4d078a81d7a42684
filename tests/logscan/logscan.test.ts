/**
 * Runs after every other tier: greps every log the test suite wrote (gateway, workers, the
 * supervised services, the `npm start` end-to-end run) for every demo patient's identifiers:
 * names in NFC, NFD and without diacritics, hospital IDs, BHXH and CCCD numbers, birth dates.
 * The integration tier stores, queries and retrieves those patients' studies, so their
 * identifiers do pass through the code that logs.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { demoIdentifiers } from '../../scripts/demo/patients.js';

/**
 * This suite's run directories: every `.test-data/run-*` made since `npm test` started
 * (RADLINK_TEST_SINCE, set by scripts/bootstrap.mjs; the integration and e2e tiers each make
 * one), or every run directory when this tier is run on its own.
 */
function runDirs(): string[] {
  const since = Number(process.env.RADLINK_TEST_SINCE ?? 0);
  let names: string[] = [];
  try {
    names = readdirSync('.test-data').filter((n) => n.startsWith('run-'));
  } catch {
    return [];
  }
  return names.map((n) => join('.test-data', n)).filter((d) => statSync(d).mtimeMs >= since - 1000);
}

function logFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    const st = statSync(p);
    if (st.isDirectory()) {
      // Service data (Orthanc storage, database files, S3 objects) legitimately hold patient data; logs may not.
      if (['orthanc-storage', 'pgdata', 'pglite', 's3', 'redis', 'postgres', 'storage', 'db'].includes(e))
        continue;
      out.push(...logFiles(p));
    } else if (/\.(log|out|err)$/.test(e)) out.push(p);
  }
  return out;
}

/**
 * Names match anywhere; purely numeric identifiers (IDs, birth dates) only as whole tokens,
 * because a birth date such as 19680412 can occur by chance inside a long `2.25.` UID.
 */
function matcher(needle: string): (text: string) => boolean {
  if (/^[0-9-]+$/.test(needle)) {
    const re = new RegExp(`(?<![0-9.])${needle}(?![0-9.])`);
    return (text) => re.test(text);
  }
  return (text) => text.includes(needle);
}

function scan(files: string[], needles: string[]): { file: string; needle: string }[] {
  const hits: { file: string; needle: string }[] = [];
  const tests = needles.map((n) => [n, matcher(n)] as const);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const [n, test] of tests) if (test(text)) hits.push({ file, needle: n });
  }
  return hits;
}

describe('no patient data in logs', () => {
  const needles = demoIdentifiers();

  it('the scanner finds a planted identifier (it can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'logscan-'));
    const planted = join(dir, 'canary.log');
    writeFileSync(planted, `{"msg":"x","q":"${needles[0]!.normalize('NFD')}"}\n`);
    expect(scan(logFiles(dir), needles).length).toBeGreaterThan(0);
  });

  it("the suite wrote substantial logs, including the gateway's", () => {
    const files = runDirs().flatMap(logFiles);
    const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
    expect(
      files.some((f) => /gateway/.test(f)),
      `no gateway log among ${files.length} files`,
    ).toBe(true);
    expect(bytes).toBeGreaterThan(50_000);
  });

  it('no log contains any demo patient identifier (NFC, NFD, folded names; IDs; birth dates)', () => {
    const hits = scan(runDirs().flatMap(logFiles), needles);
    // Report file and kind of hit, not the identifier itself, so this test's own output stays clean.
    expect(hits.map((h) => `${h.file}: identifier #${needles.indexOf(h.needle)}`)).toEqual([]);
  });
});
