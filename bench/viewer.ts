/**
 * The viewer benchmark of issue 6: one 300-slice 512×512 CT, opened from the same gateway in
 * RadLink's own viewer (`/#/study/:uid`, viewer/dist) and in the prebuilt OHIF 3.13
 * (`.cache/ohif/dist`, served on one origin with the gateway by tests/e2e/helpers/ohif-server.ts),
 * in headless Debian Chromium, each run in a fresh browser (cold HTTP cache, cold JS heap).
 *
 * Timed from navigation start (the page's performance.timeOrigin):
 *  - first image: the first moment a viewport canvas (≥ 300×200) shows more than a flat fill,
 *    checked every 30 ms by the same in-page probe for both viewers;
 *  - all frames loaded: the end of the last of the 300 distinct `/frames/` responses
 *    (Resource Timing through the DevTools protocol; both viewers fetch one frame per request);
 *  - peak memory: the largest `performance.memory.usedJSHeapSize` and the largest summed RSS of
 *    the browser's processes, sampled every 250 ms until all frames are in (+1 s).
 * Conditions: unthrottled, and 2 Mbit/s with 150 ms round trip (DevTools network emulation). At
 * 2 Mbit/s the 157 MB of frames alone take over ten minutes, so throttled runs stop at a cap and
 * report how many frames had arrived by then (and the first image, which is what a slow link
 * is about).
 *
 * The gateway runs in the benchmark process (the same app the tests build, PGlite in memory).
 * Order alternates (ours, OHIF, OHIF, ours, …) so neither viewer always meets a warmer server.
 * Writes bench/results/viewer.json. `VIEWER_BENCH_RUNS` / `VIEWER_BENCH_THROTTLED_RUNS` /
 * `VIEWER_BENCH_CAP_S` override the run counts and the throttled cap; to load every frame at
 * 2 Mbit/s in three runs: `VIEWER_BENCH_CAP_S=1200 VIEWER_BENCH_THROTTLED_RUNS=3
 * VIEWER_BENCH_THROTTLED_PARALLEL=1` (see THROTTLED_PARALLEL).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { DEMO_PATIENTS, findFacility } from '../scripts/demo/patients.js';
import { generateStudy } from '../scripts/demo/synth/study.js';
import { REPO_ROOT } from '../scripts/services/paths.js';
import { LOOPBACK } from '../scripts/services/ports.js';
import { buildApp } from '../server/src/app.js';
import { createClients } from '../server/src/clients.js';
import { loadGatewayConfig } from '../server/src/config.js';
import { openDb } from '../server/src/db/client.js';
import { buildMultipartRelated } from '../server/src/dicomweb/multipart.js';
import { createLogger } from '../server/src/logger.js';
import {
  type LaunchedBrowser,
  launchBrowser,
  loginInBrowser,
  SLOW_LINK,
  type Throttle,
} from '../tests/e2e/helpers/browser.js';
import { startOhifServer } from '../tests/e2e/helpers/ohif-server.js';
import { startTestStack } from '../tests/helpers/global-setup.js';
import { ADMIN_PASSWORD, gatewayEnv } from '../tests/helpers/stack-env.js';

const SLICES = 300;
const SIZE = 512;
const RUNS = Number(process.env.VIEWER_BENCH_RUNS ?? 3);
const THROTTLED_RUNS = Number(process.env.VIEWER_BENCH_THROTTLED_RUNS ?? 1);
const THROTTLED_CAP_MS = Number(process.env.VIEWER_BENCH_CAP_S ?? 150) * 1000;
/**
 * VIEWER_BENCH_THROTTLED_PARALLEL=1: the throttled runs (both viewers, every run) all at once, each
 * in its own cold browser behind its own emulated link. A throttled run to the end takes 11–13
 * minutes and is bound by its link, not by the machine (the gateway serves ~0.5 frames/s to each),
 * so three pairs fit in the time of one; the browsers do share the CPU while they decode.
 */
const THROTTLED_PARALLEL = process.env.VIEWER_BENCH_THROTTLED_PARALLEL === '1';
const UNTHROTTLED_CAP_MS = 240_000;
const VIEWPORT = { width: 1366, height: 768 };
const USER = 'bench.reader';
const PASSWORD = 'bench-viewer-password-2026';

type ViewerName = 'radlink' | 'ohif';

interface RunResult {
  firstImageMs: number | null;
  allFramesMs: number | null;
  framesLoaded: number;
  peakHeapMiB: number;
  peakRssMiB: number;
  capped: boolean;
}

const MiB = 2 ** 20;
const r1 = (x: number) => Math.round(x * 10) / 10;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? null
    : s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Runs in the page before any script: records when a viewport canvas first shows an image. */
const FIRST_IMAGE_PROBE = `(() => {
  const probe = document.createElement('canvas');
  probe.width = probe.height = 48;
  const ctx = probe.getContext('2d', { willReadFrequently: true });
  const tick = () => {
    if (window.__firstImageMs !== undefined) return;
    for (const c of document.querySelectorAll('canvas')) {
      if (c.width < 300 || c.height < 200) continue;
      ctx.clearRect(0, 0, 48, 48);
      try { ctx.drawImage(c, 0, 0, 48, 48); } catch { continue; }
      const d = ctx.getImageData(0, 0, 48, 48).data;
      let s = 0, s2 = 0, n = 0;
      for (let i = 0; i < d.length; i += 4) { s += d[i]; s2 += d[i] * d[i]; n++; }
      const m = s / n;
      if (Math.sqrt(Math.max(0, s2 / n - m * m)) > 10) { window.__firstImageMs = performance.now(); return; }
    }
    setTimeout(tick, 30);
  };
  setTimeout(tick, 30);
})();`;

async function api(base: string, token: string, method: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status >= 300 && res.status !== 409)
    throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
}

async function login(base: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login ${username}: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

/**
 * Launches never overlap: a browser's processes are found as the Chromium children of this process
 * that appeared during its launch (launchBrowser), so two launches at once would each count both
 * browsers' memory. Concurrent runs (THROTTLED_PARALLEL) launch in turn, then load side by side.
 */
let launching: Promise<unknown> = Promise.resolve();
function launchOneAtATime(): Promise<LaunchedBrowser> {
  const next = launching.then(() => launchBrowser());
  launching = next.catch(() => {});
  return next;
}

/** One cold run: fresh browser, log in, navigate, measure until all frames or the cap. */
async function runOnce(
  viewer: ViewerName,
  url: string,
  origin: string,
  studyUid: string,
  throttle: Throttle | null,
  capMs: number,
): Promise<RunResult> {
  const browser: LaunchedBrowser = await launchOneAtATime();
  try {
    const bt = await browser.newTest(`bench viewer ${viewer}`, VIEWPORT);
    await loginInBrowser(bt, origin, USER, PASSWORD);
    await bt.context.addInitScript(FIRST_IMAGE_PROBE);
    if (throttle) await bt.throttle(throttle);
    const frames = new Map<string, number>(); // url → end time (epoch ms)
    bt.page.on('requestfinished', (req) => {
      const u = req.url();
      if (!u.includes('/frames/') || !u.includes(studyUid) || u.includes('/rendered')) return;
      const t = req.timing();
      frames.set(u.split('?')[0]!, t.startTime + t.responseEnd);
    });
    let peakRss = 0;
    let peakHeap = 0;
    const t0 = Date.now();
    await bt.page.goto(url, { waitUntil: 'commit' });
    const timeOrigin = await bt.page.evaluate(() => performance.timeOrigin);
    let firstImageMs: number | null = null;
    let doneAt: number | null = null;
    while (Date.now() - t0 < capMs) {
      peakRss = Math.max(peakRss, browser.rssBytes());
      const probe = await bt.page
        .evaluate(() => {
          const w = globalThis as unknown as { __firstImageMs?: number };
          const m = (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory;
          return { first: w.__firstImageMs ?? null, heap: m?.usedJSHeapSize ?? 0 };
        })
        .catch(() => ({ first: null, heap: 0 }));
      peakHeap = Math.max(peakHeap, probe.heap);
      if (probe.first !== null) firstImageMs = probe.first;
      if (frames.size >= SLICES && firstImageMs !== null) {
        doneAt ??= Date.now();
        // Keep sampling a second: decoding and caching the last frames costs memory too.
        if (Date.now() - doneAt > 1000) break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await bt.screenshot(throttle ? 'throttled-end' : 'end');
    const ends = [...frames.values()];
    const capped = frames.size < SLICES;
    const result: RunResult = {
      firstImageMs: firstImageMs === null ? null : Math.round(firstImageMs),
      allFramesMs: capped ? null : Math.round(Math.max(...ends) - timeOrigin),
      framesLoaded: frames.size,
      peakHeapMiB: r1(peakHeap / MiB),
      peakRssMiB: r1(peakRss / MiB),
      capped,
    };
    await bt.close();
    return result;
  } finally {
    await browser.close();
  }
}

function summarise(runs: RunResult[]) {
  const v = (f: (r: RunResult) => number | null) =>
    median(runs.map(f).filter((x): x is number => x !== null));
  return {
    firstImageMs: v((r) => r.firstImageMs),
    allFramesMs: runs.some((r) => r.capped) ? null : v((r) => r.allFramesMs),
    framesLoaded: v((r) => r.framesLoaded),
    peakHeapMiB: v((r) => r.peakHeapMiB),
    peakRssMiB: v((r) => r.peakRssMiB),
  };
}

async function main(): Promise<void> {
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', 'viewer'], { encoding: 'utf8' }).trim() !== '';
  const loadBefore = loadavg().map(r1);
  // The viewer as it is now in the tree.
  execFileSync('npm', ['run', 'build:viewer'], { cwd: REPO_ROOT, stdio: 'ignore' });
  if (!existsSync(join(REPO_ROOT, 'viewer/dist/index.html'))) throw new Error('viewer build failed');

  // Generated before any connection is open: 300 slices keep the event loop busy for a minute,
  // long enough for the gateway to close an idle keep-alive socket under the client.
  const patient = DEMO_PATIENTS.find((p) => p.key === 'khai')!;
  const facility = findFacility(patient.facilityId);
  console.log(`[bench] generating a ${SLICES}-slice ${SIZE}² CT…`);
  const ct = generateStudy({
    seed: 9301,
    patient,
    modality: 'CT',
    rows: SIZE,
    slices: SLICES,
    lesions: 1,
  });
  const stack = await startTestStack();
  let app: FastifyInstance | null = null;
  let closeClients: (() => Promise<void>) | null = null;
  let ohif: Awaited<ReturnType<typeof startOhifServer>> | null = null;
  try {
    const s = stack.info;
    const dataDir = join(s.dataDir, 'bench-viewer');
    mkdirSync(dataDir, { recursive: true });
    // The gateway in this process (the app the tests build, PGlite in memory, logs to the stack's
    // log directory): the browser and Chromium's processes are measured, not this one.
    const config = loadGatewayConfig(
      gatewayEnv(s, {
        RADLINK_DATA: dataDir,
        RADLINK_LOG_LEVEL: 'warn',
        RADLINK_VIEWER_DIR: join(REPO_ROOT, 'viewer/dist'),
      }),
    );
    const clients = await createClients(config, { db: await openDb({}) });
    const logger = createLogger('warn', join(s.logDir, 'gateway-bench-viewer.log'), false);
    app = await buildApp({ config, ...clients, db: clients.db, logger });
    closeClients = async () => {
      await Promise.allSettled([clients.orthanc.close(), clients.redis.quit(), clients.db.close()]);
    };
    await app.listen({ host: LOOPBACK, port: 0 });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('gateway has no TCP address');
    const port = address.port;
    const base = `http://${LOOPBACK}:${port}`;
    const admin = await login(base, 'admin', ADMIN_PASSWORD);
    await api(base, admin, 'POST', '/api/facilities', {
      id: facility.id,
      name: facility.name,
      tier: facility.tier,
      parentId: null,
    });
    await api(base, admin, 'POST', '/api/users', {
      username: USER,
      displayName: 'Bác sĩ Benchmark',
      role: 'radiologist',
      facilityId: facility.id,
      password: PASSWORD,
    });
    const token = await login(base, USER, PASSWORD);

    console.log('[bench] storing the CT…');
    const instances = ct.series[0]!.instances;
    const bytes = instances.reduce((n, b) => n + b.length, 0);
    for (let i = 0; i < instances.length; i += 10) {
      const { body, contentType } = buildMultipartRelated(
        instances.slice(i, i + 10).map((b) => ({ contentType: 'application/dicom', body: b })),
        'application/dicom',
      );
      const res = await request(`${base}/dicom-web/studies`, {
        method: 'POST',
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
    const studyUid = ct.study.studyUid;
    ohif = await startOhifServer(port);
    const urls: Record<ViewerName, { url: string; origin: string }> = {
      radlink: { url: `${base}/#/study/${studyUid}`, origin: base },
      ohif: { url: `${ohif.url}/viewer?StudyInstanceUIDs=${studyUid}`, origin: ohif.url },
    };

    const results: Record<string, Record<ViewerName, RunResult[]>> = {
      unthrottled: { radlink: [], ohif: [] },
      throttled: { radlink: [], ohif: [] },
    };
    const plan: Array<{ cond: 'unthrottled' | 'throttled'; viewer: ViewerName }> = [];
    for (let r = 0; r < RUNS; r++) {
      const order: ViewerName[] = r % 2 === 0 ? ['radlink', 'ohif'] : ['ohif', 'radlink'];
      for (const viewer of order) plan.push({ cond: 'unthrottled', viewer });
    }
    for (let r = 0; r < THROTTLED_RUNS; r++) {
      const order: ViewerName[] = r % 2 === 0 ? ['radlink', 'ohif'] : ['ohif', 'radlink'];
      for (const viewer of order) plan.push({ cond: 'throttled', viewer });
    }
    const run = async ({ cond, viewer }: (typeof plan)[number]) => {
      const throttled = cond === 'throttled';
      const res = await runOnce(
        viewer,
        urls[viewer].url,
        urls[viewer].origin,
        studyUid,
        throttled ? SLOW_LINK : null,
        throttled ? THROTTLED_CAP_MS : UNTHROTTLED_CAP_MS,
      );
      results[cond]![viewer].push(res);
      console.log(`[bench] ${cond} ${viewer}: ${JSON.stringify(res)}`);
    };
    for (const step of plan.filter((p) => !(THROTTLED_PARALLEL && p.cond === 'throttled'))) await run(step);
    if (THROTTLED_PARALLEL) await Promise.all(plan.filter((p) => p.cond === 'throttled').map(run));

    const summary = Object.fromEntries(
      Object.entries(results).map(([cond, byViewer]) => {
        const ours = summarise(byViewer.radlink);
        const theirs = summarise(byViewer.ohif);
        const lt = (a: number | null, b: number | null) => (a === null || b === null ? null : a < b);
        const le = (a: number | null, b: number | null) => (a === null || b === null ? null : a <= b);
        return [
          cond,
          {
            radlink: ours,
            ohif: theirs,
            targets: {
              firstImageFaster: lt(ours.firstImageMs, theirs.firstImageMs),
              // Capped (throttled) runs compare what arrived by the cap instead.
              fullLoadAtLeastAsFast:
                ours.allFramesMs !== null && theirs.allFramesMs !== null
                  ? le(ours.allFramesMs, theirs.allFramesMs)
                  : ours.framesLoaded !== null && theirs.framesLoaded !== null
                    ? ours.framesLoaded >= theirs.framesLoaded
                    : null,
              lowerPeakHeap: lt(ours.peakHeapMiB, theirs.peakHeapMiB),
              lowerPeakRss: lt(ours.peakRssMiB, theirs.peakRssMiB),
            },
          },
        ];
      }),
    );
    const out = {
      benchmark: 'viewer',
      commit,
      viewerTreeDirty: dirty,
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        memoryGiB: r1(totalmem() / 2 ** 30),
        loadBefore,
        loadAfter: loadavg().map(r1),
      },
      data: {
        slices: SLICES,
        rows: SIZE,
        cols: SIZE,
        frameBytesTotal: bytes,
        transferSyntax: 'Explicit VR Little Endian (uncompressed, as stored)',
      },
      method: {
        browser: 'Debian Chromium, headless, fresh browser per run (cold cache)',
        viewport: VIEWPORT,
        radlinkUrl: '/#/study/:studyUid (viewer/dist, gateway origin)',
        ohif: 'prebuilt @ohif/app 3.13 dist, same origin as the gateway (tests/e2e/helpers/ohif-server.ts), /viewer?StudyInstanceUIDs=',
        firstImage:
          'first viewport canvas (>= 300x200) with pixel SD > 10, probed every 30 ms in the page, from navigation start',
        allFrames: `end of the last of the ${SLICES} distinct /frames/ responses (Resource Timing), from navigation start`,
        memory:
          'peak performance.memory.usedJSHeapSize and peak summed RSS of the Chromium process tree, sampled every 250 ms',
        throttle: SLOW_LINK,
        runs: { unthrottled: RUNS, throttled: THROTTLED_RUNS },
        throttledRunsConcurrent: THROTTLED_PARALLEL,
        throttledCapMs: THROTTLED_CAP_MS,
        note:
          `At 2 Mbit/s the ${r1(bytes / 1e6)} MB of frames need ~${Math.round((bytes * 8) / SLOW_LINK.bitsPerSecond)} s, ` +
          (THROTTLED_CAP_MS / 1000 >= (bytes * 8) / SLOW_LINK.bitsPerSecond
            ? 'so the cap is set above that: throttled runs load every frame unless a viewer is slower still.'
            : 'so throttled runs stop at the cap: full load is compared by frames received by then.'),
      },
      summary,
      runs: results,
    };
    const file = join(REPO_ROOT, 'bench/results/viewer.json');
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`[bench] wrote ${file}`);
    console.log(JSON.stringify(summary, null, 2));
  } finally {
    // Teardown is bounded: the stack's services must stop even if a client hangs on close.
    const bounded = (p: Promise<unknown> | undefined) =>
      Promise.race([p?.catch(() => {}), new Promise((r) => setTimeout(r, 15_000))]);
    await bounded(ohif?.close());
    app?.server.closeAllConnections();
    await bounded(app?.close());
    await bounded(closeClients?.());
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
