/**
 * Forward-only migrations: server/src/db/migrations/NNN_name.sql, applied in order, each in its
 * own (implicit) transaction, recorded in schema_migrations. On PostgreSQL an advisory lock serialises
 * gateways that start together.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from './client.js';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
const LOCK_ID = 727_001;

export async function migrate(db: Db): Promise<string[]> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
  );
  if (db.kind === 'postgres') await db.query('SELECT pg_advisory_lock($1)', [LOCK_ID]);
  try {
    const done = new Set(
      (await db.query<{ version: string }>('SELECT version FROM schema_migrations')).map((r) => r.version),
    );
    const files = readdirSync(MIGRATIONS_DIR)
      .filter((f) => /^\d{3}_.+\.sql$/.test(f))
      .sort();
    const applied: string[] = [];
    for (const file of files) {
      const version = file.replace(/\.sql$/, '');
      if (done.has(version)) continue;
      const sql = readFileSync(join(MIGRATIONS_DIR, file), 'utf8');
      // Sent as one simple-protocol message, which PostgreSQL (and PGlite) run as one implicit
      // transaction: a failing migration leaves nothing behind. `version` is safe to inline: it
      // matched the file-name pattern above.
      await db.exec(`${sql}\n;INSERT INTO schema_migrations (version) VALUES ('${version}');`);
      applied.push(version);
    }
    return applied;
  } finally {
    if (db.kind === 'postgres') await db.query('SELECT pg_advisory_unlock($1)', [LOCK_ID]);
  }
}
