/**
 * Runs one child process and keeps it running.
 *
 * - A readiness probe (HTTP GET, Redis PING, …) polled after each spawn decides `starting → ok`.
 * - An unexpected exit schedules a respawn after an exponential backoff (0.5 s doubling to 10 s);
 *   the backoff resets once a process has stayed up for a minute, so a service that crashes once a
 *   day restarts fast every time while a crash loop does not spin the CPU.
 * - A service that dies `maxEarlyExits` times in a row without ever becoming ready (bad config,
 *   port taken, missing binary) is `failed`: retrying would only hide the error.
 * - `stop()` sends the stop signal (SIGTERM by default), then SIGKILL to the process group after
 *   `stopTimeoutMs`.
 * - stdout/stderr go straight to `<logDir>/<name>.log` (the child writes to the file descriptor, so
 *   logs survive even if this process stalls); supervisor events are appended to the same file.
 * - Every change is published to the StatusBoard (`run/services.json`).
 *
 * Children run in their own process group (`detached`): a Ctrl-C in the terminal reaches only the
 * orchestrator, which then stops services in order (gateway first). As a last resort, children
 * still alive when this process exits are SIGKILLed from an 'exit' hook, so a crash of the
 * orchestrator or the test runner does not leave services behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { appendFileSync, closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceState, ServiceStatus, StatusBoard } from './status-board.js';

export type { ServiceState, ServiceStatus } from './status-board.js';

/** Resolves true when the service answers; false or a rejection means "not yet". */
export type ReadinessProbe = (signal: AbortSignal) => Promise<boolean>;

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** A process that stayed up this long resets the backoff to `initialMs`. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 10_000, resetAfterMs: 60_000 };

/** Delay before the (attempt+1)-th consecutive respawn: initial · 2^attempt, capped at max. */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt));
}

export interface SuperviseOptions {
  name: string;
  command: string;
  args?: string[];
  /** Full environment of the child (default: this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this user/group (we run as root; PostgreSQL refuses to). */
  uid?: number;
  gid?: number;
  logDir: string;
  board?: StatusBoard;
  probe: ReadinessProbe;
  endpoint?: string;
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  stopSignal?: NodeJS.Signals;
  stopTimeoutMs?: number;
  backoff?: Partial<BackoffPolicy>;
  /** Consecutive exits before ever becoming ready after which the service is `failed`. */
  maxEarlyExits?: number;
}

/** Children alive right now, killed synchronously if this process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) killGroup(child, 'SIGKILL');
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal); // the whole group: catches grandchildren too
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Probes may ignore their AbortSignal (third-party clients); never wait on one past its deadline. */
function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

export class Supervised extends EventEmitter<{ state: [ServiceStatus] }> {
  readonly name: string;
  readonly logFile: string;
  private readonly policy: BackoffPolicy;
  private child: ChildProcess | null = null;
  private state: ServiceState = 'stopped';
  private restarts = 0;
  private attempt = 0;
  private earlyExits = 0;
  private spawnedAt = 0;
  private everReadyThisSpawn = false;
  private lastExitCode: number | null = null;
  private lastExitSignal: string | null = null;
  private lastExitAt: string | null = null;
  private startedAt: string | null = null;
  private readyAt: string | null = null;
  private message: string | null = null;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SuperviseOptions) {
    super();
    this.name = opts.name;
    this.policy = { ...DEFAULT_BACKOFF, ...opts.backoff };
    mkdirSync(opts.logDir, { recursive: true });
    this.logFile = join(opts.logDir, `${opts.name}.log`);
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  status(): ServiceStatus {
    return {
      name: this.name,
      state: this.state,
      pid: this.state === 'starting' || this.state === 'ok' ? this.pid : null,
      command: [this.opts.command, ...(this.opts.args ?? [])],
      endpoint: this.opts.endpoint ?? null,
      restarts: this.restarts,
      lastExitCode: this.lastExitCode,
      lastExitSignal: this.lastExitSignal,
      lastExitAt: this.lastExitAt,
      startedAt: this.startedAt,
      readyAt: this.readyAt,
      message: this.message,
      logFile: this.logFile,
      updatedAt: new Date().toISOString(),
    };
  }

  /** Spawns the process (once); use `waitReady` to wait for the probe. */
  start(): this {
    if (this.child || this.restartTimer) return this;
    this.stopping = false;
    this.spawnOnce();
    return this;
  }

  /** Resolves when the service is `ok`; rejects when it is `failed`/`stopped` or on timeout. */
  waitReady(timeoutMs = 60_000): Promise<void> {
    if (this.state === 'ok') return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (this.state === 'failed' || this.state === 'stopped') {
        reject(new Error(`${this.name} is ${this.state}${this.message ? ` (${this.message})` : ''}`));
        return;
      }
      const cleanup = () => {
        clearTimeout(timer);
        this.off('state', onState);
      };
      const fail = (why: string) => {
        cleanup();
        reject(
          new Error(
            `${this.name} ${why}${this.message ? ` (${this.message})` : ''}; log ${this.logFile}:\n${this.logTail()}`,
          ),
        );
      };
      const onState = (s: ServiceStatus) => {
        if (s.state === 'ok') {
          cleanup();
          resolve();
        } else if (s.state === 'failed') fail('failed');
        else if (s.state === 'stopped') fail('was stopped before it became ready');
      };
      const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs);
      this.on('state', onState);
    });
  }

  /** Graceful stop: stop signal, then SIGKILL after the timeout. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      if (this.state !== 'failed') this.setState('stopped');
      return;
    }
    const signal = this.opts.stopSignal ?? 'SIGTERM';
    this.note(`stopping (${signal})`);
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
    const timeoutMs = this.opts.stopTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer); // a pending timer would keep the process (e.g. the test runner) alive
    if (timedOut) {
      this.note(`did not stop within ${timeoutMs} ms; SIGKILL`);
      killGroup(child, 'SIGKILL');
      await this.exited;
    }
  }

  /** Last lines of the service's log, for error messages. */
  logTail(bytes = 3000): string {
    try {
      const size = statSync(this.logFile).size;
      const fd = openSync(this.logFile, 'r');
      try {
        const len = Math.min(bytes, size);
        const buf = Buffer.alloc(len);
        readSync(fd, buf, 0, len, size - len);
        return buf.toString('utf8');
      } finally {
        closeSync(fd);
      }
    } catch {
      return '(no log)';
    }
  }

  private note(line: string): void {
    try {
      appendFileSync(this.logFile, `[supervisor ${new Date().toISOString()}] ${this.name}: ${line}\n`);
    } catch {
      /* logging must never take the supervisor down */
    }
  }

  private setState(state: ServiceState): void {
    this.state = state;
    const status = this.status();
    this.opts.board?.update(status);
    this.emit('state', status);
  }

  private spawnOnce(): void {
    installExitHook();
    const fd = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.opts.command, this.opts.args ?? [], {
        cwd: this.opts.cwd,
        env: this.opts.env ?? process.env,
        stdio: ['ignore', fd, fd],
        detached: true,
        uid: this.opts.uid,
        gid: this.opts.gid,
      });
    } finally {
      closeSync(fd); // the child holds its own copy
    }
    this.child = child;
    this.spawnedAt = Date.now();
    this.everReadyThisSpawn = false;
    this.startedAt = new Date(this.spawnedAt).toISOString();
    this.readyAt = null;
    let resolveExited!: () => void;
    this.exited = new Promise((r) => {
      resolveExited = r;
    });
    let spawnError: Error | null = null;
    child.once('error', (err) => {
      spawnError = err;
      // 'exit' does not follow a failed spawn (ENOENT, EACCES): finish here.
      if (child.pid === undefined) {
        this.message = `cannot start ${this.opts.command}: ${err.message}`;
        this.note(this.message);
        this.child = null;
        resolveExited();
        this.setState('failed');
      }
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolveExited();
      this.onExit(child, code, signal, spawnError);
    });
    if (child.pid !== undefined) {
      live.add(child);
      this.note(`spawned pid ${child.pid}: ${[this.opts.command, ...(this.opts.args ?? [])].join(' ')}`);
      this.setState('starting');
      void this.probeLoop(child);
    } else {
      // The spawn failed; its 'error' event (next tick) turns this into `failed`.
      this.setState('starting');
    }
  }

  private async probeLoop(child: ChildProcess): Promise<void> {
    const interval = this.opts.probeIntervalMs ?? 200;
    const timeout = this.opts.probeTimeoutMs ?? 2000;
    while (this.child === child && !this.stopping && this.state === 'starting') {
      let ready = false;
      try {
        ready = await withDeadline(this.opts.probe(AbortSignal.timeout(timeout)), timeout);
      } catch (err) {
        this.message = `readiness probe: ${(err as Error).message}`;
      }
      if (this.child !== child || this.stopping || this.state !== 'starting') return;
      if (ready) {
        this.everReadyThisSpawn = true;
        this.earlyExits = 0;
        this.readyAt = new Date().toISOString();
        this.message = null;
        this.note(`ready (pid ${child.pid})`);
        this.setState('ok');
        return;
      }
      await sleep(interval);
    }
  }

  private onExit(
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
    err: Error | null,
  ): void {
    if (this.child !== child) return;
    this.child = null;
    this.lastExitCode = code;
    this.lastExitSignal = signal;
    this.lastExitAt = new Date().toISOString();
    this.note(`pid ${child.pid} exited (code=${code} signal=${signal})${err ? `: ${err.message}` : ''}`);
    if (this.stopping) {
      this.setState('stopped');
      return;
    }
    const uptime = Date.now() - this.spawnedAt;
    if (uptime >= this.policy.resetAfterMs) this.attempt = 0;
    if (!this.everReadyThisSpawn) this.earlyExits++;
    const maxEarly = this.opts.maxEarlyExits ?? 5;
    if (this.earlyExits >= maxEarly) {
      this.message = `exited ${this.earlyExits} times in a row before becoming ready; giving up (see ${this.logFile})`;
      this.note(this.message);
      this.setState('failed');
      return;
    }
    const delay = backoffDelay(this.attempt, this.policy);
    this.attempt++;
    this.restarts++;
    this.message = `exited unexpectedly (code=${code} signal=${signal}); restart #${this.restarts} in ${delay} ms`;
    this.note(this.message);
    this.setState('restarting');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopping) this.spawnOnce();
    }, delay);
  }
}

/** Creates and starts a supervised process. */
export function supervise(opts: SuperviseOptions): Supervised {
  return new Supervised(opts).start();
}

/** Stops services one after another, in the given order (dependants first). */
export async function stopInOrder(services: (Supervised | null | undefined)[]): Promise<void> {
  for (const s of services) if (s) await s.stop();
}
