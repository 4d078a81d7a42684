/**
 * The supervisor's state machine and backoff, with tiny `node -e` children and short delays.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readStatusFile, type ServiceState, StatusBoard } from '../../scripts/services/status-board.js';
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  type Supervised,
  supervise,
} from '../../scripts/services/supervisor.js';

const dir = mkdtempSync(join(tmpdir(), 'radlink-supervisor-'));
const logDir = join(dir, 'logs');
const started: Supervised[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const node = process.execPath;
const FAST = { initialMs: 20, maxMs: 200, resetAfterMs: 60_000 };

function waitFor(s: Supervised, state: ServiceState, timeoutMs = 5000): Promise<void> {
  if (s.status().state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${s.name}: no ${state}, now ${s.status().state}`)),
      timeoutMs,
    );
    const on = () => {
      if (s.status().state === state) {
        clearTimeout(timer);
        s.off('state', on);
        resolve();
      }
    };
    s.on('state', on);
  });
}

describe('backoffDelay', () => {
  it('doubles from 0.5 s and caps at 10 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 20].map((a) => backoffDelay(a))).toEqual([
      500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000,
    ]);
    expect(DEFAULT_BACKOFF.resetAfterMs).toBe(60_000);
  });
});

describe('Supervised', () => {
  it('becomes ok, restarts after SIGKILL, counts the restart and records the exit', async () => {
    const board = new StatusBoard(join(dir, 'a/services.json'));
    const s = supervise({
      name: 'sleeper',
      command: node,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      logDir,
      board,
      probe: async () => true,
      backoff: FAST,
    });
    started.push(s);
    await s.waitReady(5000);
    const firstPid = s.pid!;
    expect(readStatusFile(board.file)?.services.sleeper).toMatchObject({
      state: 'ok',
      pid: firstPid,
      restarts: 0,
    });

    const seen: ServiceState[] = [];
    s.on('state', (st) => seen.push(st.state));
    process.kill(firstPid, 'SIGKILL');
    await waitFor(s, 'restarting');
    await waitFor(s, 'ok');
    expect(seen).toEqual(['restarting', 'starting', 'ok']);
    const st = s.status();
    expect(st.pid).not.toBe(firstPid);
    expect(st).toMatchObject({ restarts: 1, lastExitSignal: 'SIGKILL', lastExitCode: null });
    expect(readStatusFile(board.file)?.services.sleeper).toMatchObject({
      state: 'ok',
      restarts: 1,
      pid: st.pid,
    });

    await s.stop();
    expect(s.status().state).toBe('stopped');
    expect(readStatusFile(board.file)?.services.sleeper?.state).toBe('stopped');
  });

  it('gives up (failed) after repeated exits before ever becoming ready, with growing delays', async () => {
    const s = supervise({
      name: 'crasher',
      command: node,
      args: ['-e', 'process.exit(3)'],
      logDir,
      probe: async () => false,
      backoff: FAST,
      maxEarlyExits: 4,
    });
    started.push(s);
    const messages: string[] = [];
    s.on('state', (st) => {
      if (st.state === 'restarting' && st.message) messages.push(st.message);
    });
    await expect(s.waitReady(10_000)).rejects.toThrow(/crasher failed/);
    expect(s.status()).toMatchObject({ state: 'failed', restarts: 3, lastExitCode: 3, pid: null });
    const delays = messages.map((m) => Number(/in (\d+) ms/.exec(m)?.[1]));
    expect(delays).toEqual([20, 40, 80]);
  });

  it('resets the backoff after a process stayed up long enough', async () => {
    const s = supervise({
      name: 'flaky',
      command: node,
      args: ['-e', 'setTimeout(() => process.exit(1), 150)'],
      logDir,
      probe: async () => true,
      backoff: { initialMs: 20, maxMs: 1000, resetAfterMs: 100 },
    });
    started.push(s);
    const delays: number[] = [];
    s.on('state', (st) => {
      if (st.state === 'restarting') delays.push(Number(/in (\d+) ms/.exec(st.message ?? '')?.[1]));
    });
    while (delays.length < 3) await new Promise((r) => setTimeout(r, 50));
    // Each run lived 150 ms >= resetAfterMs, so every restart starts from the initial delay.
    expect(delays.slice(0, 3)).toEqual([20, 20, 20]);
  });

  it('SIGKILLs a child that ignores the stop signal after stopTimeoutMs', async () => {
    // The child signals readiness through a file once its SIGTERM handler is installed.
    const marker = join(dir, 'stubborn-ready');
    const s = supervise({
      name: 'stubborn',
      command: node,
      args: [
        '-e',
        `process.on('SIGTERM', () => {}); require('fs').writeFileSync(${JSON.stringify(marker)}, ''); setInterval(() => {}, 1000)`,
      ],
      logDir,
      probe: async () => existsSync(marker),
      probeIntervalMs: 20,
      stopTimeoutMs: 300,
    });
    started.push(s);
    await s.waitReady(5000);
    const t0 = Date.now();
    await s.stop();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(s.status()).toMatchObject({ state: 'stopped', lastExitSignal: 'SIGKILL' });
  });

  it('fails at once when the executable does not exist, and writes a log', async () => {
    const s = supervise({
      name: 'missing',
      command: join(dir, 'no-such-binary'),
      logDir,
      probe: async () => true,
    });
    started.push(s);
    await expect(s.waitReady(5000)).rejects.toThrow(/cannot start/);
    expect(s.status().state).toBe('failed');
    expect(existsSync(s.logFile)).toBe(true);
  });
});
