/**
 * `npm run backup -- <dir>`: the database and the archive index into an empty directory.
 *
 *   <dir>/manifest.json         what is in the backup, counts, checksums
 *   <dir>/database.pglite.tgz   PGlite's data directory (embedded database), or
 *   <dir>/database.pgdump       pg_dump custom format (DATABASE_URL set)
 *   <dir>/archive-index.jsonl   which instance is under which S3 archive key (dicom-<sha256>)
 *   <dir>/secrets.json          RADLINK_DATA/secrets.json when present (Orthanc, S3 and token secrets;
 *                               the token secret also unlocks the signing CA key)
 *
 * The images themselves are not copied: they are in the S3 archive, which is backed up by S3's
 * own means (MinIO replication/versioning); this command checks that every archive key the index
 * names is there, and warns about instances not archived yet. The directory is created 0700:
 * it holds patient data and secrets.
 *
 * PGlite: stop the gateway first (the embedded database is single-process; the command refuses
 * while the gateway holds it). PostgreSQL: runs while the gateway serves.
 * Exit codes: 0 complete; 1 failed; 2 written, but some instances cannot be restored from the archive.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../../contracts/config.js';
import { openDb } from '../../server/src/db/client.js';
import { ObjectStore } from '../../server/src/plugins/s3.js';
import { missingKeys, readArchiveIndex } from './archive.js';
import { dumpPglite, dumpPostgres, pgliteDir } from './database.js';
import { type BackupManifest, loadOpsConfig } from './ops-config.js';

export async function backup(dirArg: string, env: Record<string, string | undefined> = process.env) {
  const cfg = loadOpsConfig(env);
  const dir = resolve(dirArg);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} is not empty`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);

  const kind = cfg.DATABASE_URL ? 'postgres' : 'pglite';
  const dbFile = kind === 'postgres' ? 'database.pgdump' : 'database.pglite.tgz';
  if (cfg.DATABASE_URL) await dumpPostgres(cfg.DATABASE_URL, join(dir, dbFile));
  else await dumpPglite(cfg.RADLINK_DATA, join(dir, dbFile));
  const dump = readFileSync(join(dir, dbFile));

  const db = await openDb({ databaseUrl: cfg.DATABASE_URL, pgliteDir: pgliteDir(cfg.RADLINK_DATA) });
  const s3 = new ObjectStore({
    endpoint: cfg.S3_ENDPOINT,
    region: cfg.S3_REGION,
    accessKey: cfg.S3_ACCESS_KEY,
    secretKey: cfg.S3_SECRET_KEY,
    bucket: cfg.S3_BUCKET,
  });
  let manifest: BackupManifest;
  try {
    const migrations = (
      await db.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY 1')
    ).map((r) => r.version);
    const entries = await readArchiveIndex(db);
    writeFileSync(join(dir, 'archive-index.jsonl'), entries.map((e) => `${JSON.stringify(e)}\n`).join(''), {
      mode: 0o600,
    });
    const missing = await missingKeys(s3, entries);
    const live = entries.filter((e) => e.kind === 'index');
    const secrets = join(cfg.RADLINK_DATA, 'secrets.json');
    if (existsSync(secrets)) {
      copyFileSync(secrets, join(dir, 'secrets.json'));
      chmodSync(join(dir, 'secrets.json'), 0o600);
    }
    manifest = {
      format: 'radlink-backup/1',
      createdAt: new Date().toISOString(),
      database: {
        kind,
        file: dbFile,
        sha256: createHash('sha256').update(dump).digest('hex'),
        bytes: dump.length,
        migrations,
      },
      archive: {
        file: 'archive-index.jsonl',
        instances: live.length,
        archived: live.filter((e) => e.archiveKey).length,
        unarchived: live.filter((e) => !e.archiveKey).length,
        missingInS3: missing.length,
        retainedCopies: entries.length - live.length,
      },
      secrets: existsSync(secrets),
    };
    writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  } finally {
    await db.close();
  }
  return manifest;
}

async function main() {
  const dir = process.argv[2];
  if (!dir || dir.startsWith('-')) {
    console.error('usage: npm run backup -- <empty directory>   (with the gateway environment)');
    process.exit(64);
  }
  try {
    const m = await backup(dir);
    console.log(
      `[backup] ${m.database.kind} database (${m.database.bytes} bytes, ${m.database.migrations.length} migrations); ` +
        `archive index: ${m.archive.instances} instances, ${m.archive.archived} archived, ` +
        `${m.archive.unarchived} not archived yet, ${m.archive.missingInS3} keys missing from S3, ` +
        `${m.archive.retainedCopies} retained copies`,
    );
    if (m.archive.unarchived > 0 || m.archive.missingInS3 > 0) {
      console.error(
        '[backup] WARNING: some instances are not in the S3 archive and could not be restored from it',
      );
      process.exit(2);
    }
  } catch (err) {
    console.error(`[backup] failed: ${err instanceof ConfigError ? err.message : (err as Error).message}`);
    process.exit(1);
  }
}

// Run as a command (npm run backup/restore), not when imported.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) void main();
