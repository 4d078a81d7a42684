/**
 * A private PostgreSQL 15 cluster: for the integration tests, and for `npm start` when
 * RADLINK_EMBEDDED_POSTGRES=1. (By default the gateway embeds PGlite itself and needs no server.)
 *
 * PostgreSQL refuses to run as root, so initdb and the server run as the `postgres` system user
 * (spawned with its uid/gid: one process, signals reach the postmaster directly, unlike through a
 * `runuser` wrapper). The cluster directory is owned by that user; the parent directories must be
 * traversable by it (the repository's `.test-data/` and `./data` are, with the default umask).
 *
 * Only TCP on 127.0.0.1 (no Unix socket: socket paths are limited to ~100 bytes and deep test
 * directories exceed that). Authentication is scram-sha-256 for everyone, including the
 * superuser, whose generated password lives in `<cluster>/superuser-password` (0600, root's).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { LOOPBACK } from './ports.js';
import { randomToken } from './secrets.js';
import type { StatusBoard } from './status-board.js';
import { type Supervised, supervise } from './supervisor.js';

const execFileP = promisify(execFile);

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface PostgresOptions {
  dataDir: string;
  logDir: string;
  board?: StatusBoard;
  port?: number;
  /** Application role (owner of `database`); created with CREATEDB so tests can add databases. */
  user?: string;
  password: string;
  database?: string;
  /**
   * Trade durability for speed (fsync, synchronous_commit and full_page_writes off): for test
   * clusters only, a crash may corrupt them.
   */
  fast?: boolean;
}

export interface PostgresHandle {
  service: Supervised;
  port: number;
  /** postgres://<user>:<password>@127.0.0.1:<port>/<database> */
  url: string;
  /** Superuser URL (maintenance only). */
  adminUrl: string;
  /** Resolves when the server answers and the role and database exist. */
  waitReady(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

interface SystemUser {
  uid: number;
  gid: number;
}

/** The `postgres` system user, from /etc/passwd (created by the Debian postgresql package). */
export function postgresSystemUser(): SystemUser {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error(
      'no "postgres" system user: install the Debian package postgresql (node scripts/bootstrap.mjs does)',
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** Quotes an SQL identifier. */
function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function pgEnv(): NodeJS.ProcessEnv {
  // A minimal environment: nothing of root's (HOME, PG* variables) leaks into the server.
  return { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
}

async function initCluster(
  clusterDir: string,
  pgdata: string,
  superPassword: string,
  user: SystemUser,
): Promise<void> {
  const pwfile = join(clusterDir, 'initdb-pwfile');
  writeFileSync(pwfile, `${superPassword}\n`, { mode: 0o600 });
  chownSync(pwfile, user.uid, user.gid);
  try {
    await execFileP(
      join(PG_BIN, 'initdb'),
      [
        '-D',
        pgdata,
        '-U',
        'postgres',
        `--pwfile=${pwfile}`,
        '--auth-host=scram-sha-256',
        '--auth-local=scram-sha-256',
        '--encoding=UTF8',
        '--no-locale',
        // No fsync of the fresh files: a crash during initdb just means running it again.
        '--no-sync',
      ],
      { uid: user.uid, gid: user.gid, cwd: clusterDir, env: pgEnv() },
    );
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    rmSync(pgdata, { recursive: true, force: true });
    throw new Error(`initdb failed for ${pgdata}: ${e.stderr || e.message}`);
  } finally {
    rmSync(pwfile, { force: true });
  }
}

async function withClient<T>(
  url: string,
  fn: (c: pg.Client) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {}); // a server going away mid-probe must not crash us
  const onAbort = () => void client.end().catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
    return await fn(client);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await client.end().catch(() => {});
  }
}

export async function startPostgres(opts: PostgresOptions): Promise<PostgresHandle> {
  const user = postgresSystemUser();
  const port = opts.port ?? 5432;
  const appUser = opts.user ?? 'radlink';
  const database = opts.database ?? 'radlink';
  const clusterDir = join(opts.dataDir, 'postgres');
  const pgdata = join(clusterDir, 'data');
  mkdirSync(clusterDir, { recursive: true });
  chownSync(clusterDir, user.uid, user.gid);
  chmodSync(clusterDir, 0o700);

  // The superuser password belongs to the cluster, not to secrets.json: a new cluster gets a new one.
  const superFile = join(clusterDir, 'superuser-password');
  let superPassword: string;
  if (existsSync(join(pgdata, 'PG_VERSION')) && existsSync(superFile)) {
    superPassword = readFileSync(superFile, 'utf8').trim();
  } else {
    superPassword = randomToken(32);
    rmSync(pgdata, { recursive: true, force: true }); // a half-initialised directory from a crash
    await initCluster(clusterDir, pgdata, superPassword, user);
    writeFileSync(superFile, `${superPassword}\n`, { mode: 0o600 });
  }

  const adminUrl = `postgres://postgres:${superPassword}@${LOOPBACK}:${port}/postgres`;
  const url = `postgres://${encodeURIComponent(appUser)}:${encodeURIComponent(opts.password)}@${LOOPBACK}:${port}/${encodeURIComponent(database)}`;
  const settings = [
    ['listen_addresses', LOOPBACK],
    ['port', String(port)],
    ['unix_socket_directories', ''],
    ['logging_collector', 'off'],
    // Statements are never logged: they may carry patient data (checked by the logscan tests).
    ['log_min_error_statement', 'panic'],
    ...(opts.fast
      ? [
          ['fsync', 'off'],
          ['synchronous_commit', 'off'],
          ['full_page_writes', 'off'],
        ]
      : []),
  ];
  const service = supervise({
    name: 'postgres',
    command: join(PG_BIN, 'postgres'),
    args: ['-D', pgdata, ...settings.flatMap(([k, v]) => ['-c', `${k}=${v}`])],
    cwd: clusterDir,
    env: pgEnv(),
    uid: user.uid,
    gid: user.gid,
    logDir: opts.logDir,
    board: opts.board,
    endpoint: `postgres://${LOOPBACK}:${port}`,
    // SIGINT is PostgreSQL's "fast" shutdown (SIGTERM waits for every client to disconnect).
    stopSignal: 'SIGINT',
    stopTimeoutMs: 15_000,
    probe: (signal) => withClient(adminUrl, async (c) => (await c.query('select 1')).rowCount === 1, signal),
  });

  let provisioned: Promise<void> | null = null;
  const provision = () =>
    withClient(adminUrl, async (c) => {
      const role = await c.query('select 1 from pg_roles where rolname = $1', [appUser]);
      // The password is a literal in DDL (no bind parameters there); it comes from our own
      // generator or the caller, so quote it as an SQL string.
      const pw = `'${opts.password.replaceAll("'", "''")}'`;
      if (role.rowCount === 0) await c.query(`create role ${ident(appUser)} login createdb password ${pw}`);
      else await c.query(`alter role ${ident(appUser)} password ${pw}`);
      const db = await c.query('select 1 from pg_database where datname = $1', [database]);
      if (db.rowCount === 0) await c.query(`create database ${ident(database)} owner ${ident(appUser)}`);
    });

  return {
    service,
    port,
    url,
    adminUrl,
    async waitReady(timeoutMs = 60_000) {
      await service.waitReady(timeoutMs);
      provisioned ??= provision();
      await provisioned;
    },
    stop: () => service.stop(),
  };
}

/**
 * Creates a fresh, empty database owned by the URL's role (which needs CREATEDB) and returns its
 * URL: one per test file, so files never see each other's rows.
 */
export async function createDatabase(url: string, name?: string): Promise<string> {
  const dbName = name ?? `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(dbName)) throw new Error(`invalid database name ${dbName}`);
  await withClient(url, (c) => c.query(`create database ${ident(dbName)}`));
  const u = new URL(url);
  u.pathname = `/${dbName}`;
  return u.toString();
}

/** Drops a database made by createDatabase (connections to it must be closed first). */
export async function dropDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const dbName = decodeURIComponent(u.pathname.slice(1));
  u.pathname = '/postgres';
  await withClient(u.toString(), (c) => c.query(`drop database if exists ${ident(dbName)} with (force)`));
}
