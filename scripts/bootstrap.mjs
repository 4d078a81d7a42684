#!/usr/bin/env node
/**
 * Entry point of `npm start` and `npm test` on a fresh Debian machine:
 *
 *   node scripts/bootstrap.mjs start   install what is missing, then run scripts/start.ts
 *   node scripts/bootstrap.mjs test    install what is missing, then the test tiers in order
 *
 * Plain Node, no npm dependencies: it runs before node_modules exists.
 *
 * `test` fetches the test fixtures (scripts/fixtures/), then runs `vitest run --project <tier>` for
 * unit, integration, e2e, logscan; it stops at the first failing tier and ends with one line, alone,
 * summing all tiers: `<N> passed, <M> failed`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Debian packages the services and the test suite need (see README "Requirements"). */
const APT_PACKAGES = [
  'orthanc',
  'orthanc-dicomweb',
  'orthanc-gdcm',
  'redis-server',
  'postgresql',
  'dcmtk',
  'chromium',
  'fonts-dejavu-core',
  'python3-pydicom',
  'python3-numpy',
  'openssl',
  'python3-torch',
  'python3-onnx',
];

// logscan stays last: it reads the logs every earlier tier wrote.
const TEST_TIERS = ['unit', 'integration', 'e2e', 'fuzz', 'logscan'];

function say(line) {
  console.log(`[bootstrap] ${line}`);
}

function fail(line) {
  console.error(`[bootstrap] ${line}`);
  process.exit(1);
}

function run(cmd, args, env = process.env) {
  const res = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', env });
  if (res.error) fail(`cannot run ${cmd}: ${res.error.message}`);
  return res.status ?? 1;
}

function isInstalled(pkg) {
  // dpkg-query's own format syntax, not a template literal.
  const statusFormat = '-f=$' + '{Status}';
  const res = spawnSync('dpkg-query', ['-W', statusFormat, pkg], { encoding: 'utf8' });
  return res.status === 0 && res.stdout.includes('install ok installed');
}

function ensureDebianPackages() {
  if (spawnSync('dpkg-query', ['--version']).error) {
    say(`not a Debian system (no dpkg-query): make sure these are installed: ${APT_PACKAGES.join(' ')}`);
    return;
  }
  const missing = APT_PACKAGES.filter((p) => !isInstalled(p));
  if (missing.length === 0) return;
  const cmd = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    fail(
      `missing Debian packages: ${missing.join(' ')}\n  Installing them needs root; run as root:\n    ${cmd}\n  then run this command again.`,
    );
  }
  say(`installing Debian packages: ${missing.join(' ')}`);
  if (run('apt-get', ['update']) !== 0) fail('apt-get update failed (see above)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (run('apt-get', ['install', '-y', ...missing], env) !== 0)
    fail(`apt-get install failed (see above); try:\n    ${cmd}`);
  const still = missing.filter((p) => !isInstalled(p));
  if (still.length > 0) fail(`still not installed after apt-get: ${still.join(' ')}`);
}

/**
 * Installs the locked npm dependencies when node_modules is missing or older than
 * package-lock.json. `npm install` rather than `npm ci`: the registry reachable here serves only
 * the Linux builds of platform-specific optional packages (biome, msgpackr-extract …), so the
 * lock cannot list the other platforms' ones and `npm ci` rejects it as "out of sync"; `npm
 * install` still installs exactly the locked versions (checked on a fresh clone: the lock file
 * is left unchanged).
 */
function ensureNpmDependencies() {
  const lock = join(ROOT, 'package-lock.json');
  const installed = join(ROOT, 'node_modules', '.package-lock.json');
  const stale =
    !existsSync(installed) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(installed).mtimeMs);
  if (!stale) return;
  say('installing npm dependencies (npm install, from package-lock.json) …');
  // onnxruntime-node's install script downloads binaries from GitHub; the npm package suffices.
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };
  if (run('npm', ['install', '--no-audit', '--no-fund'], env) !== 0) fail('npm install failed (see above)');
}

/** Runs scripts/start.ts in the foreground, passing signals through; exits with its code. */
/**
 * Builds the browser viewer (viewer/ → viewer/dist, served by the gateway at `/`). Always rebuilt:
 * a few seconds, and a stale bundle after a `git pull` would be worse than the wait.
 */
function buildViewer() {
  const t0 = Date.now();
  const code = run(join(ROOT, 'node_modules', '.bin', 'vite'), [
    'build',
    '--config',
    join(ROOT, 'viewer', 'vite.config.ts'),
    '--logLevel',
    'warn',
  ]);
  if (code !== 0) fail('the viewer build failed (see above)');
  say(`viewer built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function start() {
  buildViewer();
  // `node --import tsx` (not the tsx CLI, which forks a second process): one child to signal.
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/start.ts')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  // A terminal's Ctrl-C reaches the child too (same process group); start.ts treats repeated
  // signals as one, so forwarding is harmless there and needed for `kill <pid>` of this process.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      if (child.exitCode === null && child.signalCode === null)
        child.kill(sig === 'SIGHUP' ? 'SIGTERM' : sig);
    });
  }
  child.on('error', (err) => fail(`cannot run scripts/start.ts: ${err.message}`));
  child.on('exit', (code, signal) => {
    process.exit(code ?? 128 + (signal ? (constants.signals[signal] ?? 1) : 1));
  });
}

function readCounts(file) {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8'));
    return { passed: r.numPassedTests ?? 0, failed: r.numFailedTests ?? 0 };
  } catch {
    return null;
  }
}

/** Runs one tier; resolves { code, passed, failed }. */
function runTier(tier, outDir) {
  const out = join(outDir, `vitest-${tier}.json`);
  rmSync(out, { force: true });
  const vitest = join(ROOT, 'node_modules', '.bin', 'vitest');
  const args = [
    'run',
    '--project',
    tier,
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${out}`,
  ];
  return new Promise((resolveTier) => {
    // RADLINK_TEST_SINCE tells the logscan tier which run directories belong to this suite.
    const child = spawn(vitest, args, {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, RADLINK_TEST_SINCE: String(SUITE_STARTED) },
    });
    const forward = (sig) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('error', (err) => fail(`cannot run vitest: ${err.message}`));
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      const counts = readCounts(out) ?? { passed: 0, failed: 0 };
      resolveTier({ code: code ?? (signal ? 1 : 0), ...counts });
    });
  });
}

const SUITE_STARTED = Date.now();

async function test() {
  const outDir = join(ROOT, '.test-data');
  mkdirSync(outDir, { recursive: true });
  // Before any tier: a fetch failure is reported once, here, not as a failing e2e test. Imported
  // here, not at the top: `start` must not depend on test fixtures.
  try {
    const { ensureOhifFixture } = await import('./fixtures/ohif.mjs');
    ensureOhifFixture((line) => say(line));
  } catch (err) {
    fail(`cannot prepare the OHIF test fixture: ${err instanceof Error ? err.message : String(err)}`);
  }
  let passed = 0;
  let failed = 0;
  let ok = true;
  // Static checks first: strict TypeScript over the whole tree, then Biome's lint and format.
  for (const [name, cmd, args] of [
    ['typecheck', join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json', '--noEmit']],
    [
      'typecheck viewer',
      join(ROOT, 'node_modules', '.bin', 'tsc'),
      ['-p', 'viewer/tsconfig.json', '--noEmit'],
    ],
    ['lint', join(ROOT, 'node_modules', '.bin', 'biome'), ['check', '.']],
  ]) {
    const t0 = Date.now();
    const code = run(cmd, args);
    say(`static ${name}: ${code === 0 ? 'ok' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // Not counted as tests; a failure stops the run before any tier.
    if (code !== 0) {
      console.log(`${passed} passed, ${failed + 1} failed`);
      process.exit(1);
    }
  }
  // The e2e tier drives the built viewer, so it is built before any tier (and a broken build
  // stops the run here, once, rather than as a cascade of browser failures).
  buildViewer();
  for (const tier of TEST_TIERS) {
    const t0 = Date.now();
    say(`tier ${tier} …`);
    const r = await runTier(tier, outDir);
    passed += r.passed;
    failed += r.failed;
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    say(`tier ${tier}: ${r.passed} passed, ${r.failed} failed in ${secs} s (exit code ${r.code})`);
    if (r.code !== 0) {
      if (r.failed === 0) {
        // A setup error, an unhandled error or a crash fails the tier without failing a test;
        // count it, so that the summary never reads "0 failed" for a failed run.
        failed += 1;
        say(`tier ${tier} failed without a failing test (setup error, unhandled error or crash: see above)`);
      }
      say(`stopping: tier ${tier} failed; later tiers were not run`);
      ok = false;
      break;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(ok ? 0 : 1);
}

const command = process.argv[2];
if (command !== 'start' && command !== 'test') {
  fail('usage: node scripts/bootstrap.mjs start|test');
}
ensureDebianPackages();
ensureNpmDependencies();
if (command === 'start') start();
else await test();
