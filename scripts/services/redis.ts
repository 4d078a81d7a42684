/**
 * Redis (queues, rate limits): either a private `redis-server` on loopback under the supervisor,
 * or, when REDIS_URL is set, the site's own Redis, which must be reachable at start-up (fail fast
 * with a message naming REDIS_URL instead of letting every queue call time out later).
 */
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { LOOPBACK } from './ports.js';
import type { StatusBoard } from './status-board.js';
import { type Supervised, supervise } from './supervisor.js';

export const REDIS_BINARY = '/usr/bin/redis-server';

export interface RedisOptions {
  dataDir: string;
  logDir: string;
  board?: StatusBoard;
  port?: number;
}

export interface RedisHandle {
  service: Supervised;
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Readiness: a raw `PING` must answer `+PONG`. While the AOF is being replayed Redis answers
 * `-LOADING`, which is "not ready yet" (queues would fail).
 */
export function redisPing(port: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: LOOPBACK, port });
    let buf = '';
    const done = (err: Error | null, ok = false) => {
      signal.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve(ok);
    };
    const onAbort = () => done(new Error('PING timed out'));
    signal.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(null, buf.startsWith('+PONG'));
    });
    sock.once('error', (err) => done(err));
  });
}

export function startRedis(opts: RedisOptions): RedisHandle {
  const port = opts.port ?? 6379;
  const dir = join(opts.dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const service = supervise({
    name: 'redis',
    command: REDIS_BINARY,
    args: [
      '--bind',
      LOOPBACK,
      '--port',
      String(port),
      '--protected-mode',
      'yes',
      '--dir',
      dir,
      // Queue state survives a restart: append-only file fsynced every second, no RDB snapshots
      // (a snapshot fork of a large queue doubles memory for nothing).
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--save',
      '',
      // Defaults kept on purpose: no daemonizing (the supervisor owns the process) and logs on
      // stdout (the supervisor writes them to <logs>/redis.log).
    ],
    cwd: dir,
    logDir: opts.logDir,
    board: opts.board,
    endpoint: `redis://${LOOPBACK}:${port}`,
    probe: (signal) => redisPing(port, signal),
  });
  return { service, url: `redis://${LOOPBACK}:${port}`, port, stop: () => service.stop() };
}

/** Strips the password from a Redis URL for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * For an external Redis (REDIS_URL set): connects once and PINGs, within `timeoutMs`.
 * Throws an Error naming REDIS_URL when that fails.
 */
export async function checkRedisReachable(url: string, timeoutMs = 2000): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    enableOfflineQueue: false,
    // One attempt: reconnecting would turn "unreachable" into a hang.
    retryStrategy: () => null,
  });
  // ioredis also emits 'error' events; without a listener they would be printed as unhandled.
  client.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        await client.connect();
        await client.ping();
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    throw new Error(
      `REDIS_URL=${redactUrl(url)} is not reachable: ${(err as Error).message}. ` +
        'Start that Redis, fix REDIS_URL, or unset REDIS_URL to use the private Redis RadLink starts itself.',
    );
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
