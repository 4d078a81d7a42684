/**
 * `npm start` end to end, as a hospital IT admin would run it: the real bootstrap and start
 * script in a fresh data directory (its own Orthanc, Redis, S3, gateway, workers), the demo data
 * loaded through the API, readiness, the DICOMweb front door, a clean SIGTERM that leaves no
 * process behind, and a second start that keeps every study and does not reload the demo.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_ADMIN_PASSWORD, DEMO_LOGINS } from '../../scripts/demo/logins.js';
import { demoCatalogue } from '../../scripts/demo/synth/catalogue.js';
import { freePorts } from '../../scripts/services/ports.js';
import { stack } from '../helpers/app.js';

const dataDir = join(stack().dataDir, 'npm-start');
let child: ChildProcess | null = null;
let output = '';
let ports: number[] = [];

function start(): Promise<void> {
  output = '';
  child = spawn(process.execPath, ['scripts/bootstrap.mjs', 'start'], {
    env: {
      ...process.env,
      RADLINK_DATA: dataDir,
      RADLINK_PORT: String(ports[0]),
      RADLINK_DICOM_PORT: String(ports[1]),
      RADLINK_ORTHANC_HTTP_PORT: String(ports[2]),
      RADLINK_REDIS_PORT: String(ports[3]),
      RADLINK_S3_PORT: String(ports[4]),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => {
    output += String(d);
  });
  child.stderr!.on('data', (d) => {
    output += String(d);
  });
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      // The banner's last line: the URL and the logins above it arrive in earlier chunks.
      if (output.includes('Ctrl-C to stop')) {
        clearInterval(timer);
        resolve();
      }
    }, 200);
    child!.once('exit', (code) => {
      clearInterval(timer);
      reject(new Error(`npm start exited with ${code}:\n${output.slice(-2000)}`));
    });
  });
}

function stop(): Promise<number | null> {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null) return resolve(child?.exitCode ?? null);
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

const base = () => `http://127.0.0.1:${ports[0]}`;

async function token(username: string, password: string): Promise<string> {
  const res = await fetch(`${base()}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

async function studyUids(tok: string): Promise<string[]> {
  const res = await fetch(`${base()}/dicom-web/studies?limit=1000`, {
    headers: { authorization: `Bearer ${tok}` },
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as Record<string, { Value?: string[] }>[];
  return body.map((s) => s['0020000D']?.Value?.[0] ?? '').sort();
}

function supervisedPids(): number[] {
  const status = JSON.parse(readFileSync(join(dataDir, 'run', 'services.json'), 'utf8')) as {
    supervisorPid: number;
    services: Record<string, { pid: number | null }>;
  };
  return [status.supervisorPid, ...Object.values(status.services).map((s) => s.pid ?? 0)].filter(
    (p) => p > 0,
  );
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

afterAll(async () => {
  await stop();
});

describe('npm start', () => {
  let firstRun: string[] = [];

  it('starts every service, loads the demo data and prints the URL and demo logins', async () => {
    ports = await freePorts(5);
    await start();
    expect(output).toContain('demo data loaded');
    for (const l of DEMO_LOGINS) expect(output).toContain(`${l.username} / ${l.password}`);
    const ready = await fetch(`${base()}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { components: Record<string, string> };
    expect(body.components).toMatchObject({ orthanc: 'ok', redis: 'ok', database: 'ok', storage: 'ok' });
  }, 400_000);

  it('answers DICOMweb with 401 without a token and lists the demo studies for the admin', async () => {
    expect((await fetch(`${base()}/dicom-web/studies`)).status).toBe(401);
    firstRun = await studyUids(await token('admin', DEMO_ADMIN_PASSWORD));
    expect(firstRun.length).toBe(demoCatalogue().length);
  });

  it('stops cleanly on SIGTERM, leaving no process behind', async () => {
    const pids = supervisedPids();
    expect(pids.length).toBeGreaterThanOrEqual(4);
    expect(await stop()).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(pids.filter(alive)).toEqual([]);
  }, 60_000);

  it('keeps every study and record on the next start, without reloading the demo', async () => {
    await start();
    expect(output).not.toContain('first run');
    expect(await studyUids(await token('admin', DEMO_ADMIN_PASSWORD))).toEqual(firstRun);
    // Users created by the first run's loader are still there.
    await token('bs.hoa', 'demo-radiologist-2026');
  }, 200_000);
});
