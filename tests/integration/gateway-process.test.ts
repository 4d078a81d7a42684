/**
 * The gateway and `npm start` as processes: configuration errors stop them at once with a
 * message naming the key; HTTPS is served when a certificate is configured; an unreachable
 * REDIS_URL stops `npm start` with a clear message instead of hanging.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, freePorts } from '../../scripts/services/ports.js';
import { gatewayEnv, stack } from '../helpers/app.js';

function run(args: string[], env: Record<string, string | undefined>, timeoutMs: number) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, args, {
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += String(d);
    });
    child.stderr.on('data', (d) => {
      output += String(d);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('gateway process', () => {
  it('refuses to start with a bad configuration, naming each bad key (exit 78)', async () => {
    const env = {
      PATH: process.env.PATH,
      ...gatewayEnv(stack(), { REDIS_URL: undefined, RADLINK_PORT: 'http' }),
    };
    const { code, output } = await run(['--import', 'tsx', 'server/src/server.ts'], env, 30_000);
    expect(code).toBe(78);
    expect(output).toMatch(/REDIS_URL is required/);
    expect(output).toMatch(/RADLINK_PORT="http" is invalid/);
  });

  it('serves HTTPS when a certificate is configured', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'radlink-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const port = await freePort();
    const env = {
      PATH: process.env.PATH,
      ...gatewayEnv(stack(), {
        RADLINK_PORT: String(port),
        RADLINK_HOST: '127.0.0.1',
        RADLINK_TLS_CERT: join(dir, 'cert.pem'),
        RADLINK_TLS_KEY: join(dir, 'key.pem'),
        RADLINK_DATA: dir,
        RADLINK_LOG_FILE: join(stack().logDir, 'gateway-tls.log'),
      }),
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/src/server.ts'], {
      env: env as NodeJS.ProcessEnv,
      stdio: 'ignore',
    });
    try {
      const ca = readFileSync(join(dir, 'cert.pem'));
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = await new Promise<number>((resolve) => {
          const req = request(
            { host: '127.0.0.1', port, path: '/healthz', ca, servername: 'localhost' },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on('error', () => setTimeout(() => resolve(0), 200));
          req.end();
        });
      }
      expect(status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }, 60_000);
});

describe('npm start', () => {
  it('fails fast with a clear message when REDIS_URL is set but unreachable', async () => {
    const [dead, port, dicom] = await freePorts(3);
    const started = Date.now();
    const { code, output } = await run(
      ['scripts/bootstrap.mjs', 'start'],
      {
        ...process.env,
        RADLINK_DATA: mkdtempSync(join(stack().dataDir, 'redis-down-')),
        RADLINK_PORT: String(port),
        RADLINK_DICOM_PORT: String(dicom),
        REDIS_URL: `redis://127.0.0.1:${dead}`,
      },
      60_000,
    );
    expect(code).toBe(1);
    expect(output).toMatch(/REDIS_URL/);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 70_000);
});
