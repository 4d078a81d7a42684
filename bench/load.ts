/**
 * Load benchmark (issue 7 item 5): 50 concurrent viewers scrolling 300-slice CT series through
 * the gateway on loopback while a modality stores a 100-slice CT every 10 s by DIMSE C-STORE,
 * for 10 minutes; then the same viewer load against Orthanc's own DICOMweb (same series, same
 * concurrency, ingest still running) so the frame latencies can be put as a ratio against
 * issue 3's target (gateway frame p99 ≤ 1.15× Orthanc's). Writes bench/results/load.json.
 *
 *   npm run bench bench/load.ts                                   # the full run (~20 min)
 *   npm run bench -- bench/load.ts --duration 60 --peer-duration 30 --viewers 5 --out /tmp/load.json
 *   BENCH_LOAD_DURATION_S=60 BENCH_LOAD_VIEWERS=5 npm run bench bench/load.ts
 *
 * Set-up, and why:
 *  - A fresh stack (startTestStack: Orthanc, Redis, PostgreSQL, s3rver), the gateway and the
 *    workers (archive, thumbnails) as their own processes, as in production (bench/lib/processes.ts);
 *    the index on PostgreSQL. AI workers are not started: inference on every new CT would be a
 *    different benchmark (bench/ai-pipeline.ts).
 *  - Viewers (bench/lib/viewer-load.ts): each logs in as its own radiologist of the facility that
 *    owns the series (own-facility access), opens a series (WADO-RS metadata) and scrolls it
 *    frame by frame as Cornerstone does, a few requests in flight, pass after pass, then the next
 *    series. The series are several distinct synthetic 300-slice 512×512 CTs (generateStudy, as
 *    bench/viewer.ts and bench/dicomweb.ts make them), STOWed through the gateway beforehand.
 *  - Ingest (bench/lib/modality.ts): DCMTK storescu from an AE title registered for the facility
 *    to Orthanc's DICOM port, one 100-slice study per interval, each in its own association
 *    started on time whatever the earlier ones are doing (at most 3 open; a slot finding 3 open
 *    is skipped and counted). The gateway learns of them through Orthanc's change feed; how long
 *    that takes is measured per study by polling the index every 0.5 s.
 *  - Order: Orthanc directly for half the peer time, the gateway, Orthanc for the other half, so
 *    drift in the shared machine's load does not favour one side; ingest runs throughout.
 *  - Besides latencies (which depend on whatever else the shared machine runs), the CPU seconds
 *    each process used per phase, from /proc.
 *  - Everything shares the machine's cores with the load generator (this process) and with
 *    whatever else runs there: the load average is sampled and recorded.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { DEMO_PATIENTS } from '../scripts/demo/patients.js';
import { generateStudy } from '../scripts/demo/synth/study.js';
import { basicAuth } from '../scripts/services/orthanc.js';
import { REPO_ROOT } from '../scripts/services/paths.js';
import { freePort, LOOPBACK } from '../scripts/services/ports.js';
import { createDatabase } from '../scripts/services/postgres.js';
import { type Db, openDb } from '../server/src/db/client.js';
import { buildMultipartRelated } from '../server/src/dicomweb/multipart.js';
import { startTestStack } from '../tests/helpers/global-setup.js';
import { serviceEnv } from '../tests/helpers/stack-env.js';
import { api, login, waitHttp } from './lib/gateway-api.js';
import { Modality, type SentStudy } from './lib/modality.js';
import { type Proc, serviceStatus, startProcess } from './lib/processes.js';
import { Sampler } from './lib/sampler.js';
import { percentile, r2 } from './lib/stats.js';
import {
  FRAME_ACCEPT,
  runViewerLoad,
  type SeriesRef,
  summariseLoad,
  type ViewerLoadOptions,
  type ViewerLoadResult,
  type ViewerTarget,
} from './lib/viewer-load.js';

// ---------------------------------------------------------------------------------------------
// Parameters: command line, else environment, else the issue's figures

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string' },
    'peer-duration': { type: 'string' },
    viewers: { type: 'string' },
    'in-flight': { type: 'string' },
    series: { type: 'string' },
    'ingest-interval': { type: 'string' },
    out: { type: 'string' },
  },
  allowPositionals: false,
});
const num = (arg: string | undefined, env: string, d: number) => {
  const v = Number(arg ?? process.env[env] ?? d);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${env} / --option must be a positive number`);
  return v;
};
const FULL = { durationS: 600, viewers: 50, ingestIntervalS: 10, ingestSlices: 100, slices: 300 };
const DURATION_S = num(args.duration, 'BENCH_LOAD_DURATION_S', FULL.durationS);
const PEER_DURATION_S = num(args['peer-duration'], 'BENCH_LOAD_PEER_DURATION_S', 300);
const VIEWERS = num(args.viewers, 'BENCH_LOAD_VIEWERS', FULL.viewers);
const IN_FLIGHT = num(args['in-flight'], 'BENCH_LOAD_IN_FLIGHT', 4);
const SERIES = num(args.series, 'BENCH_LOAD_SERIES', 4);
const INGEST_INTERVAL_S = num(args['ingest-interval'], 'BENCH_LOAD_INGEST_INTERVAL_S', FULL.ingestIntervalS);
const INGEST_SLICES = FULL.ingestSlices;
const SLICES = FULL.slices;
const SIZE = 512;
const PASSES_PER_OPEN = 2;
const RAMP_MS = 10_000;
const REQUEST_TIMEOUT_MS = 60_000;
const OUT = resolve(
  args.out ?? process.env.BENCH_LOAD_OUT ?? join(REPO_ROOT, 'bench', 'results', 'load.json'),
);
const FACILITY = 'load-central';
const AET = 'LOADCT01';
const PASSWORD = 'bench-load-password-2026';
const ADMIN_PASSWORD = 'bench-load-admin-2026';
const KEEP_ALIVE_MARGIN_MS = 500;
const DRAIN_TIMEOUT_MS = 300_000;
const MAX_ASSOCIATIONS = 3;
const TARGETS = { framesP99Ratio: 1.15, errors: 0 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Gateway API helpers

/** STOW-RS of one series through the gateway, 20 instances per request, 4 requests at once. */
async function stowSeries(base: string, token: string, instances: Uint8Array[]): Promise<void> {
  const batches: Uint8Array[][] = [];
  for (let i = 0; i < instances.length; i += 20) batches.push(instances.slice(i, i + 20));
  const dispatcher = new Agent({ connections: 4 });
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < batches.length) {
          const { body, contentType } = buildMultipartRelated(
            batches[next++]!.map((b) => ({ contentType: 'application/dicom', body: b })),
            'application/dicom',
          );
          const res = await request(`${base}/dicom-web/studies`, {
            method: 'POST',
            dispatcher,
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': contentType,
              accept: 'application/dicom+json',
            },
            body,
          });
          const text = await res.body.text();
          if (res.statusCode !== 200) throw new Error(`STOW: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
        }
      }),
    );
  } finally {
    await dispatcher.close();
  }
}

async function indexedCounts(db: Db, studyUids: string[]): Promise<Map<string, number>> {
  if (studyUids.length === 0) return new Map();
  const rows = await db.query<{ study_uid: string; n: number }>(
    'SELECT study_uid, count(*)::int AS n FROM instances WHERE study_uid = ANY($1::text[]) GROUP BY study_uid',
    [studyUids],
  );
  return new Map(rows.map((r) => [r.study_uid, r.n]));
}

function metricValue(metrics: string, name: string): number | null {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : null;
}

function histogramBucketP99(metrics: string, name: string): number | null {
  const buckets = [...metrics.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, 'gm'))].map(
    (m) => ({ le: m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), count: Number(m[2]) }),
  );
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const le = buckets.find((b) => b.count >= 0.99 * total)?.le ?? null;
  return le === Number.POSITIVE_INFINITY ? null : le;
}

// ---------------------------------------------------------------------------------------------
// Ingest: the modality, and the index watcher that times each study into the index

interface IngestRecord extends SentStudy {
  phase: string;
  /** When the index first held every instance the store acknowledged. */
  indexedAt: number | null;
}

class Ingest {
  readonly studies: IngestRecord[] = [];
  skippedSlots = 0;
  peakAssociations = 0;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private watcher: NodeJS.Timeout | null = null;
  private watching = false;

  constructor(
    private readonly modality: Modality,
    private readonly db: Db,
    private readonly intervalMs: number,
    private readonly phase: () => string,
  ) {}

  start(): void {
    this.loop = this.run();
    this.watcher = setInterval(() => void this.watch(), 500);
  }

  /**
   * Open loop: a study starts at every slot whatever the previous ones are doing, as the
   * issue's rate is what the scanners offer, not what the stack accepts. Slow stores overlap (at
   * most MAX_ASSOCIATIONS at once, like a few modalities of one facility); a slot finding that
   * many still open is skipped and counted.
   */
  private async run(): Promise<void> {
    let slot = Date.now();
    const open = new Set<Promise<void>>();
    while (!this.stopping) {
      const now = Date.now();
      if (now < slot) {
        await sleep(Math.min(200, slot - now));
        continue;
      }
      if (open.size >= MAX_ASSOCIATIONS) {
        this.skippedSlots++;
      } else {
        const phase = this.phase();
        const p: Promise<void> = this.modality
          .sendStudy(slot)
          .then((sent) => {
            this.studies.push({ ...sent, phase, indexedAt: null });
          })
          .finally(() => open.delete(p));
        open.add(p);
        this.peakAssociations = Math.max(this.peakAssociations, open.size);
      }
      slot += this.intervalMs;
    }
    await Promise.all(open);
  }

  /** Marks studies whose acknowledged instances are all in the index. */
  async watch(): Promise<void> {
    if (this.watching) return;
    this.watching = true;
    try {
      const pending = this.studies.filter((s) => s.indexedAt === null && s.stored > 0);
      const counts = await indexedCounts(
        this.db,
        pending.map((s) => s.studyUid),
      );
      const now = Date.now();
      for (const s of pending) if ((counts.get(s.studyUid) ?? 0) >= s.stored) s.indexedAt = now;
    } catch {
      /* the next tick tries again */
    } finally {
      this.watching = false;
    }
  }

  /** Stops after the studies being sent (never cuts an association short). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  stopWatching(): void {
    if (this.watcher) clearInterval(this.watcher);
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty =
    execFileSync('git', ['status', '--porcelain', 'server', 'workers/src', 'contracts'], {
      encoding: 'utf8',
    }).trim() !== '';
  const full =
    DURATION_S >= FULL.durationS && VIEWERS === FULL.viewers && INGEST_INTERVAL_S === FULL.ingestIntervalS;
  const loadBefore = loadavg().map(r2);
  const startedAt = new Date().toISOString();
  console.log(
    `[load] ${VIEWERS} viewers × ${IN_FLIGHT} in flight, ${SERIES} series of ${SLICES} slices; gateway ${DURATION_S} s, Orthanc ${PEER_DURATION_S} s; a ${INGEST_SLICES}-slice CT every ${INGEST_INTERVAL_S} s${full ? '' : ' (development run)'}`,
  );

  const stack = await startTestStack();
  const procs: Proc[] = [];
  let db: Db | null = null;
  let sampler: Sampler | null = null;
  let ingest: Ingest | null = null;
  try {
    const s = stack.info;
    const dataDir = join(s.dataDir, 'bench');
    mkdirSync(dataDir, { recursive: true });
    const databaseUrl = await createDatabase(s.postgresUrl);
    const port = await freePort();
    const base = `http://${LOOPBACK}:${port}`;
    const metricsToken = randomBytes(24).toString('hex');
    const gateway = startProcess(
      'gateway-load',
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
        RADLINK_LOG_FILE: join(s.logDir, 'gateway-load.log'),
        RADLINK_VIEWER_DIR: join(dataDir, 'no-viewer'),
        DATABASE_URL: databaseUrl,
      },
      s.logDir,
    );
    procs.push(gateway);
    const workers = startProcess(
      'workers-load',
      'workers/src/main.ts',
      {
        ...serviceEnv(s),
        RADLINK_DATA: dataDir,
        RADLINK_WORKERS: 'archive,thumbnails',
        RADLINK_LOG_FILE: join(s.logDir, 'workers-load.log'),
      },
      s.logDir,
    );
    procs.push(workers);
    await waitHttp(`${base}/readyz`, 90_000);
    db = await openDb({ databaseUrl });
    console.log(`[load] stack and gateway ready: ${base} (index on PostgreSQL); logs in ${s.logDir}`);

    // ---- Organisation: one facility, its radiologists (one per viewer), its modality ---------
    const admin = await login(base, 'admin', ADMIN_PASSWORD);
    await api(base, admin, 'POST', '/api/facilities', {
      id: FACILITY,
      name: 'Bệnh viện Trung ương Tải',
      tier: 'central',
      parentId: null,
    });
    const usernames = Array.from({ length: VIEWERS }, (_, v) => `load.r${String(v).padStart(2, '0')}`);
    for (const username of usernames) {
      await api(base, admin, 'POST', '/api/users', {
        username,
        displayName: `Bác sĩ ${username}`,
        role: 'radiologist',
        facilityId: FACILITY,
        password: PASSWORD,
      });
    }
    await api(base, admin, 'PUT', `/api/facilities/${FACILITY}/ae-titles`, [
      { aeTitle: AET, host: '127.0.0.1', port: null },
    ]);

    // ---- The series the viewers read ---------------------------------------------------------
    const uploader = await login(base, usernames[0]!, PASSWORD);
    const series: SeriesRef[] = [];
    let seriesMegabytes = 0;
    for (let k = 0; k < SERIES; k++) {
      const t0 = Date.now();
      const study = generateStudy({
        seed: 7700 + k,
        patient: DEMO_PATIENTS[k % DEMO_PATIENTS.length]!,
        modality: 'CT',
        rows: SIZE,
        cols: SIZE,
        slices: SLICES,
        lesions: 1,
      });
      const sr = study.series[0]!;
      seriesMegabytes = sr.instances.reduce((n, b) => n + b.byteLength, 0) / 1e6;
      await stowSeries(base, uploader, sr.instances);
      series.push({ studyUid: study.study.studyUid, seriesUid: sr.seriesUid });
      console.log(
        `[load] series ${k + 1}/${SERIES}: generated and stored in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
    // Start from quiet: the index holds every instance and the archive has copied them.
    const quietDeadline = Date.now() + 300_000;
    for (;;) {
      const counts = await indexedCounts(
        db,
        series.map((x) => x.studyUid),
      );
      const status = await api<{ unarchived: number }>(base, admin, 'GET', '/api/archive/status');
      if (series.every((x) => counts.get(x.studyUid) === SLICES) && status.unarchived === 0) break;
      if (Date.now() > quietDeadline) throw new Error('series not indexed and archived after 300 s');
      await sleep(1000);
    }

    // ---- The modality's template series ---------------------------------------------------------
    const templateStudy = generateStudy({
      seed: 7799,
      patient: DEMO_PATIENTS[0]!,
      modality: 'CT',
      rows: SIZE,
      cols: SIZE,
      slices: INGEST_SLICES,
      lesions: 1,
    });
    const modality = new Modality({
      aet: AET,
      calledAet: s.orthanc.aet,
      host: LOOPBACK,
      port: s.orthanc.dicomPort,
      workDir: join(dataDir, 'modality'),
      template: templateStudy.series[0]!.instances,
      patientIdPrefix: 'LD',
    });

    // ---- Sampling: gateway, Orthanc and workers memory; load average --------------------------
    const orthancStatus = () => serviceStatus(s.statusFile, 'orthanc');
    const orthancPid = () => orthancStatus()?.pid ?? null;
    sampler = new Sampler({
      gateway: () => gateway.child.pid,
      orthanc: orthancPid,
      workers: () => workers.child.pid,
      loadGenerator: () => process.pid,
    });
    sampler.start();
    let phase = 'gateway';
    ingest = new Ingest(modality, db, INGEST_INTERVAL_S * 1000, () => phase);

    // ---- Phase 1: viewers through the gateway -------------------------------------------------
    const viewerOptions = (durationS: number): ViewerLoadOptions => ({
      viewers: VIEWERS,
      inFlight: IN_FLIGHT,
      passesPerOpen: PASSES_PER_OPEN,
      durationMs: durationS * 1000,
      rampMs: Math.min(RAMP_MS, (durationS * 1000) / 4),
      series,
      slices: SLICES,
      minFrameBytes: SIZE * SIZE * 2,
      timeoutMs: REQUEST_TIMEOUT_MS,
      keepAliveMarginMs: KEEP_ALIVE_MARGIN_MS,
    });
    const gatewayTarget: ViewerTarget = {
      name: 'gateway',
      dicomWeb: `${base}/dicom-web`,
      async authenticate(v, dispatcher) {
        const t0 = performance.now();
        try {
          const res = await request(`${base}/api/auth/login`, {
            method: 'POST',
            dispatcher,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ username: usernames[v], password: PASSWORD }),
          });
          const text = await res.body.text();
          const requestMs = performance.now() - t0;
          if (res.statusCode !== 200) {
            return {
              credentials: { authorization: '', renewAt: 0 },
              requestMs,
              error: {
                atSeconds: 0,
                viewer: v,
                request: 'login',
                kind: 'http',
                status: res.statusCode,
                detail: `HTTP ${res.statusCode}`,
              },
            };
          }
          const { token, expiresIn } = JSON.parse(text) as { token: string; expiresIn: number };
          // Renew a minute before expiry, as the viewer's session refresh does.
          return {
            credentials: { authorization: `Bearer ${token}`, renewAt: Date.now() + (expiresIn - 60) * 1000 },
            requestMs,
          };
        } catch (err) {
          return {
            credentials: { authorization: '', renewAt: 0 },
            requestMs: performance.now() - t0,
            error: {
              atSeconds: 0,
              viewer: v,
              request: 'login',
              kind: 'network',
              detail: (err as { code?: string }).code ?? 'error',
            },
          };
        }
      },
    };
    const orthancTarget: ViewerTarget = {
      name: 'orthanc',
      dicomWeb: `${s.orthanc.url}/dicom-web`,
      authenticate: async () => ({
        credentials: {
          authorization: basicAuth(s.orthanc.username, s.orthanc.password),
          renewAt: Number.POSITIVE_INFINITY,
        },
        requestMs: null,
      }),
    };

    // The machine is shared and its load drifts: the Orthanc peer runs in two halves, before and
    // after the gateway, so that neither side alone meets a quieter or busier stretch.
    const peerHalf = PEER_DURATION_S / 2;
    const report = (r: ViewerLoadResult) =>
      console.log(
        `[load] ${r.target}: ${r.requests.total} requests, ${r.errors.count} errors, frames p50/p95/p99 ${r.frames.p50Ms}/${r.frames.p95Ms}/${r.frames.p99Ms} ms, ${r.frames.perSecond} frames/s`,
      );
    phase = 'orthanc';
    sampler.setPhase('orthanc');
    ingest.start();
    console.log(`[load] Orthanc directly, first half: ${VIEWERS} viewers for ${peerHalf} s, ingest running`);
    const orthancA = await runViewerLoad(orthancTarget, viewerOptions(peerHalf));
    report(summariseLoad([orthancA]));

    phase = 'gateway';
    sampler.setPhase('gateway');
    console.log(`[load] through the gateway: ${VIEWERS} viewers for ${DURATION_S} s, ingest running`);
    const gatewayRun = summariseLoad([await runViewerLoad(gatewayTarget, viewerOptions(DURATION_S))]);
    report(gatewayRun);

    phase = 'orthanc';
    sampler.setPhase('orthanc');
    console.log(`[load] Orthanc directly, second half: ${VIEWERS} viewers for ${peerHalf} s, ingest running`);
    const orthancB = await runViewerLoad(orthancTarget, viewerOptions(peerHalf));
    const orthancRun = summariseLoad([orthancA, orthancB]);
    report(orthancRun);

    // ---- End: stop the modality, then how far behind the index is, then let it catch up -------
    phase = 'drain';
    sampler.setPhase('drain');
    await ingest.stop();
    const lastStoreEnd = Math.max(0, ...ingest.studies.map((x) => x.endedAt));
    await ingest.watch();
    const atEndCounts = await indexedCounts(
      db,
      ingest.studies.map((x) => x.studyUid),
    );
    const acknowledged = ingest.studies.reduce((n, x) => n + x.stored, 0);
    const indexedAtEnd = ingest.studies.reduce(
      (n, x) => n + Math.min(x.stored, atEndCounts.get(x.studyUid) ?? 0),
      0,
    );
    const behindAtEnd = ingest.studies.filter((x) => x.indexedAt === null && x.stored > 0).length;
    const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (ingest.studies.some((x) => x.indexedAt === null && x.stored > 0) && Date.now() < drainDeadline) {
      await sleep(500);
      await ingest.watch();
    }
    ingest.stopWatching();
    const finalCounts = await indexedCounts(
      db,
      ingest.studies.map((x) => x.studyUid),
    );
    const indexedFinal = ingest.studies.reduce(
      (n, x) => n + Math.min(x.stored, finalCounts.get(x.studyUid) ?? 0),
      0,
    );
    const lastIndexed = Math.max(0, ...ingest.studies.map((x) => x.indexedAt ?? 0));
    // Orthanc's own count of what storescu was told was stored.
    let inOrthanc = 0;
    const orthancAuth = basicAuth(s.orthanc.username, s.orthanc.password);
    for (const st of ingest.studies) {
      const res = await fetch(`${s.orthanc.url}/tools/find`, {
        method: 'POST',
        headers: { authorization: orthancAuth, 'content-type': 'application/json' },
        body: JSON.stringify({ Level: 'Instance', Query: { StudyInstanceUID: st.studyUid } }),
      });
      inOrthanc += ((await res.json()) as string[]).length;
    }
    const metrics = await (
      await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })
    ).text();
    const orthancLastSeq = (
      (await (
        await fetch(`${s.orthanc.url}/changes?last`, { headers: { authorization: orthancAuth } })
      ).json()) as {
        Last: number;
      }
    ).Last;
    // The run outlasts a bearer token (RADLINK_TOKEN_TTL_SECONDS): log in again.
    const archive = await api<{ unarchived: number; maxLagSecondsLastHour: number | null }>(
      base,
      await login(base, 'admin', ADMIN_PASSWORD),
      'GET',
      '/api/archive/status',
    );
    sampler.stop();

    // ---- Figures ----------------------------------------------------------------------------
    const lagS = ingest.studies
      .filter((x) => x.indexedAt !== null)
      .map((x) => Math.max(0, (x.indexedAt! - x.endedAt) / 1000));
    const storeS = ingest.studies.map((x) => (x.endedAt - x.startedAt) / 1000);
    // The lag split by the phase a study was sent in: viewers reading Orthanc directly hold its
    // HTTP threads, which the change feed needs too, so the tails differ by phase.
    const lagByPhase = Object.fromEntries(
      [...new Set(ingest.studies.map((x) => x.phase))].map((p) => {
        const xs = ingest!.studies.filter((x) => x.phase === p && x.indexedAt !== null);
        const ls = xs.map((x) => Math.max(0, (x.indexedAt! - x.endedAt) / 1000));
        return [
          p,
          {
            studies: ls.length,
            p50: r2(percentile(ls, 50)),
            p95: r2(percentile(ls, 95)),
            max: r2(Math.max(0, ...ls)),
          },
        ];
      }),
    );
    const ingestByPhase = (p: string) => {
      const xs = ingest!.studies.filter((x) => x.phase === p);
      return { studies: xs.length, instancesStored: xs.reduce((n, x) => n + x.stored, 0) };
    };
    const failures = ingest.studies.filter((x) => x.failed > 0 || x.exitCode !== 0);
    const ratio = (a: number, b: number) => (b > 0 ? r2(a / b) : null);
    const p99Ratio = ratio(gatewayRun.frames.p99Ms, orthancRun.frames.p99Ms);
    const sampleAll = sampler.figures('gateway', 'orthanc', 'drain');
    const gatewayCpu = sampler.figures('gateway');
    const orthancCpu = sampler.figures('orthanc');
    const perFrame = (cpu: Record<string, number>, frames: number) =>
      frames > 0
        ? r2((((cpu.gateway ?? 0) + (cpu.orthanc ?? 0) + (cpu.workers ?? 0)) * 1000) / frames)
        : null;
    const result = {
      benchmark: 'load (issue 7 item 5)',
      commit,
      uncommittedServerChanges: dirty,
      fullRun: full,
      date: startedAt,
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? null,
        memoryGiB: r2(totalmem() / 2 ** 30),
        node: process.version,
        shared: 'shared with other engineers’ test runs; see loadAverage',
        loadAverage: {
          before: loadBefore,
          after: loadavg().map(r2),
          gatewayPhase1m: gatewayCpu.loadAverage1m,
          orthancPhase1m: orthancCpu.loadAverage1m,
          wholeRun1m: sampleAll.loadAverage1m,
        },
      },
      setup: {
        stack:
          'Orthanc 1.10.1 + DICOMweb 1.7 (Debian, SQLite index, orthanc-config/orthanc.json), Redis, s3rver, PostgreSQL 15; gateway (server/src/server.ts, index on PostgreSQL, log level info) and workers (archive, thumbnails; no AI) as their own processes; all on loopback',
        viewers: VIEWERS,
        requestsInFlightPerViewer: IN_FLIGHT,
        connectionsPerViewer: IN_FLIGHT,
        series: {
          count: SERIES,
          slices: SLICES,
          rows: SIZE,
          columns: SIZE,
          megabytesEach: r2(seriesMegabytes),
        },
        viewerModel: `log in (gateway: own radiologist account of the owning facility), WADO-RS series metadata, then frame 1 of every slice per pass (${PASSES_PER_OPEN} passes per series, down then up, from a random slice), then the next series; ${RAMP_MS / 1000} s ramp-up; no think time`,
        frameAccept: FRAME_ACCEPT,
        requestTimeoutSeconds: REQUEST_TIMEOUT_MS / 1000,
        phases: {
          gatewaySeconds: DURATION_S,
          orthancPeerSeconds: PEER_DURATION_S,
          order:
            'Orthanc directly (first half of its time), the gateway, Orthanc directly (second half); ingest runs throughout',
          peerNote:
            PEER_DURATION_S < DURATION_S
              ? `the Orthanc peer run is shorter (${PEER_DURATION_S} s) than the gateway run (${DURATION_S} s)`
              : null,
        },
        ingest: {
          sliceCount: INGEST_SLICES,
          intervalSeconds: INGEST_INTERVAL_S,
          how: `DCMTK storescu, AE title ${AET} registered for the viewers' facility, to Orthanc's DICOM port; one association per study started at every slot (open loop, at most ${MAX_ASSOCIATIONS} at once); template series re-UIDed per study`,
        },
        loadGenerator: 'this Node process (undici), on the same machine',
      },
      targets: {
        framesP99Ratio: `gateway frame p99 <= ${TARGETS.framesP99Ratio} x Orthanc's (issue 3)`,
        errors: TARGETS.errors,
      },
      gateway: gatewayRun,
      orthanc: orthancRun,
      comparison: {
        p50Ratio: ratio(gatewayRun.frames.p50Ms, orthancRun.frames.p50Ms),
        p95Ratio: ratio(gatewayRun.frames.p95Ms, orthancRun.frames.p95Ms),
        p99Ratio,
        throughputRatio: ratio(gatewayRun.frames.perSecond, orthancRun.frames.perSecond),
        framesP99Target: TARGETS.framesP99Ratio,
        framesP99Met: p99Ratio !== null && p99Ratio <= TARGETS.framesP99Ratio,
        gatewayErrorsMet: gatewayRun.errors.count === TARGETS.errors,
      },
      ingest: {
        studiesStored: ingest.studies.filter((x) => x.stored === x.instances).length,
        studiesAttempted: ingest.studies.length,
        instancesAcknowledged: acknowledged,
        byPhase: { gateway: ingestByPhase('gateway'), orthanc: ingestByPhase('orthanc') },
        cStoreFailures: {
          instances: ingest.studies.reduce((n, x) => n + x.failed, 0),
          studies: failures.length,
          first: failures
            .slice(0, 5)
            .map((x) => ({ study: x.index, exitCode: x.exitCode, message: x.message })),
        },
        skippedSlots: ingest.skippedSlots,
        maxAssociations: MAX_ASSOCIATIONS,
        peakConcurrentAssociations: ingest.peakAssociations,
        storeSeconds: {
          p50: r2(percentile(storeS, 50)),
          max: r2(Math.max(0, ...storeS)),
        },
        indexLagSeconds: {
          what: 'storescu finished -> every acknowledged instance of the study in the index (polled every 0.5 s)',
          p50: r2(percentile(lagS, 50)),
          p95: r2(percentile(lagS, 95)),
          max: r2(Math.max(0, ...lagS)),
          byPhaseSentIn: lagByPhase,
          metricsP99BucketSeconds: histogramBucketP99(metrics, 'radlink_index_lag_seconds'),
        },
        atEnd: {
          studiesNotYetFullyIndexed: behindAtEnd,
          instancesIndexed: indexedAtEnd,
          instancesAcknowledged: acknowledged,
          feedCursor: metricValue(metrics, 'radlink_index_feed_cursor'),
          orthancLastChange: orthancLastSeq,
        },
        afterDrain: {
          allIndexed: indexedFinal === acknowledged,
          instancesIndexed: indexedFinal,
          instancesMissingFromIndex: acknowledged - indexedFinal,
          secondsAfterLastStore:
            lastIndexed > 0 ? r2(Math.max(0, (lastIndexed - lastStoreEnd) / 1000)) : null,
          instancesInOrthanc: inOrthanc,
          instancesMissingFromOrthanc: acknowledged - inOrthanc,
        },
        archiveAtEnd: {
          unarchived: archive.unarchived,
          maxLagSecondsLastHour: archive.maxLagSecondsLastHour,
        },
      },
      processes: {
        orthancRestarts: orthancStatus()?.restarts ?? null,
        gatewayExitedDuringRun: gateway.child.exitCode !== null || gateway.child.signalCode !== null,
        workersExitedDuringRun: workers.child.exitCode !== null || workers.child.signalCode !== null,
        cpuSecondsGatewayPhase: gatewayCpu.cpuSeconds,
        cpuSecondsOrthancPhase: orthancCpu.cpuSeconds,
        serverCpuMsPerFrame: {
          what: 'CPU of gateway + Orthanc + workers during the phase / frames served; ingest (store, index, archive) included in both',
          gateway: perFrame(gatewayCpu.cpuSeconds, gatewayRun.frames.count),
          orthanc: perFrame(orthancCpu.cpuSeconds, orthancRun.frames.count),
        },
        rssPeakMiB: sampleAll.rssPeakMiB,
        rssPeakMiBGatewayPhase: gatewayCpu.rssPeakMiB,
        rssPeakMiBOrthancPhase: orthancCpu.rssPeakMiB,
      },
    };
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);

    // ---- Summary ----------------------------------------------------------------------------
    const g = gatewayRun.frames;
    const o = orthancRun.frames;
    const c = result.comparison;
    console.log(
      `\nLoad benchmark — commit ${commit.slice(0, 12)}${dirty ? ' (+ uncommitted server changes)' : ''}${full ? '' : ' — DEVELOPMENT RUN'}`,
    );
    console.log(
      `${VIEWERS} viewers × ${IN_FLIGHT} in flight; gateway ${DURATION_S} s, Orthanc ${PEER_DURATION_S} s`,
    );
    console.log(`                    gateway          orthanc        ratio`);
    console.log(
      `  requests        ${String(gatewayRun.requests.total).padStart(9)}        ${String(orthancRun.requests.total).padStart(9)}`,
    );
    console.log(
      `  errors          ${String(gatewayRun.errors.count).padStart(9)}        ${String(orthancRun.errors.count).padStart(9)}    target 0 ${c.gatewayErrorsMet ? 'MET' : 'NOT MET'}`,
    );
    console.log(
      `  client retries  ${String(gatewayRun.staleConnectionRetries).padStart(9)}        ${String(orthancRun.staleConnectionRetries).padStart(9)}    (closed kept-alive connection, sent again as a browser does)`,
    );
    console.log(
      `  frames/s        ${String(g.perSecond).padStart(9)}        ${String(o.perSecond).padStart(9)}    ${c.throughputRatio}`,
    );
    console.log(
      `  frame p50 ms    ${String(g.p50Ms).padStart(9)}        ${String(o.p50Ms).padStart(9)}    ${c.p50Ratio}`,
    );
    console.log(
      `  frame p95 ms    ${String(g.p95Ms).padStart(9)}        ${String(o.p95Ms).padStart(9)}    ${c.p95Ratio}`,
    );
    console.log(
      `  frame p99 ms    ${String(g.p99Ms).padStart(9)}        ${String(o.p99Ms).padStart(9)}    ${c.p99Ratio} (target <= ${TARGETS.framesP99Ratio}) ${c.framesP99Met ? 'MET' : 'NOT MET'}`,
    );
    console.log(
      `Ingest: ${result.ingest.studiesStored}/${result.ingest.studiesAttempted} studies stored (${acknowledged} instances), C-STORE failures ${result.ingest.cStoreFailures.instances}, skipped slots ${ingest.skippedSlots}; index lag p50/max ${result.ingest.indexLagSeconds.p50}/${result.ingest.indexLagSeconds.max} s; by phase sent in ${Object.entries(
        lagByPhase,
      )
        .map(([p, l]) => `${p} ${l.p50}/${l.max} s`)
        .join(
          ', ',
        )}; at end ${behindAtEnd} studies behind; after drain all indexed: ${result.ingest.afterDrain.allIndexed}`,
    );
    console.log(
      `Gateway RSS peak ${result.processes.rssPeakMiB.gateway} MiB; load average (1 min) mean/max ${sampleAll.loadAverage1m.mean}/${sampleAll.loadAverage1m.max} on ${cpus().length} cores`,
    );
    console.log(
      `Server CPU per frame (gateway + Orthanc + workers, ingest included): gateway ${result.processes.serverCpuMsPerFrame.gateway} ms, Orthanc ${result.processes.serverCpuMsPerFrame.orthanc} ms`,
    );
    console.log(`written ${OUT}`);
  } finally {
    sampler?.stop();
    await ingest?.stop().catch(() => undefined);
    ingest?.stopWatching();
    await db?.close().catch(() => undefined);
    for (const p of procs.reverse()) await p.stop();
    await stack.stop();
    // Keep the logs; the images (several GB after a full run) and databases are of no further use.
    for (const d of ['orthanc', 's3', 'postgres', 'bench/modality'])
      rmSync(join(stack.info.dataDir, d), { recursive: true, force: true });
  }
}

await main();
