/**
 * `npm start`: runs a whole RadLink installation in the foreground on one machine.
 *
 *   data dir   RADLINK_DATA (default ./data): secrets.json, orthanc/, redis/, s3/, logs/, run/
 *   Orthanc    always (private: loopback HTTP with generated credentials; DICOM for modalities)
 *   Redis      a private redis-server, unless REDIS_URL is set (then it must answer, or exit 1)
 *   S3         embedded s3rver, unless S3_ENDPOINT is set (then S3_ACCESS_KEY/S3_SECRET_KEY/...)
 *   database   DATABASE_URL if set (external); RADLINK_EMBEDDED_POSTGRES=1 starts a private
 *              PostgreSQL 15; otherwise the gateway embeds PGlite itself
 *   gateway    server/src/server.ts, supervised, ready when GET /readyz answers 200
 *   demo       first run only (marker <data>/demo-loaded): scripts/demo/load.ts; RADLINK_DEMO=0 skips it
 *
 * Ports: RADLINK_PORT (gateway, 8080) and RADLINK_DICOM_PORT (4242, AE title RADLINK_DICOM_AET)
 * face users and modalities and must be free. The internal ones (RADLINK_ORTHANC_HTTP_PORT 8042,
 * RADLINK_REDIS_PORT 6379, RADLINK_S3_PORT 4568, RADLINK_POSTGRES_PORT 5432) are only known to
 * the gateway, so when left unset and the default is taken (a system Redis or PostgreSQL, which
 * Debian starts on install), a free port is used instead.
 *
 * Every service runs under the supervisor (restart with backoff, status in run/services.json).
 * SIGINT/SIGTERM stop the gateway first, then Orthanc, Redis, S3 and PostgreSQL, then exit 0.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../contracts/config.js';
import { DEMO_ADMIN_PASSWORD, DEMO_LOGINS } from './demo/logins.js';
import { reapLeftovers } from './services/leftovers.js';
import { startOrthanc } from './services/orthanc.js';
import { REPO_ROOT } from './services/paths.js';
import { freePort, isPortOpen, LOOPBACK } from './services/ports.js';
import { type PostgresHandle, startPostgres } from './services/postgres.js';
import { checkRedisReachable, startRedis } from './services/redis.js';
import { type S3Info, startS3rver } from './services/s3rver.js';
import { loadOrCreateSecrets } from './services/secrets.js';
import { StatusBoard } from './services/status-board.js';
import { type Supervised, supervise } from './services/supervisor.js';
import { loadStartConfig, type StartConfig } from './start-config.js';

const READY_TIMEOUT_MS = 120_000;

function say(line: string): void {
  console.log(`[radlink] ${line}`);
}

class StartError extends Error {}

/** Set by SIGINT/SIGTERM: start-up errors caused by the shutdown itself are not reported. */
let shuttingDown = false;

/** A port from the environment or its default; see the header for the rules. */
async function pickPort(
  envName: string,
  configured: number | undefined,
  def: number,
  internal: boolean,
): Promise<number> {
  // A configured port (the user-facing ones always are, by default) must be free.
  if (configured !== undefined) {
    const port = configured;
    if (await isPortOpen(port))
      throw new StartError(`${envName}=${port}: the port is already in use by another program`);
    return port;
  }
  if (!(await isPortOpen(def))) return def;
  if (!internal) {
    throw new StartError(`port ${def} is already in use by another program; set ${envName} to another port`);
  }
  const port = await freePort();
  say(
    `port ${def} is in use; ${envName.replace(/^RADLINK_|_PORT$/g, '').toLowerCase()} uses ${port} instead (set ${envName} to choose)`,
  );
  return port;
}

/** Runs the demo loader once per data directory; failure is reported, not fatal. */
async function loadDemoOnce(cfg: StartConfig, dataDir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const marker = join(dataDir, 'demo-loaded');
  const loader = join(REPO_ROOT, 'scripts/demo/load.ts');
  if (existsSync(marker)) return;
  if (!cfg.RADLINK_DEMO) return;
  say('first run: loading the demo data (scripts/demo/load.ts) …');
  const code = await new Promise<number>((resolveCode) => {
    const child = spawn(process.execPath, ['--import', 'tsx', loader], {
      cwd: REPO_ROOT,
      env,
      stdio: 'inherit',
    });
    child.once('error', () => resolveCode(1));
    child.once('exit', (c, sig) => resolveCode(c ?? (sig ? 1 : 0)));
  });
  if (code === 0) {
    writeFileSync(marker, `${new Date().toISOString()}\n`);
    say('demo data loaded');
  } else {
    say(`the demo loader exited with code ${code}; it will run again on the next start`);
  }
}

async function main(): Promise<void> {
  let cfg: StartConfig;
  try {
    cfg = loadStartConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new StartError(err.message);
    throw err;
  }
  const dataDir = resolve(cfg.RADLINK_DATA);
  const logDir = join(dataDir, 'logs');
  const statusFile = join(dataDir, 'run', 'services.json');
  mkdirSync(logDir, { recursive: true });

  const leftovers = await reapLeftovers(statusFile, dataDir);
  if (leftovers.liveSupervisor !== null) {
    throw new StartError(`RadLink is already running with ${dataDir} (pid ${leftovers.liveSupervisor})`);
  }
  for (const k of leftovers.killed) say(`ended ${k.name} (pid ${k.pid}) left behind by an earlier run`);

  const board = new StatusBoard(statusFile);
  const secrets = loadOrCreateSecrets(dataDir);

  // Everything started so far, in stop order (gateway first); filled in as services start.
  let gateway: Supervised | null = null;
  let workers: Supervised | null = null;
  const backing: { name: string; service: Supervised | null; stop(): Promise<void> }[] = [];
  let stopping: Promise<void> | null = null;
  const stopAll = (): Promise<void> => {
    stopping ??= (async () => {
      say('stopping …');
      // Workers first: they finish their current job, then the gateway drains their results.
      if (workers) await workers.stop();
      if (gateway) await gateway.stop();
      for (const s of backing) await s.stop();
      say('stopped');
    })();
    return stopping;
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      shuttingDown = true;
      void stopAll().then(() => process.exit(0));
    });
  }

  try {
    const gatewayPort = await pickPort('RADLINK_PORT', cfg.RADLINK_PORT, 8080, false);
    const dicomPort = await pickPort('RADLINK_DICOM_PORT', cfg.RADLINK_DICOM_PORT, 4242, false);
    const orthancPort = await pickPort(
      'RADLINK_ORTHANC_HTTP_PORT',
      cfg.RADLINK_ORTHANC_HTTP_PORT,
      8042,
      true,
    );

    const orthanc = startOrthanc({
      dataDir,
      logDir,
      board,
      username: secrets.orthancUsername,
      password: secrets.orthancPassword,
      httpPort: orthancPort,
      dicomPort,
      aet: cfg.RADLINK_DICOM_AET,
    });
    backing.push({ name: 'orthanc', service: orthanc.service, stop: () => orthanc.stop() });
    const waits: Promise<void>[] = [orthanc.service.waitReady(READY_TIMEOUT_MS)];

    let redisUrl = cfg.REDIS_URL;
    if (redisUrl) {
      await checkRedisReachable(redisUrl, 3000).catch((err: Error) => {
        throw new StartError(err.message);
      });
      say('using the Redis at REDIS_URL');
    } else {
      const redis = startRedis({
        dataDir,
        logDir,
        board,
        port: await pickPort('RADLINK_REDIS_PORT', cfg.RADLINK_REDIS_PORT, 6379, true),
      });
      backing.push({ name: 'redis', service: redis.service, stop: () => redis.stop() });
      waits.push(redis.service.waitReady(READY_TIMEOUT_MS));
      redisUrl = redis.url;
    }

    let s3: S3Info;
    if (cfg.S3_ENDPOINT) {
      const accessKey = cfg.S3_ACCESS_KEY;
      const secretKey = cfg.S3_SECRET_KEY;
      if (!accessKey || !secretKey)
        throw new StartError('S3_ENDPOINT is set: S3_ACCESS_KEY and S3_SECRET_KEY are required too');
      s3 = {
        endpoint: cfg.S3_ENDPOINT,
        accessKey,
        secretKey,
        bucket: cfg.S3_BUCKET,
        region: cfg.S3_REGION,
      };
      say('using the S3 at S3_ENDPOINT');
    } else {
      const s3rver = startS3rver({
        dataDir,
        logDir,
        board,
        port: await pickPort('RADLINK_S3_PORT', cfg.RADLINK_S3_PORT, 4568, true),
        accessKey: secrets.s3AccessKey,
        secretKey: secrets.s3SecretKey,
        bucket: cfg.S3_BUCKET,
        region: cfg.S3_REGION,
      });
      backing.push({ name: 's3', service: s3rver.service, stop: () => s3rver.stop() });
      waits.push(s3rver.service.waitReady(READY_TIMEOUT_MS));
      s3 = s3rver;
    }

    let databaseUrl = cfg.DATABASE_URL;
    let postgres: PostgresHandle | null = null;
    if (databaseUrl) {
      say('using the PostgreSQL at DATABASE_URL');
    } else if (cfg.RADLINK_EMBEDDED_POSTGRES) {
      postgres = await startPostgres({
        dataDir,
        logDir,
        board,
        port: await pickPort('RADLINK_POSTGRES_PORT', cfg.RADLINK_POSTGRES_PORT, 5432, true),
        password: secrets.postgresPassword,
      });
      const pg = postgres;
      backing.push({ name: 'postgres', service: pg.service, stop: () => pg.stop() });
      waits.push(pg.waitReady(READY_TIMEOUT_MS));
      databaseUrl = pg.url;
    }

    await Promise.all(waits);
    say(
      `services ready: orthanc${
        backing.length > 1
          ? `, ${backing
              .slice(1)
              .map((b) => b.name)
              .join(', ')}`
          : ''
      }`,
    );

    const serverEntry = join(REPO_ROOT, 'server/src/server.ts');
    const gatewayUrl = `http://${LOOPBACK}:${gatewayPort}`;
    // The backing services, as the gateway and the workers both read them (contracts SERVICE_KEYS).
    const serviceEnv = {
      REDIS_URL: redisUrl,
      ORTHANC_URL: orthanc.url,
      ORTHANC_USERNAME: orthanc.username,
      ORTHANC_PASSWORD: orthanc.password,
      S3_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
      S3_BUCKET: s3.bucket,
      S3_REGION: s3.region,
    };
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      RADLINK_DATA: dataDir,
      RADLINK_PORT: String(gatewayPort),
      RADLINK_TOKEN_SECRET: secrets.tokenSecret,
      // The initial admin is created once, when the user table is empty: with the published demo
      // password in demo mode, else with the generated one kept in secrets.json.
      RADLINK_ADMIN_PASSWORD: cfg.RADLINK_DEMO ? DEMO_ADMIN_PASSWORD : secrets.adminPassword,
      RADLINK_LOG_FILE: join(logDir, 'gateway.log'),
      ...serviceEnv,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    };
    gateway = supervise({
      name: 'gateway',
      // One process (the tsx CLI would fork a second): the supervisor signals the server itself.
      command: process.execPath,
      args: ['--import', 'tsx', serverEntry],
      cwd: REPO_ROOT,
      env,
      logDir,
      board,
      endpoint: gatewayUrl,
      // close-with-grace gives in-flight requests 10 s; allow a little more before SIGKILL.
      stopTimeoutMs: 15_000,
      probe: async (signal) => {
        const res = await fetch(`${gatewayUrl}/readyz`, { signal });
        await res.arrayBuffer();
        return res.status === 200;
      },
    });
    await gateway.waitReady(READY_TIMEOUT_MS);

    // Queue workers (archive copies to S3): one process, same services, its own log.
    const workersEntry = join(REPO_ROOT, 'workers/src/main.ts');
    workers = supervise({
      name: 'workers',
      command: process.execPath,
      args: ['--import', 'tsx', workersEntry],
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        RADLINK_DATA: dataDir,
        RADLINK_LOG_FILE: join(logDir, 'workers.log'),
        RADLINK_WORKERS: process.env.RADLINK_WORKERS ?? 'archive,ai,thumbnails',
        ...serviceEnv,
      },
      logDir,
      board,
      // BullMQ lets a job finish on SIGTERM; a large instance copy may take a while.
      stopTimeoutMs: 35_000,
      // No port to ask: a running process is a working one (it exits on a bad configuration).
      probe: async () => true,
    });

    await loadDemoOnce(cfg, dataDir, { ...env, RADLINK_URL: gatewayUrl });

    const publicUrl = cfg.RADLINK_PUBLIC_URL || `http://localhost:${gatewayPort}`;
    // Demo accounts exist only once the loader ran; they may replace the generated admin password.
    const logins = existsSync(join(dataDir, 'demo-loaded')) ? DEMO_LOGINS : [];
    console.log('');
    say(`RadLink is running at ${publicUrl}/`);
    if (!logins.some((l) => l.username === 'admin')) {
      say(
        cfg.RADLINK_DEMO
          ? `  admin / ${DEMO_ADMIN_PASSWORD}   (demo administrator; DEMO ONLY)`
          : `  admin / ${secrets.adminPassword}   (initial administrator; kept in ${join(dataDir, 'secrets.json')})`,
      );
    }
    for (const l of logins) {
      const where = l.facilityId;
      say(
        `  ${l.username} / ${l.password}   (${l.role}${where ? `, ${where}` : ''}${l.displayName ? ` — ${l.displayName}` : ''})`,
      );
    }
    say(`DICOM: AE title ${orthanc.aet}, port ${dicomPort} (modalities must be registered per facility)`);
    say(`logs: ${logDir}   status: ${statusFile}   Ctrl-C to stop`);
    console.log('');

    // From here on, report what the supervisor does, so a crash loop is visible in the terminal.
    for (const s of [gateway, workers, ...backing.map((b) => b.service)]) {
      s?.on('state', (st) => {
        if (st.state !== 'ok' && !stopping)
          say(`${st.name}: ${st.state}${st.message ? ` — ${st.message}` : ''}`);
      });
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
}

main().catch((err: Error) => {
  if (shuttingDown) return; // the signal handler exits once everything is stopped
  console.error(
    `[radlink] cannot start: ${err instanceof StartError ? err.message : (err.stack ?? err.message)}`,
  );
  process.exit(1);
});
