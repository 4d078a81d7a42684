/** Builds the gateway's service clients from its configuration (server.ts and tests). */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { GatewayConfig } from './config.js';
import { type Db, openDb } from './db/client.js';
import { OrthancClient } from './plugins/orthanc.js';
import { ObjectStore } from './plugins/s3.js';

export interface Clients {
  db: Db;
  redis: Redis;
  orthanc: OrthancClient;
  s3: ObjectStore;
  close(): Promise<void>;
}

export async function createClients(config: GatewayConfig, given: { db?: Db } = {}): Promise<Clients> {
  const redis = new Redis(config.REDIS_URL, {
    // Commands fail fast while Redis is down instead of queueing without bound; it reconnects by itself.
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    lazyConnect: false,
  });
  redis.on('error', () => {});
  const db =
    given.db ??
    (await openDb({ databaseUrl: config.DATABASE_URL, pgliteDir: join(config.RADLINK_DATA, 'pglite') }));
  const orthanc = new OrthancClient({
    url: config.ORTHANC_URL,
    username: config.ORTHANC_USERNAME,
    password: config.ORTHANC_PASSWORD,
  });
  const s3 = new ObjectStore({
    endpoint: config.S3_ENDPOINT,
    region: config.S3_REGION,
    accessKey: config.S3_ACCESS_KEY,
    secretKey: config.S3_SECRET_KEY,
    bucket: config.S3_BUCKET,
  });
  return {
    db,
    redis,
    orthanc,
    s3,
    async close() {
      await Promise.allSettled([orthanc.close(), redis.quit(), db.close()]);
    },
  };
}
