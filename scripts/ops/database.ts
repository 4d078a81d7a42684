/**
 * Database dump and load for both engines.
 *  - PGlite: the data directory as PGlite's own tarball (dumpDataDir / loadDataDir), taken while
 *    holding the gateway's lock file, so the database is quiescent: the command refuses to run while
 *    the gateway has it open (PGlite is single-process).
 *  - PostgreSQL: pg_dump's custom format (Debian postgresql 15 client), loaded with pg_restore
 *    into an empty database. A dump is consistent while the gateway keeps running.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { acquirePgliteLock } from '../../server/src/db/client.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += String(d);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${cmd.split('/').pop()} exited ${code}: ${err.trim().slice(0, 500)}`)),
    );
  });
}

export const pgliteDir = (dataDir: string) => join(dataDir, 'pglite');

export async function dumpPglite(dataDir: string, file: string): Promise<void> {
  const dir = pgliteDir(dataDir);
  if (!existsSync(join(dir, 'pgdata'))) throw new Error(`no embedded database at ${dir}`);
  const release = acquirePgliteLock(dir);
  try {
    const db = await PGlite.create(join(dir, 'pgdata'));
    try {
      const blob = await db.dumpDataDir('gzip');
      writeFileSync(file, Buffer.from(await blob.arrayBuffer()), { mode: 0o600 });
    } finally {
      await db.close();
    }
  } finally {
    release();
  }
}

export async function loadPglite(dataDir: string, file: string): Promise<void> {
  const dir = pgliteDir(dataDir);
  const target = join(dir, 'pgdata');
  if (existsSync(target) && readdirSync(target).length > 0)
    throw new Error(`${target} is not empty: restore into an empty data directory`);
  const release = acquirePgliteLock(dir);
  try {
    const db = await PGlite.create(target, { loadDataDir: new Blob([readFileSync(file)]) });
    await db.query('SELECT 1');
    await db.close();
  } finally {
    release();
  }
}

export async function dumpPostgres(url: string, file: string): Promise<void> {
  await run(join(PG_BIN, 'pg_dump'), ['--format=custom', '--no-owner', '--file', file, '--dbname', url]);
}

export async function loadPostgres(url: string, file: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'",
    );
    if ((rows[0]?.n ?? 0) > 0)
      throw new Error('the target PostgreSQL database is not empty: restore into an empty one');
  } finally {
    await client.end();
  }
  await run(join(PG_BIN, 'pg_restore'), ['--no-owner', '--exit-on-error', '--dbname', url, file]);
}
