/**
 * `npm run restore -- <dir>`: a backup made by `npm run backup` → a working system, into an empty
 * data directory (PGlite) or an empty PostgreSQL database (DATABASE_URL), with Orthanc running
 * and empty (or partly filled: instances it already has are kept).
 *
 *  1. checks the manifest and the dump's SHA-256; loads the database; applies newer migrations;
 *  2. rebuilds Orthanc from the S3 archive: every indexed instance is read from its archive key,
 *     checked against the index's SHA-256, stored, and the index points at its new Orthanc ids;
 *  3. points the change feed at the rebuilt Orthanc's current position;
 *  4. puts back secrets.json when the data directory has none.
 * Then start the gateway as usual. Stop the gateway before restoring (PGlite is single-process).
 * Exit codes: 0 complete; 1 failed; 2 restored, but some instances could not be rebuilt (listed).
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../../contracts/config.js';
import { openDb } from '../../server/src/db/client.js';
import { migrate } from '../../server/src/db/migrate.js';
import { OrthancClient } from '../../server/src/plugins/orthanc.js';
import { ObjectStore } from '../../server/src/plugins/s3.js';
import { type RebuildReport, rebuildOrthanc, resetChangeFeed } from './archive.js';
import { loadPglite, loadPostgres, pgliteDir } from './database.js';
import { type BackupManifest, loadOpsConfig } from './ops-config.js';

export async function restore(
  dirArg: string,
  env: Record<string, string | undefined> = process.env,
): Promise<{ manifest: BackupManifest; rebuild: RebuildReport; migrationsApplied: string[] }> {
  const cfg = loadOpsConfig(env);
  const dir = resolve(dirArg);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BackupManifest;
  if (manifest.format !== 'radlink-backup/1')
    throw new Error(`unknown backup format ${String(manifest.format)}`);
  const dumpFile = join(dir, manifest.database.file);
  if (createHash('sha256').update(readFileSync(dumpFile)).digest('hex') !== manifest.database.sha256)
    throw new Error(`${manifest.database.file} does not match its checksum: the backup is damaged`);
  const kind = cfg.DATABASE_URL ? 'postgres' : 'pglite';
  if (kind !== manifest.database.kind)
    throw new Error(
      `the backup holds a ${manifest.database.kind} database; this installation uses ${kind} ` +
        '(set or unset DATABASE_URL accordingly)',
    );

  mkdirSync(cfg.RADLINK_DATA, { recursive: true });
  if (cfg.DATABASE_URL) await loadPostgres(cfg.DATABASE_URL, dumpFile);
  else await loadPglite(cfg.RADLINK_DATA, dumpFile);

  const db = await openDb({ databaseUrl: cfg.DATABASE_URL, pgliteDir: pgliteDir(cfg.RADLINK_DATA) });
  const orthanc = new OrthancClient({
    url: cfg.ORTHANC_URL,
    username: cfg.ORTHANC_USERNAME,
    password: cfg.ORTHANC_PASSWORD,
  });
  const s3 = new ObjectStore({
    endpoint: cfg.S3_ENDPOINT,
    region: cfg.S3_REGION,
    accessKey: cfg.S3_ACCESS_KEY,
    secretKey: cfg.S3_SECRET_KEY,
    bucket: cfg.S3_BUCKET,
  });
  try {
    const migrationsApplied = await migrate(db);
    const rebuild = await rebuildOrthanc(db, orthanc, s3);
    await resetChangeFeed(db, orthanc);
    const secrets = join(cfg.RADLINK_DATA, 'secrets.json');
    if (manifest.secrets && !existsSync(secrets)) {
      copyFileSync(join(dir, 'secrets.json'), secrets);
      chmodSync(secrets, 0o600);
    }
    return { manifest, rebuild, migrationsApplied };
  } finally {
    await Promise.allSettled([db.close(), orthanc.close()]);
  }
}

async function main() {
  const dir = process.argv[2];
  if (!dir || dir.startsWith('-')) {
    console.error(
      'usage: npm run restore -- <backup directory>   (with the gateway environment, gateway stopped)',
    );
    process.exit(64);
  }
  try {
    const { manifest, rebuild: r, migrationsApplied } = await restore(dir);
    console.log(
      `[restore] ${manifest.database.kind} database from ${manifest.createdAt}` +
        `${migrationsApplied.length ? ` (+${migrationsApplied.length} newer migrations)` : ''}; ` +
        `Orthanc: ${r.stored} instances rebuilt from the archive, ${r.alreadyPresent} already present, ` +
        `${r.notInArchive.length} not in the archive, ${r.corrupt.length} corrupt, ${r.failed.length} failed ` +
        `(of ${r.instances})`,
    );
    const lost = [...r.notInArchive, ...r.corrupt, ...r.failed];
    if (lost.length > 0) {
      console.error(`[restore] instances not rebuilt (SOP Instance UIDs):\n  ${lost.join('\n  ')}`);
      process.exit(2);
    }
  } catch (err) {
    console.error(`[restore] failed: ${err instanceof ConfigError ? err.message : (err as Error).message}`);
    process.exit(1);
  }
}

// Run as a command (npm run backup/restore), not when imported.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) void main();
