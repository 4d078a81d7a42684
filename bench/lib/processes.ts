/**
 * RadLink processes (gateway, workers) started by a benchmark as they run in production: one
 * Node process each, output kept in `<logDir>/<name>.out`, stopped with SIGTERM (SIGKILL after
 * 15 s).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/services/paths.js';

export interface Proc {
  child: ChildProcess;
  stop(): Promise<void>;
}

export function startProcess(
  name: string,
  script: string,
  procEnv: Record<string, string>,
  logDir: string,
  /** Extra Node flags (e.g. `--cpu-prof`, which Node refuses in NODE_OPTIONS). */
  nodeArgs: string[] = [],
): Proc {
  const out = createWriteStream(join(logDir, `${name}.out`));
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(REPO_ROOT, script)], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...procEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM')
      console.error(`[bench] ${name} exited (${code ?? signal}); see ${name}.out`);
  });
  return {
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** A supervised service's entry on the stack's status board (`run/services.json`), or null. */
export function serviceStatus(
  statusFile: string,
  name: string,
): { pid?: number | null; restarts?: number } | null {
  try {
    const board = JSON.parse(readFileSync(statusFile, 'utf8')) as {
      services: Record<string, { pid?: number | null; restarts?: number }>;
    };
    return board.services[name] ?? null;
  } catch {
    return null;
  }
}
