/**
 * What the backup and restore commands read from the environment: the gateway's own keys (same
 * names, same meaning, same validation), only those they use. Run them with the gateway's
 * environment (e.g. `set -a; . /etc/radlink/gateway.env; set +a`).
 */
import { type Static, Type } from '@sinclair/typebox';
import { loadConfig } from '../../contracts/config.js';
import { GatewayConfigSchema } from '../../server/src/config.js';

const P = GatewayConfigSchema.properties;
export const OpsConfigSchema = Type.Object({
  RADLINK_DATA: P.RADLINK_DATA,
  DATABASE_URL: P.DATABASE_URL,
  ORTHANC_URL: P.ORTHANC_URL,
  ORTHANC_USERNAME: P.ORTHANC_USERNAME,
  ORTHANC_PASSWORD: P.ORTHANC_PASSWORD,
  S3_ENDPOINT: P.S3_ENDPOINT,
  S3_REGION: P.S3_REGION,
  S3_ACCESS_KEY: P.S3_ACCESS_KEY,
  S3_SECRET_KEY: P.S3_SECRET_KEY,
  S3_BUCKET: P.S3_BUCKET,
});
export type OpsConfig = Static<typeof OpsConfigSchema>;

export function loadOpsConfig(env: Record<string, string | undefined> = process.env): OpsConfig {
  return loadConfig('backup/restore', OpsConfigSchema, env);
}

/** The backup directory's manifest (format radlink-backup/1). */
export interface BackupManifest {
  format: 'radlink-backup/1';
  createdAt: string;
  database: {
    kind: 'pglite' | 'postgres';
    file: string;
    sha256: string;
    bytes: number;
    migrations: string[];
  };
  archive: {
    file: string;
    instances: number;
    archived: number;
    /** Indexed but not yet copied to S3 at backup time: a restore cannot rebuild these. */
    unarchived: number;
    /** Archive keys the index names that S3 does not have. */
    missingInS3: number;
    retainedCopies: number;
  };
  secrets: boolean;
}

/** One line of archive-index.jsonl: where an instance's bytes are in the archive. */
export interface ArchiveEntry {
  sopInstanceUid: string;
  seriesUid: string;
  studyUid: string;
  sha256: string | null;
  archiveKey: string | null;
  /** 'index': a live instance; 'retained': a copy kept by retention after the images expired. */
  kind: 'index' | 'retained';
}
