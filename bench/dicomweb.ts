/**
 * DICOMweb benchmark (issue 3): the gateway against Orthanc's own DICOMweb plugin, on the same
 * stack, the same data shapes and the same request patterns, in one run; prints each figure next
 * to Orthanc's with the ratio and the target, and writes bench/results/dicomweb.json
 * with the commit id.
 *
 *   npm run bench bench/dicomweb.ts
 *   BENCH_CT_SLICES=240 BENCH_QIDO_STUDIES=10000 BENCH_QIDO_BIG=100000 npm run bench bench/dicomweb.ts
 *
 * Set-up, and why:
 *  - A fresh stack (startTestStack: Orthanc, Redis, PostgreSQL, s3rver) and the gateway and the
 *    archive worker as their own processes (`server/src/server.ts`, `workers/src/main.ts`), as in
 *    production: a gateway built inside this process would share its event loop with the load
 *    generator, which Orthanc does not. The index is on PostgreSQL (what a 100k site runs).
 *  - Cold caches: fresh processes, nothing read before it is measured, and Orthanc and the gateway
 *    each read a study nobody has read yet (two studies of identical shape, one per target: a study
 *    sent to Orthanc directly cannot be sent through the gateway again without being a no-op).
 *    The OS page cache is warm for both alike (the files were just written).
 *  - Warm processes: before anything is timed, each target stores (STOW) and reads (every frame)
 *    a warm-up study of its own (BENCH_WARMUP_SLICES, 60), so that a long-running process is
 *    measured, not the first seconds of one (the gateway's JIT compiler and connection pools,
 *    Orthanc's and PostgreSQL's first statements). The measured studies stay unread.
 *  - STOW: the same batches (BENCH_STOW_BATCH instances per request, BENCH_STOW_CONCURRENCY at
 *    once) of 512×512 synthetic CT. Orthanc's own STOW is timed twice, on studies of its own:
 *    alone (RadLink's gateway and worker paused), the peer the ratio is judged against, and with
 *    RadLink running as deployed (its change feed indexing and archiving while Orthanc receives).
 *    CPU seconds of every process are reported per phase. Archive lag: received → verified S3 copy, per instance, from
 *    the index (the values the `radlink_archive_lag_seconds` histogram observes), once the
 *    archive backlog (`GET /api/archive/status`) is empty.
 *  - WADO-RS frames: 16 concurrent readers (undici, one pool of 16 kept-alive connections per target),
 *    `Accept: multipart/related; type="application/octet-stream"; transfer-syntax=*`, every frame
 *    once; latency is until the last byte.
 *  - QIDO: BENCH_QIDO_STUDIES small studies with Vietnamese names STOWed through the gateway (so
 *    Orthanc and the index hold the same studies), the mix timed sequentially against
 *    both; then studies added straight into the index (the QIDO engineer's bench/qido-index.ts
 *    seeds the same way) up to BENCH_QIDO_BIG and the mix again, gateway only, over HTTP.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { DEMO_PATIENTS } from '../scripts/demo/patients.js';
import { generateStudy, type SynthStudy } from '../scripts/demo/synth/study.js';
import { basicAuth } from '../scripts/services/orthanc.js';
import { REPO_ROOT } from '../scripts/services/paths.js';
import { freePort, LOOPBACK } from '../scripts/services/ports.js';
import { createDatabase } from '../scripts/services/postgres.js';
import { type Db, openDb } from '../server/src/db/client.js';
import { buildMultipartRelated } from '../server/src/dicomweb/multipart.js';
import { nameWords } from '../server/src/index/indexer.js';
import { foldForSearch } from '../server/src/index/name-folding.js';
import { startTestStack } from '../tests/helpers/global-setup.js';
import { serviceEnv } from '../tests/helpers/stack-env.js';
import { tinyDicom } from '../tests/helpers/tiny-dicom.js';
import { api as gatewayApi, login, waitHttp } from './lib/gateway-api.js';
import { type Proc, serviceStatus, startProcess } from './lib/processes.js';
import { cpuDelta, treeCpuSeconds } from './lib/sampler.js';
import { MODS, randomName, rng } from './lib/vietnamese-names.js';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const CT_SLICES = env('BENCH_CT_SLICES', 240);
const STOW_BATCH = env('BENCH_STOW_BATCH', 20);
const STOW_CONCURRENCY = env('BENCH_STOW_CONCURRENCY', 4);
const READERS = env('BENCH_READERS', 16);
const WARMUP_SLICES = env('BENCH_WARMUP_SLICES', 60);
const QIDO_STUDIES = env('BENCH_QIDO_STUDIES', 10_000);
const QIDO_BIG = env('BENCH_QIDO_BIG', 100_000);
const QIDO_RUNS = env('BENCH_QIDO_RUNS', 30);
/**
 * BENCH_ONLY=stow-frames: the STOW, archive and frame phases only, printed and not written to
 * bench/results (a partial run must not replace the committed figures). For profiling, with
 * BENCH_GATEWAY_NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) given to the gateway's
 * Node as command-line flags (Node refuses `--cpu-prof` in NODE_OPTIONS).
 */
const ONLY_STOW_FRAMES = process.env.BENCH_ONLY === 'stow-frames';
const GATEWAY_NODE_OPTIONS = process.env.BENCH_GATEWAY_NODE_OPTIONS;
/** The same for the archive worker's Node (BENCH_WORKERS_NODE_OPTIONS). */
const WORKERS_NODE_OPTIONS = process.env.BENCH_WORKERS_NODE_OPTIONS;
const QIDO_WARMUP = 3;
const FACILITIES = 5;
const PASSWORD = 'bench-password-2026-x';
const ADMIN_PASSWORD = 'bench-admin-password-2026';
const FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';
/**
 * Orthanc answers `Keep-Alive: timeout=1`; with undici's default margin (2 s) the client would
 * treat every Orthanc connection as expired at once and reconnect per request, which measures
 * TCP set-up against Orthanc but not against the gateway. Both targets get reused connections.
 */
const KEEP_ALIVE_MARGIN_MS = 500;

const TARGETS = {
  framesThroughputRatio: 1.0,
  framesP99Ratio: 1.15,
  stowRatio: 0.8,
  archiveLagP99Seconds: 10,
  qidoP95Ms: 50,
};

// ---------------------------------------------------------------------------------------------
// Small statistics

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
const r2 = (x: number) => Math.round(x * 100) / 100;
const ratio = (a: number, b: number) => r2(a / b);

// ---------------------------------------------------------------------------------------------
// Processes: the gateway and the archive worker, as in production

// ---------------------------------------------------------------------------------------------
// HTTP clients

interface Target {
  name: 'orthanc' | 'gateway';
  /** Base of the DICOMweb routes. */
  dicomWeb: string;
  authorization: string;
}

/** Set-up calls here may find their object created already (409): that is fine. */
const api = <T>(base: string, token: string, method: string, path: string, body?: unknown) =>
  gatewayApi<T>(base, token, method, path, body, [409]);

/** Sends every instance in batches, `concurrency` requests at once; returns elapsed seconds. */
async function stowAll(
  t: Target,
  instances: Uint8Array[],
  batch: number,
  concurrency: number,
): Promise<number> {
  const batches: Uint8Array[][] = [];
  for (let i = 0; i < instances.length; i += batch) batches.push(instances.slice(i, i + batch));
  // Bodies are built before the clock starts: the client's own work is not the server's time.
  const bodies = batches.map((b) =>
    buildMultipartRelated(
      b.map((p) => ({ contentType: 'application/dicom', body: p })),
      'application/dicom',
    ),
  );
  const dispatcher = new Agent({ connections: concurrency, keepAliveTimeoutThreshold: KEEP_ALIVE_MARGIN_MS });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const { body, contentType } = bodies[next++]!;
        const res = await request(`${t.dicomWeb}/studies`, {
          method: 'POST',
          dispatcher,
          headers: {
            authorization: t.authorization,
            'content-type': contentType,
            accept: 'application/dicom+json',
          },
          body,
        });
        const text = await res.body.text();
        if (res.statusCode !== 200)
          throw new Error(`${t.name} STOW: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  await dispatcher.close();
  return secs;
}

interface FrameFigures {
  frames: number;
  seconds: number;
  framesPerSecond: number;
  megabytesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Reads frame 1 of every instance once with `readers` concurrent readers. */
async function readFrames(t: Target, study: SynthStudy, readers: number): Promise<FrameFigures> {
  const series = study.series[0]!;
  const urls = series.sopInstanceUids.map(
    (sop) =>
      `${t.dicomWeb}/studies/${study.study.studyUid}/series/${series.seriesUid}/instances/${sop}/frames/1`,
  );
  const dispatcher = new Agent({
    connections: readers,
    pipelining: 1,
    keepAliveTimeoutThreshold: KEEP_ALIVE_MARGIN_MS,
  });
  const latencies: number[] = [];
  let bytes = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: readers }, async () => {
      while (next < urls.length) {
        const url = urls[next++]!;
        const s = performance.now();
        const res = await request(url, {
          dispatcher,
          headers: { authorization: t.authorization, accept: FRAME_ACCEPT },
        });
        let n = 0;
        for await (const chunk of res.body) n += (chunk as Buffer).length;
        latencies.push(performance.now() - s);
        if (res.statusCode !== 200) throw new Error(`${t.name} frame: HTTP ${res.statusCode}`);
        if (res.headers['content-encoding'])
          throw new Error(`${t.name} frame was ${res.headers['content-encoding']}-encoded`);
        bytes += n;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await dispatcher.close();
  // 512×512×2 bytes of pixels per frame, plus the multipart framing.
  if (bytes < urls.length * 512 * 512 * 2)
    throw new Error(`${t.name}: frames shorter than their pixels (${bytes} bytes)`);
  return {
    frames: urls.length,
    seconds: r2(seconds),
    framesPerSecond: r2(urls.length / seconds),
    megabytesPerSecond: r2(bytes / 1e6 / seconds),
    p50Ms: r2(percentile(latencies, 50)),
    p99Ms: r2(percentile(latencies, 99)),
  };
}

/** Waits until `count` instances of a study are indexed and the archive backlog is empty. */
async function waitQuiet(
  db: Db,
  base: string,
  admin: string,
  studyUid: string,
  count: number,
): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const [row] = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM instances WHERE study_uid = $1',
      [studyUid],
    );
    const status = await api<{ unarchived: number }>(base, admin, 'GET', '/api/archive/status');
    if ((row?.n ?? 0) >= count && status.unarchived === 0) return;
    if (Date.now() > deadline) throw new Error(`study ${studyUid}: not indexed and archived after 300 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

// ---------------------------------------------------------------------------------------------
// QIDO data: Vietnamese names with the real family-name skew (~38 % Nguyễn), as in qido-index.ts

interface FakeStudy {
  index: number;
  name: string;
  patientId: string;
  date: string;
  modality: string;
  facility: number;
}

function fakeStudy(r: () => number, index: number): FakeStudy {
  const name = randomName(r);
  const day = new Date(Date.UTC(2015, 0, 1) + Math.floor(r() * 3650) * 86_400_000);
  const patient = Math.floor(index / 3); // ~3 studies per patient: priors exist
  return {
    index,
    name,
    patientId: `BP${patient}`,
    date: day.toISOString().slice(0, 10).replaceAll('-', ''),
    modality: MODS[Math.floor(r() * MODS.length)]!,
    facility: patient % FACILITIES,
  };
}

/** Adds studies straight into the index, as bench/qido-index.ts does (same columns, same words). */
async function seedIndex(db: Db, studies: FakeStudy[]): Promise<void> {
  const BATCH = 5000;
  for (let start = 0; start < studies.length; start += BATCH) {
    const chunk = studies.slice(start, start + BATCH);
    const cols: string[][] = Array.from({ length: 12 }, () => []);
    const wordUids: string[] = [];
    const words: string[] = [];
    for (const s of chunk) {
      const uid = `2.25.${9_000_000_000 + s.index}`;
      const folded = foldForSearch(s.name);
      const json = JSON.stringify({ '00100010': { vr: 'PN', Value: [{ Alphabetic: s.name }] } });
      const values = [
        uid,
        `bench-${s.facility}`,
        s.patientId,
        s.name,
        folded,
        '19700101',
        'F',
        s.date,
        '101500.000000',
        `BA${s.index}`,
        s.modality,
        json,
      ];
      values.forEach((v, k) => {
        cols[k]!.push(v);
      });
      for (const w of nameWords(folded)) {
        wordUids.push(uid);
        words.push(w);
      }
    }
    await db.query(
      `INSERT INTO studies (study_uid, facility_id, patient_id, patient_name, patient_name_folded, patient_birth_date,
                            patient_sex, study_date, study_time, accession_number, modalities, dicom_json, num_series, num_instances)
       SELECT u, f, p, n, nf, bd, sx, d, t, a, ARRAY[m], j::jsonb, 1, 1
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::text[], $10::text[], $11::text[], $12::text[]) AS x(u, f, p, n, nf, bd, sx, d, t, a, m, j)`,
      cols,
    );
    await db.query(
      'INSERT INTO study_name_words (study_uid, word) SELECT * FROM unnest($1::text[], $2::text[])',
      [wordUids, words],
    );
  }
  // A live database's steady state: autovacuum has run, statistics are fresh.
  await db.exec('VACUUM ANALYZE');
}

interface QidoCase {
  name: string;
  /** `null`: Orthanc has no equivalent (it has no access scope). */
  orthanc: string | null;
  gateway: string;
  /** Token to use at the gateway: admin or the non-admin facility user. */
  asUser: boolean;
}

function qidoMix(n: number): QidoCase[] {
  const deep = Math.floor(n / 2);
  return [
    {
      name: 'name prefix, no diacritics (nguyen van*)',
      orthanc: 'PatientName=nguyen%20van*&limit=100',
      gateway: 'PatientName=nguyen%20van*&limit=100',
      asUser: false,
    },
    {
      name: 'date range + modality (2023 Q1, CT)',
      orthanc: 'StudyDate=20230101-20230331&ModalitiesInStudy=CT&limit=100',
      gateway: 'StudyDate=20230101-20230331&ModalitiesInStudy=CT&limit=100',
      asUser: false,
    },
    // Orthanc has no access scope; its figure is the unfiltered first page, the closest analogue.
    { name: "non-admin user's scope, first page", orthanc: 'limit=100', gateway: 'limit=100', asUser: true },
    {
      name: `deep offset (offset ${deep})`,
      orthanc: `limit=100&offset=${deep}`,
      gateway: `limit=100&offset=${deep}`,
      asUser: false,
    },
  ];
}

interface QidoFigure {
  p50Ms: number;
  p95Ms: number;
  rows: number;
}

async function timeQido(url: string, authorization: string): Promise<QidoFigure> {
  const dispatcher = new Agent({ connections: 1, keepAliveTimeoutThreshold: KEEP_ALIVE_MARGIN_MS });
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < QIDO_WARMUP + QIDO_RUNS; i++) {
    const s = performance.now();
    const res = await request(url, {
      dispatcher,
      headers: { authorization, accept: 'application/dicom+json' },
    });
    const body = await res.body.text();
    const dt = performance.now() - s;
    if (res.statusCode !== 200) throw new Error(`QIDO ${url}: HTTP ${res.statusCode} ${body.slice(0, 200)}`);
    rows = body ? (JSON.parse(body) as unknown[]).length : 0;
    if (i >= QIDO_WARMUP) times.push(dt);
  }
  await dispatcher.close();
  return { p50Ms: r2(percentile(times, 50)), p95Ms: r2(percentile(times, 95)), rows };
}

// ---------------------------------------------------------------------------------------------

function line(label: string, gateway: string, orthanc: string, verdict = ''): void {
  console.log(
    `  ${label.padEnd(44)} gateway ${gateway.padStart(12)}   orthanc ${orthanc.padStart(12)}   ${verdict}`,
  );
}

function histogramP99(metrics: string, name: string): number | null {
  const buckets = [...metrics.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, 'gm'))].map(
    (m) => ({
      le: m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]),
      count: Number(m[2]),
    }),
  );
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return null;
  return buckets.find((b) => b.count >= 0.99 * total)?.le ?? null;
}

async function main(): Promise<void> {
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty =
    execFileSync('git', ['status', '--porcelain', 'server', 'workers/src/archive', 'contracts/jobs.ts'], {
      encoding: 'utf8',
    }).trim() !== '';
  // The machine is shared: the load around the run says how much the figures can be trusted.
  const loadBefore = loadavg().map(r2);
  const stack = await startTestStack();
  const procs: Proc[] = [];
  let db: Db | null = null;
  try {
    const s = stack.info;
    const dataDir = join(s.dataDir, 'bench');
    mkdirSync(dataDir, { recursive: true });
    const databaseUrl = await createDatabase(s.postgresUrl);
    const port = await freePort();
    const base = `http://${LOOPBACK}:${port}`;
    const metricsToken = randomBytes(24).toString('hex');
    procs.push(
      startProcess(
        'gateway-bench',
        'server/src/server.ts',
        {
          ...serviceEnv(s),
          RADLINK_DATA: dataDir,
          RADLINK_HOST: LOOPBACK,
          RADLINK_PORT: String(port),
          RADLINK_TOKEN_SECRET: randomBytes(32).toString('hex'),
          RADLINK_ADMIN_PASSWORD: ADMIN_PASSWORD,
          RADLINK_METRICS_TOKEN: metricsToken,
          RADLINK_LOG_LEVEL: 'info',
          RADLINK_LOG_FILE: join(s.logDir, 'gateway-bench.log'),
          RADLINK_VIEWER_DIR: join(dataDir, 'no-viewer'),
          DATABASE_URL: databaseUrl,
        },
        s.logDir,
        GATEWAY_NODE_OPTIONS ? GATEWAY_NODE_OPTIONS.split(/\s+/).filter(Boolean) : [],
      ),
    );
    procs.push(
      startProcess(
        'workers-bench',
        'workers/src/main.ts',
        {
          ...serviceEnv(s),
          RADLINK_DATA: dataDir,
          RADLINK_WORKERS: 'archive',
          RADLINK_LOG_FILE: join(s.logDir, 'workers-bench.log'),
        },
        s.logDir,
        WORKERS_NODE_OPTIONS ? WORKERS_NODE_OPTIONS.split(/\s+/).filter(Boolean) : [],
      ),
    );
    await waitHttp(`${base}/readyz`, 90_000);
    db = await openDb({ databaseUrl });
    // CPU seconds of every process of the stack (each with its children: PostgreSQL's backends),
    // taken around each phase: where the time goes does not depend on the machine's other load
    // the way throughput does.
    const servicePid = (name: string) => serviceStatus(s.statusFile, name)?.pid ?? null;
    const cpuNow = () =>
      treeCpuSeconds({
        gateway: procs[0]!.child.pid,
        workers: procs[1]!.child.pid,
        orthanc: servicePid('orthanc'),
        postgres: servicePid('postgres'),
        redis: servicePid('redis'),
        s3: servicePid('s3'),
      });
    console.log(`[bench] stack and gateway ready: ${base} (index on PostgreSQL)`);

    // Organisation: facilities, one radiologist each (uploads and the non-admin scope).
    let admin = await login(base, 'admin', ADMIN_PASSWORD);
    for (let f = 0; f < FACILITIES; f++) {
      await api(base, admin, 'POST', '/api/facilities', {
        id: `bench-${f}`,
        name: `Bệnh viện ${f}`,
        tier: 'district',
        parentId: null,
      });
      await api(base, admin, 'POST', '/api/users', {
        username: `bench.u${f}`,
        displayName: `Bác sĩ ${f}`,
        role: 'radiologist',
        facilityId: `bench-${f}`,
        password: PASSWORD,
      });
    }
    let userTokens = await Promise.all(
      Array.from({ length: FACILITIES }, (_, f) => login(base, `bench.u${f}`, PASSWORD)),
    );
    // Bearer tokens live RADLINK_TOKEN_TTL_SECONDS (15 min); a run on a loaded machine outlasts
    // that, so the long phases log in again first.
    const relogin = async () => {
      admin = await login(base, 'admin', ADMIN_PASSWORD);
      userTokens = await Promise.all(
        Array.from({ length: FACILITIES }, (_, f) => login(base, `bench.u${f}`, PASSWORD)),
      );
    };
    const orthanc: Target = {
      name: 'orthanc',
      dicomWeb: `${s.orthanc.url}/dicom-web`,
      authorization: basicAuth(s.orthanc.username, s.orthanc.password),
    };
    const gatewayAs = (token: string): Target => ({
      name: 'gateway',
      dicomWeb: `${base}/dicom-web`,
      authorization: `Bearer ${token}`,
    });
    const gateway = gatewayAs(userTokens[0]!);

    // ---- STOW ----------------------------------------------------------------------------
    console.log(`[bench] generating 2 CT studies of ${CT_SLICES} slices, 512×512 …`);
    const patient = DEMO_PATIENTS[0]!;
    const shape = { patient, modality: 'CT' as const, rows: 512, slices: CT_SLICES, lesions: 1 };
    const studyOrthanc = generateStudy({ seed: 7001, ...shape });
    const studyGateway = generateStudy({ seed: 7002, ...shape });
    const mb = studyGateway.series[0]!.instances.reduce((n, b) => n + b.byteLength, 0) / 1e6;
    if (WARMUP_SLICES > 0) {
      console.log(`[bench] warm-up: ${WARMUP_SLICES} slices stored and read by each target …`);
      const warm = { ...shape, slices: WARMUP_SLICES };
      const warmOrthanc = generateStudy({ seed: 7003, ...warm });
      const warmGateway = generateStudy({ seed: 7004, ...warm });
      await stowAll(orthanc, warmOrthanc.series[0]!.instances, STOW_BATCH, STOW_CONCURRENCY);
      await stowAll(gateway, warmGateway.series[0]!.instances, STOW_BATCH, STOW_CONCURRENCY);
      await waitQuiet(db, base, admin, warmOrthanc.study.studyUid, WARMUP_SLICES);
      await waitQuiet(db, base, admin, warmGateway.study.studyUid, WARMUP_SLICES);
      await readFrames(orthanc, warmOrthanc, READERS);
      await readFrames(gateway, warmGateway, READERS);
    }
    // Orthanc alone: RadLink's gateway and archive worker are paused (SIGSTOP) while Orthanc
    // takes a study of its own, so nothing of RadLink (the change feed indexing what arrives,
    // the archive copying it) shares the CPU with it. The strict peer for the STOW ratio.
    const studyAlone = generateStudy({ seed: 7005, ...shape });
    const cpuStowAlone0 = cpuNow();
    let stowAloneS: number;
    for (const p of procs) p.child.kill('SIGSTOP');
    try {
      stowAloneS = await stowAll(orthanc, studyAlone.series[0]!.instances, STOW_BATCH, STOW_CONCURRENCY);
    } finally {
      for (const p of procs) p.child.kill('SIGCONT');
    }
    const cpuStowAlone = cpuDelta(cpuStowAlone0, cpuNow());
    await waitQuiet(db, base, admin, studyAlone.study.studyUid, CT_SLICES);
    // Orthanc with RadLink running, as deployed: the feed indexes and archives what Orthanc
    // receives while it receives it (how much of that overlaps the upload varies by run).
    const cpuStowOrthanc0 = cpuNow();
    const stowOrthancS = await stowAll(
      orthanc,
      studyOrthanc.series[0]!.instances,
      STOW_BATCH,
      STOW_CONCURRENCY,
    );
    const cpuStowOrthanc = cpuDelta(cpuStowOrthanc0, cpuNow());
    // Orthanc's change feed now indexes and archives what was sent to it directly; let that
    // finish first, or the gateway's STOW would be timed while competing with it for the CPU.
    await waitQuiet(db, base, admin, studyOrthanc.study.studyUid, CT_SLICES);
    const cpuStowGateway0 = cpuNow();
    const stowGatewayS = await stowAll(
      gateway,
      studyGateway.series[0]!.instances,
      STOW_BATCH,
      STOW_CONCURRENCY,
    );
    const cpuStowGateway = cpuDelta(cpuStowGateway0, cpuNow());
    const stowAt = Date.now();
    const stow = {
      instances: CT_SLICES,
      megabytes: r2(mb),
      warmupInstances: WARMUP_SLICES,
      batch: STOW_BATCH,
      concurrency: STOW_CONCURRENCY,
      orthancAlone: {
        seconds: r2(stowAloneS),
        instancesPerSecond: r2(CT_SLICES / stowAloneS),
        cpuSeconds: cpuStowAlone,
      },
      orthanc: {
        seconds: r2(stowOrthancS),
        instancesPerSecond: r2(CT_SLICES / stowOrthancS),
        cpuSeconds: cpuStowOrthanc,
        note: 'Orthanc direct while RadLink indexes and archives what it receives',
      },
      gateway: {
        seconds: r2(stowGatewayS),
        instancesPerSecond: r2(CT_SLICES / stowGatewayS),
        cpuSeconds: cpuStowGateway,
        gatewayCpuMsPerInstance: r2((cpuStowGateway.gateway! * 1000) / CT_SLICES),
      },
      /** Against Orthanc alone: the figure the target is judged on. */
      ratio: ratio(stowAloneS, stowGatewayS),
      ratioWithRadLinkRunning: ratio(stowOrthancS, stowGatewayS),
      target: `>= ${TARGETS.stowRatio} (against Orthanc alone)`,
      pass: stowAloneS / stowGatewayS >= TARGETS.stowRatio,
    };

    // ---- Archive lag ---------------------------------------------------------------------
    let status: { unarchived: number; maxLagSecondsLastHour: number | null } = {
      unarchived: -1,
      maxLagSecondsLastHour: null,
    };
    while (Date.now() - stowAt < 300_000) {
      status = await api(base, admin, 'GET', '/api/archive/status');
      if (status.unarchived === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const lags = (
      await db.query<{ lag: number | null }>(
        'SELECT EXTRACT(EPOCH FROM (archived_at - received_at))::float8 AS lag FROM instances WHERE study_uid = $1',
        [studyGateway.study.studyUid],
      )
    ).map((r) => (r.lag === null ? Number.POSITIVE_INFINITY : Number(r.lag)));
    const metrics = await (
      await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })
    ).text();
    const archive = {
      instances: lags.length,
      archived: lags.filter(Number.isFinite).length,
      p50Seconds: r2(percentile(lags, 50)),
      p99Seconds: r2(percentile(lags, 99)),
      maxSeconds: r2(Math.max(...lags)),
      metricsP99BucketSeconds: histogramP99(metrics, 'radlink_archive_lag_seconds'),
      statusMaxLagSecondsLastHour: status.maxLagSecondsLastHour,
      target: `p99 < ${TARGETS.archiveLagP99Seconds} s`,
      pass: percentile(lags, 99) < TARGETS.archiveLagP99Seconds,
    };

    // ---- WADO-RS frames ------------------------------------------------------------------
    const cpuFrames0 = cpuNow();
    const framesOrthanc = await readFrames(orthanc, studyOrthanc, READERS);
    const cpuFrames1 = cpuNow();
    const framesGateway = await readFrames(gateway, studyGateway, READERS);
    const cpuFrames2 = cpuNow();
    const frames = {
      readers: READERS,
      accept: FRAME_ACCEPT,
      orthanc: { ...framesOrthanc, cpuSeconds: cpuDelta(cpuFrames0, cpuFrames1) },
      gateway: { ...framesGateway, cpuSeconds: cpuDelta(cpuFrames1, cpuFrames2) },
      throughputRatio: ratio(framesGateway.framesPerSecond, framesOrthanc.framesPerSecond),
      p50Ratio: ratio(framesGateway.p50Ms, framesOrthanc.p50Ms),
      p99Ratio: ratio(framesGateway.p99Ms, framesOrthanc.p99Ms),
      target: `throughput >= ${TARGETS.framesThroughputRatio}x, p99 <= ${TARGETS.framesP99Ratio}x Orthanc`,
      pass:
        framesGateway.framesPerSecond >= framesOrthanc.framesPerSecond * TARGETS.framesThroughputRatio &&
        framesGateway.p99Ms <= framesOrthanc.p99Ms * TARGETS.framesP99Ratio,
    };

    // Printed as soon as measured: the QIDO phases below take long on a loaded machine.
    console.log(
      `[bench] STOW ${stow.gateway.instancesPerSecond} vs ${stow.orthancAlone.instancesPerSecond} inst/s alone (ratio ${stow.ratio}), ${stow.orthanc.instancesPerSecond} with RadLink running (ratio ${stow.ratioWithRadLinkRunning}); frames ${framesGateway.framesPerSecond} vs ${framesOrthanc.framesPerSecond} fps (ratio ${frames.throughputRatio}), p50 ${framesGateway.p50Ms} vs ${framesOrthanc.p50Ms} ms, p99 ${framesGateway.p99Ms} vs ${framesOrthanc.p99Ms} ms (ratio ${frames.p99Ratio}); archive lag p99 ${archive.p99Seconds} s; CPU s during STOW: orthanc alone ${JSON.stringify(cpuStowAlone)}, orthanc-direct ${JSON.stringify(cpuStowOrthanc)}, gateway ${JSON.stringify(cpuStowGateway)}; load ${loadBefore.join(' ')} -> ${loadavg().map(r2).join(' ')}`,
    );

    if (ONLY_STOW_FRAMES) return;

    // ---- QIDO at QIDO_STUDIES (both) -----------------------------------------------------
    console.log(`[bench] STOWing ${QIDO_STUDIES} small studies through the gateway for QIDO …`);
    const rnd = rng(42);
    const fakes = Array.from({ length: QIDO_BIG }, (_, i) => fakeStudy(rnd, i));
    const small = fakes.slice(0, QIDO_STUDIES);
    const tinyStart = performance.now();
    for (let f = 0; f < FACILITIES; f++) {
      await relogin();
      const mine = small
        .filter((x) => x.facility === f)
        .map(
          (x) =>
            tinyDicom({
              patientName: x.name,
              patientId: x.patientId,
              studyDate: x.date,
              modality: x.modality,
              accessionNumber: `BA${x.index}`,
            }).bytes,
        );
      await stowAll(gatewayAs(userTokens[f]!), mine, 100, STOW_CONCURRENCY);
    }
    const tinySeconds = (performance.now() - tinyStart) / 1000;
    console.log(
      `[bench] ${QIDO_STUDIES} studies in ${tinySeconds.toFixed(1)} s (${r2(QIDO_STUDIES / tinySeconds)} instances/s)`,
    );

    await relogin();
    const qidoSmall: Record<
      string,
      { orthanc: QidoFigure | null; gateway: QidoFigure; p95Ratio: number | null }
    > = {};
    for (const c of qidoMix(QIDO_STUDIES)) {
      const g = await timeQido(
        `${base}/dicom-web/studies?${c.gateway}`,
        `Bearer ${c.asUser ? userTokens[1]! : admin}`,
      );
      const o =
        c.orthanc === null
          ? null
          : await timeQido(`${orthanc.dicomWeb}/studies?${c.orthanc}`, orthanc.authorization);
      qidoSmall[c.name] = { orthanc: o, gateway: g, p95Ratio: o ? ratio(g.p95Ms, o.p95Ms) : null };
    }

    // ---- QIDO at QIDO_BIG (gateway only) -------------------------------------------------
    console.log(`[bench] adding ${QIDO_BIG - QIDO_STUDIES} studies to the index …`);
    await seedIndex(db, fakes.slice(QIDO_STUDIES));
    await relogin();
    const qidoBig: Record<string, QidoFigure & { pass: boolean }> = {};
    for (const c of qidoMix(QIDO_BIG)) {
      const g = await timeQido(
        `${base}/dicom-web/studies?${c.gateway}`,
        `Bearer ${c.asUser ? userTokens[1]! : admin}`,
      );
      qidoBig[c.name] = { ...g, pass: g.p95Ms < TARGETS.qidoP95Ms };
    }

    // ---- Report --------------------------------------------------------------------------
    const pass = (b: boolean) => (b ? 'PASS' : 'FAIL');
    console.log(
      `\nDICOMweb benchmark — commit ${commit.slice(0, 12)}${dirty ? ' (+ uncommitted gateway or archive-worker changes)' : ''}`,
    );
    console.log(
      `STOW-RS: ${CT_SLICES} CT instances (${r2(mb)} MB), ${STOW_BATCH} per request, ${STOW_CONCURRENCY} at once`,
    );
    line(
      'instances/s',
      String(stow.gateway.instancesPerSecond),
      String(stow.orthancAlone.instancesPerSecond),
      `ratio ${stow.ratio} (target >= ${TARGETS.stowRatio}) ${pass(stow.pass)}`,
    );
    line(
      'vs Orthanc with RadLink running',
      String(stow.gateway.instancesPerSecond),
      String(stow.orthanc.instancesPerSecond),
      `ratio ${stow.ratioWithRadLinkRunning}`,
    );
    console.log('Archive lag (received -> verified S3 copy):');
    console.log(
      `  p50 ${archive.p50Seconds} s, p99 ${archive.p99Seconds} s, max ${archive.maxSeconds} s (${archive.archived}/${archive.instances} archived; target p99 < ${TARGETS.archiveLagP99Seconds} s) ${pass(archive.pass)}`,
    );
    console.log(`WADO-RS frames: ${READERS} concurrent readers, transfer-syntax=*, each frame once (cold)`);
    line(
      'frames/s',
      String(framesGateway.framesPerSecond),
      String(framesOrthanc.framesPerSecond),
      `ratio ${frames.throughputRatio} (target >= 1)`,
    );
    line('MB/s', String(framesGateway.megabytesPerSecond), String(framesOrthanc.megabytesPerSecond));
    line('p50 ms', String(framesGateway.p50Ms), String(framesOrthanc.p50Ms), `ratio ${frames.p50Ratio}`);
    line(
      'p99 ms',
      String(framesGateway.p99Ms),
      String(framesOrthanc.p99Ms),
      `ratio ${frames.p99Ratio} (target <= ${TARGETS.framesP99Ratio}) ${pass(frames.pass)}`,
    );
    console.log(`QIDO-RS studies at ${QIDO_STUDIES} studies: p50 / p95 ms (rows)`);
    for (const [name, v] of Object.entries(qidoSmall)) {
      const o = v.orthanc ? `${v.orthanc.p50Ms}/${v.orthanc.p95Ms} (${v.orthanc.rows})` : 'n/a';
      line(
        name,
        `${v.gateway.p50Ms}/${v.gateway.p95Ms} (${v.gateway.rows})`,
        o,
        v.p95Ratio === null ? '' : `p95 ratio ${v.p95Ratio}`,
      );
    }
    console.log(
      `QIDO-RS studies at ${QIDO_BIG} studies, gateway only: p50 / p95 ms (rows), target p95 < ${TARGETS.qidoP95Ms} ms`,
    );
    for (const [name, v] of Object.entries(qidoBig))
      line(name, `${v.p50Ms}/${v.p95Ms} (${v.rows})`, '', pass(v.pass));

    const results = {
      commit,
      uncommittedServerChanges: dirty,
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? null,
        memoryGiB: r2(totalmem() / 2 ** 30),
        node: process.version,
        loadAverageBefore: loadBefore,
        loadAverageAfter: loadavg().map(r2),
      },
      setup: {
        orthanc:
          'Orthanc 1.10.1 + DICOMweb 1.7 (Debian), SQLite index, repository orthanc-config/orthanc.json',
        gateway:
          'server/src/server.ts process, index on PostgreSQL 15, log level info; archive worker process',
        coldCaches:
          'fresh processes; each target reads a study nobody read before (two studies of identical shape)',
      },
      targets: TARGETS,
      stow,
      archive,
      frames,
      qido: {
        runs: QIDO_RUNS,
        warmup: QIDO_WARMUP,
        stowOfSmallStudies: {
          studies: QIDO_STUDIES,
          seconds: r2(tinySeconds),
          instancesPerSecond: r2(QIDO_STUDIES / tinySeconds),
        },
        [`at${QIDO_STUDIES}`]: qidoSmall,
        [`at${QIDO_BIG}GatewayOnly`]: qidoBig,
        notes: [
          'Orthanc has no access scope: its figure for the non-admin query is the unfiltered first page.',
          'Orthanc matches PatientName with its own rules; the row counts show what each answered.',
        ],
      },
    };
    const file = join(REPO_ROOT, 'bench', 'results', 'dicomweb.json');
    mkdirSync(join(REPO_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nwritten ${file}`);
  } finally {
    await db?.close().catch(() => undefined);
    for (const p of procs.reverse()) await p.stop();
    await stack.stop();
  }
}

await main();
