/**
 * `npm run bench [file …]`: runs the named benchmark files (e.g. `bench/dicomweb.ts`), or every
 * `bench/*.ts` except this one, one after the other, each in its own process so that one
 * benchmark's heap, sockets and services never colour the next one's figures.
 * Arguments that are not `.ts` files are handed to the benchmarks run (name the one they are
 * for: benchmarks refuse options they do not know), e.g.
 * `npm run bench -- bench/load.ts --duration 60 --viewers 5` (the load benchmark, issue 7, takes
 * about 20 minutes at its defaults).
 * Exits non-zero when any benchmark failed (after running the rest).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';

const BENCH_DIR = import.meta.dirname;
const SELF = basename(import.meta.filename);

function benchFiles(args: string[]): string[] {
  if (args.length > 0) return args.map((a) => resolve(a));
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith('.ts') && f !== SELF && !f.endsWith('.d.ts'))
    .sort()
    .map((f) => join(BENCH_DIR, f));
}

const args = process.argv.slice(2);
const options = args.filter((a) => !a.endsWith('.ts'));
const failed: string[] = [];
for (const file of benchFiles(args.filter((a) => a.endsWith('.ts')))) {
  const name = relative(process.cwd(), file);
  console.log(`\n=== ${name} ===`);
  const t0 = Date.now();
  // `node --import tsx`: one process per benchmark, signals reach it directly.
  const res = spawnSync(process.execPath, ['--import', 'tsx', file, ...options], { stdio: 'inherit' });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (res.status === 0) console.log(`=== ${name}: done in ${secs} s ===`);
  else {
    failed.push(name);
    console.log(`=== ${name}: FAILED (exit ${res.status ?? res.signal}) after ${secs} s ===`);
  }
}
if (failed.length > 0) {
  console.error(`failed: ${failed.join(', ')}`);
  process.exit(1);
}
