/**
 * Backup and restore end to end, on PGlite and on PostgreSQL: a gateway with its own (private,
 * fresh) Orthanc stores demo studies, the real archive worker copies them to S3; the gateway stops;
 * `npm run backup -- <dir>` dumps the database and the archive index; then into an empty data
 * directory (or an empty PostgreSQL database) and a second, empty Orthanc, `npm run restore -- <dir>`
 * loads the database and rebuilds Orthanc from the S3 archive. A gateway started on the restored
 * state answers QIDO with the same JSON and WADO-RS with the same bytes as before, and logins work.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PATIENTS } from '../../scripts/demo/patients.js';
import { generateStudy } from '../../scripts/demo/synth/index.js';
import { type OrthancHandle, startOrthanc } from '../../scripts/services/orthanc.js';
import { freePorts } from '../../scripts/services/ports.js';
import { createDatabase } from '../../scripts/services/postgres.js';
import { buildApp } from '../../server/src/app.js';
import { createClients } from '../../server/src/clients.js';
import { loadGatewayConfig } from '../../server/src/config.js';
import { parseMultipartRelated } from '../../server/src/dicomweb/multipart.js';
import { createLogger } from '../../server/src/logger.js';
import { loadWorkersConfig } from '../../workers/src/config.js';
import { startWorkers } from '../../workers/src/main.js';
import { ADMIN_PASSWORD, bearer, gatewayEnv, stack, type TestApp, workersEnv } from '../helpers/app.js';
import { makeInstance } from '../helpers/dicom.js';
import { facilityUser, stow } from '../helpers/dicomweb.js';

const orthancs: OrthancHandle[] = [];
let root: string;
beforeAll(() => {
  root = mkdtempSync(join(stack().dataDir, 'backup-'));
});
afterAll(async () => {
  for (const o of orthancs) await o.stop();
});

async function privateOrthanc(name: string): Promise<OrthancHandle> {
  const [http, dicom] = (await freePorts(2)) as [number, number];
  const s = stack();
  const o = startOrthanc({
    dataDir: join(root, name),
    logDir: s.logDir,
    username: s.orthanc.username,
    password: s.orthanc.password,
    httpPort: http,
    dicomPort: dicom,
  });
  orthancs.push(o);
  await o.service.waitReady(60_000);
  return o;
}

/** A gateway on a data directory (PGlite on disk, or DATABASE_URL) and a given Orthanc. */
async function gateway(
  name: string,
  env: Record<string, string | undefined>,
): Promise<TestApp & { stop(): Promise<void> }> {
  const config = loadGatewayConfig(gatewayEnv(stack(), env));
  const clients = await createClients(config);
  const logger = createLogger('info', join(stack().logDir, `gateway-${name}.log`), false);
  const app = await buildApp({ config, ...clients, logger });
  await app.ready();
  const login = async (username: string, password: string) => {
    const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
    if (res.statusCode !== 200) throw new Error(`login ${username}: ${res.statusCode}`);
    return (res.json() as { token: string }).token;
  };
  const stop = async () => {
    await app.close();
    await clients.close();
    logger.flush();
  };
  return {
    app,
    config,
    db: clients.db,
    login,
    adminToken: () => login('admin', ADMIN_PASSWORD),
    close: stop,
    stop,
  };
}

function npmRun(
  script: string,
  dir: string,
  env: Record<string, string | undefined>,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', script, '--', dir], {
      env: { ...process.env, ...gatewayEnv(stack(), env) } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (out += String(d)));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, out }));
  });
}

interface Snapshot {
  qido: string[];
  wado: Map<string, Buffer>;
}

async function snapshot(t: TestApp, token: string, studies: string[]): Promise<Snapshot> {
  const qido: string[] = [];
  const wado = new Map<string, Buffer>();
  const get = (url: string, accept = 'application/dicom+json') =>
    t.app.inject({ method: 'GET', url, headers: { ...bearer(token), accept } });
  for (const st of studies) {
    for (const url of [
      `/dicom-web/studies?StudyInstanceUID=${st}&includefield=all`,
      `/dicom-web/studies/${st}/series?includefield=all`,
      `/dicom-web/studies/${st}/instances?includefield=all`,
    ]) {
      const r = await get(url);
      expect(r.statusCode, url).toBe(200);
      qido.push(r.body);
    }
    const instances = (await get(`/dicom-web/studies/${st}/instances`)).json() as Record<
      string,
      { Value: string[] }
    >[];
    for (const i of instances) {
      const url = `/dicom-web/studies/${st}/series/${i['0020000E']!.Value[0]}/instances/${i['00080018']!.Value[0]}`;
      const r = await get(url, 'multipart/related; type="application/dicom"; transfer-syntax=*');
      expect(r.statusCode, url).toBe(200);
      wado.set(url, parseMultipartRelated(r.rawPayload, String(r.headers['content-type']))[0]!.body);
    }
  }
  return { qido, wado };
}

describe.each([
  { engine: 'PGlite', postgres: false },
  { engine: 'PostgreSQL', postgres: true },
])('backup and restore ($engine)', ({ engine, postgres }) => {
  it('restores database and archive into an empty system that answers QIDO and WADO identically', async () => {
    const tag = engine.toLowerCase();
    const prefix = `rl-backup-${tag}-${Date.now().toString(36)}`;
    const source = await privateOrthanc(`orthanc-src-${tag}`);
    const dataA = join(root, `data-a-${tag}`);
    const dataB = join(root, `data-b-${tag}`);
    mkdirSync(dataA, { recursive: true });
    const dbA = postgres ? await createDatabase(stack().postgresUrl) : undefined;
    const dbB = postgres ? await createDatabase(stack().postgresUrl) : undefined;
    const orthancEnv = (o: OrthancHandle) => ({
      ORTHANC_URL: o.url,
      ORTHANC_USERNAME: o.username,
      ORTHANC_PASSWORD: o.password,
    });
    const envA = {
      RADLINK_DATA: dataA,
      DATABASE_URL: dbA,
      RADLINK_QUEUE_PREFIX: prefix,
      ...orthancEnv(source),
    };

    // 1. A working system with archived studies.
    const a = await gateway(`backup-a-${tag}`, envA);
    const workers = await startWorkers(
      loadWorkersConfig(workersEnv(stack(), { RADLINK_QUEUE_PREFIX: prefix, ...orthancEnv(source) })),
      pino(
        { level: 'info' },
        pino.destination({ dest: join(stack().logDir, `workers-backup-${tag}.log`), sync: true }),
      ),
    );
    const tok = await facilityUser(a, `bv-backup-${tag}`, `backup.${tag}`);
    const seed = 5000 + Math.floor(Math.random() * 1e6);
    const ct = generateStudy({
      seed,
      patient: DEMO_PATIENTS[3]!,
      modality: 'CT',
      rows: 64,
      cols: 64,
      slices: 5,
      lesions: [],
    });
    const multi = makeInstance({ patientName: 'Hoàng^Thị Sao Lưu', frames: 3, rows: 32, columns: 32 });
    for (const b of [...ct.series[0]!.instances.map((x) => Buffer.from(x)), multi.bytes])
      expect((await stow(a, tok, [b])).statusCode).toBe(200);
    const total = ct.series[0]!.instances.length + 1;
    for (let i = 0; ; i++) {
      const [r] = await a.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM instances WHERE archived_at IS NOT NULL',
      );
      if (r!.n === total) break;
      if (i > 300) throw new Error('archive did not finish');
      await new Promise((res) => setTimeout(res, 100));
    }
    const studies = [ct.study.studyUid, multi.studyUid];
    const before = await snapshot(a, tok, studies);
    if (!postgres) {
      // The embedded database is single-process: no backup while the gateway holds it.
      const busy = await npmRun('backup', join(root, `busy-${tag}`), envA);
      expect(busy.code).toBe(1);
      expect(busy.out).toMatch(/in use by process/);
    }
    await workers.close();
    await a.stop();

    // 2. Backup.
    const dir = join(root, `backup-${tag}`);
    const t0 = Date.now();
    const b = await npmRun('backup', dir, envA);
    expect(b.code, b.out).toBe(0);
    const backupMs = Date.now() - t0;
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      format: 'radlink-backup/1',
      database: { kind: postgres ? 'postgres' : 'pglite' },
      archive: { instances: total, archived: total, unarchived: 0, missingInS3: 0 },
    });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, 'archive-index.jsonl'), 'utf8').trim().split('\n')).toHaveLength(total);

    // 3. Restore into an empty data directory / database and an empty Orthanc.
    const target = await privateOrthanc(`orthanc-dst-${tag}`);
    const envB = {
      RADLINK_DATA: dataB,
      DATABASE_URL: dbB,
      RADLINK_QUEUE_PREFIX: `${prefix}-b`,
      ...orthancEnv(target),
    };
    const t1 = Date.now();
    const r = await npmRun('restore', dir, envB);
    expect(r.code, r.out).toBe(0);
    const restoreMs = Date.now() - t1;
    expect(r.out).toContain(`${total} instances rebuilt from the archive`);
    // Restoring over a restored system is refused: it is not empty.
    const again = await npmRun('restore', dir, envB);
    expect(again.code).toBe(1);
    expect(again.out).toMatch(/not empty/);

    // 4. The restored system answers as the original did, byte for byte.
    const bApp = await gateway(`backup-b-${tag}`, envB);
    try {
      const tokB = await bApp.login(`backup.${tag}`, 'correct horse battery');
      const after = await snapshot(bApp, tokB, studies);
      expect(after.qido).toEqual(before.qido);
      expect([...after.wado.keys()]).toEqual([...before.wado.keys()]);
      for (const [url, bytes] of before.wado) expect(after.wado.get(url)!.equals(bytes), url).toBe(true);
      console.log(
        `${engine}: backup of ${total} instances in ${backupMs} ms (${manifest.database.bytes} bytes of database), ` +
          `restore with Orthanc rebuild in ${restoreMs} ms; QIDO ${after.qido.length} answers and WADO ${after.wado.size} instances identical`,
      );
    } finally {
      await bApp.stop();
    }
  }, 300_000);
});
