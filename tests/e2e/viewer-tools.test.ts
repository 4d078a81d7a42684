/**
 * The study viewer's view tools in headless Chromium against the real gateway, each checked on
 * the pixels it draws against renderings of the uploaded files' own values, so none can pass on a
 * blank, stale or wrong image:
 *  - cine: the displayed slice advances over time at about the chosen frame rate (20/s, then 12/s
 *    and 4/s chosen while playing) and the canvas shows those slices; stopped, slice and picture
 *    stay;
 *  - invert (grey ≈ 255 − before), flip (the mirror image), rotate right (the image turned
 *    clockwise, orientation markers with it), zoom (the image magnified about the centre by the
 *    zoom the viewer reports), pan (moved with the mouse, 1:1), reset (back to the original);
 *  - 2×2: four viewports, four different series of the study (CT portal venous, CT without
 *    contrast, MR T2, MR T2 fat-saturated), each matching its own series and no other.
 * Screenshots and figures stay in test-artifacts/viewer-tools-*.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateStudy, type SynthStudy } from '../../scripts/demo/synth/study.js';
import { buildMultipartRelated } from '../../server/src/dicomweb/multipart.js';
import { bearer } from '../helpers/app.js';
import {
  type BrowserTest,
  type LaunchedBrowser,
  launchBrowser,
  loginInBrowser,
  VIEWPORTS,
} from './helpers/browser.js';
import { demoLogin, demoPatient } from './helpers/demo-data.js';
import {
  decodeGrey,
  fitCentred,
  type GreyImage,
  median,
  modalityValues,
  type Placement,
  sampleOnImageGrid,
  ssim,
  stats,
  windowGrey,
} from './helpers/pixels.js';
import { assertViewerServed, startViewerGateway, type ViewerGateway } from './helpers/viewer-app.js';

const dcmjs = createRequire(import.meta.url)('dcmjs');
const reader = demoLogin('bs.hoa'); // radiologist, central hospital
const N = 128;

let g: ViewerGateway;
let browser: LaunchedBrowser;
let ct: SynthStudy;
/** Every series of the study: UID, window of its files, modality values per slice. */
let series: Array<{
  uid: string;
  description: string;
  center: number;
  width: number;
  slices: ReturnType<typeof modalityValues>[];
}>;

/**
 * An instance of another synthetic study moved into `target`'s study as a new series: study
 * and patient attributes from the target, fresh series and instance UIDs (the donor's anatomy,
 * frame of reference and pixels are kept).
 */
function moveIntoStudy(part10: Uint8Array, target: SynthStudy, seriesNumber: number, k: number): Uint8Array {
  const ab = part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.byteLength);
  const file = dcmjs.data.DicomMessage.readFile(ab);
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(file.dict);
  const s = target.study;
  const seriesUid = `${s.studyUid}.${seriesNumber}`;
  const sopUid = `${seriesUid}.${k + 1}`;
  Object.assign(ds, {
    StudyInstanceUID: s.studyUid,
    StudyDate: s.studyDate,
    StudyTime: s.studyTime,
    AccessionNumber: s.accessionNumber,
    StudyID: s.studyId,
    StudyDescription: s.description,
    SeriesInstanceUID: seriesUid,
    SeriesNumber: seriesNumber,
    SOPInstanceUID: sopUid,
  });
  file.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(ds);
  file.meta['00020003'].Value = [sopUid];
  return new Uint8Array(file.write());
}

async function stowAll(parts: Uint8Array[]): Promise<void> {
  const token = await g.t.login(reader.username, reader.password);
  for (let i = 0; i < parts.length; i += 16) {
    const { body, contentType } = buildMultipartRelated(
      parts.slice(i, i + 16).map((p) => ({ contentType: 'application/dicom', body: p })),
      'application/dicom',
    );
    const res = await g.t.app.inject({
      method: 'POST',
      url: '/dicom-web/studies',
      headers: { ...bearer(token), 'content-type': contentType, accept: 'application/dicom+json' },
      payload: body,
    });
    if (res.statusCode !== 200) throw new Error(`STOW: HTTP ${res.statusCode} ${res.body.slice(0, 300)}`);
  }
}

function windowOf(part10: Uint8Array): { center: number; width: number } {
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(
    dcmjs.data.DicomMessage.readFile(
      part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.byteLength),
    ).dict,
  );
  const one = (v: unknown) => Number(Array.isArray(v) ? v[0] : v);
  return { center: one(ds.WindowCenter), width: one(ds.WindowWidth) };
}

beforeAll(async () => {
  g = await startViewerGateway('e2e-viewer-tools');
  await assertViewerServed(g.baseUrl);
  // Khai's CT (central hospital), portal venous and without contrast: series 2 and 3.
  ct = generateStudy({
    seed: 6301,
    patient: demoPatient('khai'),
    modality: 'CT',
    series: ['ct-portal-venous', 'ct-non-contrast'],
    rows: N,
    cols: N,
    slices: 24,
    lesions: [{ diameterMm: 30 }],
  });
  // An MR of hers (T2, T2 fat-saturated) moved into the same study as series 4 and 5.
  const mr = generateStudy({
    seed: 6302,
    patient: demoPatient('khai'),
    modality: 'MR',
    rows: N,
    cols: N,
    slices: 16,
    lesions: [{ diameterMm: 25 }],
  });
  const moved = mr.series.map((s, n) => s.instances.map((b, k) => moveIntoStudy(b, ct, 4 + n, k)));
  await stowAll([...ct.series.flatMap((s) => s.instances), ...moved.flat()]);
  series = [
    ...ct.series.map((s) => ({ uid: s.seriesUid, description: s.description, instances: s.instances })),
    ...mr.series.map((s, n) => ({
      uid: `${ct.study.studyUid}.${4 + n}`,
      description: s.description,
      instances: moved[n]!,
    })),
  ].map((s) => ({
    uid: s.uid,
    description: s.description,
    ...windowOf(s.instances[0]!),
    slices: s.instances.map((b) => modalityValues(b)),
  }));
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await g?.close();
});

const pane = (i: number) => `[data-testid="viewport-${i}"]`;
const canvasOf = (i: number) => `[data-testid="viewport-element-${i}"] canvas`;

async function canvasGrey(bt: BrowserTest, i = 0): Promise<GreyImage> {
  const dataUrl = await bt.page
    .locator(canvasOf(i))
    .first()
    .evaluate((c) => (c as unknown as { toDataURL(t: string): string }).toDataURL('image/png'));
  return decodeGrey(Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64'));
}

/** The canvas brought back onto the image grid for a placement (default: fit and centre). */
async function grid(bt: BrowserTest, i = 0, at?: (img: GreyImage) => Placement): Promise<Float64Array> {
  const img = await canvasGrey(bt, i);
  return sampleOnImageGrid(img, at ? at(img) : fitCentred(img.width, img.height, N, N), N, N);
}

const ref = (s: (typeof series)[number], k: number) =>
  Float64Array.from(s.slices[Math.min(k, s.slices.length - 1)]!.values, (v) =>
    windowGrey(v, s.center, s.width),
  );
const sim = (a: ArrayLike<number>, b: ArrayLike<number>, mask?: boolean[]) => ssim(a, b, N, N, mask);
const mirror = (a: Float64Array) => a.map((_, q) => a[Math.floor(q / N) * N + (N - 1 - (q % N))]!);
/** Turned a quarter clockwise: the new (i, j) shows the old (j, N − 1 − i). */
const rotCw = (a: Float64Array) => a.map((_, q) => a[(N - 1 - (q % N)) * N + Math.floor(q / N)]!);
const rotCcw = (a: Float64Array) => a.map((_, q) => a[(q % N) * N + (N - 1 - Math.floor(q / N))]!);

async function index(bt: BrowserTest, i = 0): Promise<number> {
  return Number(await bt.page.locator(pane(i)).getAttribute('data-image-index'));
}

async function openStudy(bt: BrowserTest): Promise<void> {
  bt.page.on('pageerror', (e) => bt.saveArtifact('pageerror.txt', `${e.stack ?? e.message}\n`));
  await loginInBrowser(bt, g.baseUrl, reader.username, reader.password);
  await bt.page.goto(`${g.baseUrl}/#/study/${ct.study.studyUid}`, { waitUntil: 'domcontentloaded' });
  await bt.page.locator(`${pane(0)}[data-image-loaded="true"]`).waitFor({ timeout: 120_000 });
  await expect
    .poll(async () => stats((await canvasGrey(bt)).grey).sd, { timeout: 60_000 })
    .toBeGreaterThan(10);
  await bt.page.waitForTimeout(300);
}

describe('view tools, on the pixels', () => {
  it('cine plays through the slices at the chosen frame rate and stops where it is', async () => {
    const bt = await browser.newTest('viewer tools cine', VIEWPORTS.desktop);
    const figures: Record<string, unknown> = {};
    try {
      await openStudy(bt);
      const pv = series[0]!;
      expect(await bt.page.locator(pane(0)).getAttribute('data-series-uid')).toBe(pv.uid);
      // Every slice in the cache first: cine then measures the viewer, not the network.
      const progress = bt.page.locator('[data-testid="load-progress"]');
      await expect.poll(() => progress.getAttribute('data-loaded'), { timeout: 60_000 }).toBe('24');
      const start = await index(bt);
      // Each change of the displayed slice, with its time, recorded in the page.
      await bt.page.evaluate(`(() => {
        const el = document.querySelector('[data-testid="viewport-0"]');
        window.__cine = [];
        new MutationObserver(() => window.__cine.push([performance.now(), Number(el.getAttribute('data-image-index'))]))
          .observe(el, { attributes: true, attributeFilter: ['data-image-index'] });
      })()`);
      // Played at 20 frames/s, then switched to 12 and to 4 while playing.
      const fpsSelect = bt.page.locator('[data-testid="cine-fps"]');
      await fpsSelect.selectOption('20');
      await bt.page.locator('[data-testid="action-cine"]').click();
      await expect
        .poll(() => bt.page.locator('[data-testid="action-cine"]').getAttribute('aria-pressed'))
        .toBe('true');
      await bt.page.waitForTimeout(3000);
      await fpsSelect.selectOption('12');
      const switched12At = (await bt.page.evaluate('performance.now()')) as number;
      await bt.page.waitForTimeout(1000);
      // A grab of the canvas while it plays, bracketed by the slice index before and after it.
      const grab = async () => {
        const before = await index(bt);
        const img = await grid(bt);
        return { before, img, after: await index(bt) };
      };
      const a = await grab();
      // The second grab a few slices further on.
      await expect
        .poll(async () => ((await index(bt)) - a.after + 24) % 24, { timeout: 10_000 })
        .toBeGreaterThanOrEqual(4);
      const b = await grab();
      await bt.page.waitForTimeout(800);
      await fpsSelect.selectOption('4');
      const switchedAt = (await bt.page.evaluate('performance.now()')) as number;
      await bt.page.waitForTimeout(3000);
      await bt.screenshot('playing');
      await bt.page.locator('[data-testid="action-cine"]').click();
      const stoppedAt = Date.now();
      const log = (await bt.page.evaluate('window.__cine')) as Array<[number, number]>;
      // Advances between successive recorded slices (the loop wraps from the last to the first).
      const steps: number[] = [];
      let prev = start;
      for (const [, k] of log) {
        steps.push((k - prev + 24) % 24);
        prev = k;
      }
      /** Frames per second between two times: slices advanced over the time they took. */
      const rate = (from: number, to: number) => {
        const inside = log
          .map((e, n) => ({ t: e[0], step: steps[n]! }))
          .filter((e) => e.t > from && e.t <= to);
        if (inside.length < 3) return Number.NaN;
        const advanced = inside.slice(1).reduce((sum, e) => sum + e.step, 0);
        return advanced / ((inside[inside.length - 1]!.t - inside[0]!.t) / 1000);
      };
      // 300 ms after each start or switch left out: the rate is measured, not the change.
      const fps20 = rate(log[0]![0] + 300, switched12At);
      const fps12 = rate(switched12At + 300, switchedAt);
      const fps4 = rate(switchedAt + 300, Number.POSITIVE_INFINITY);
      // Which slice each grab shows: the best match among all 24 (and a good one).
      const bestOf = (img: Float64Array) => {
        const scores = pv.slices.map((_, k) => sim(ref(pv, k), img));
        const best = scores.indexOf(Math.max(...scores));
        return { best, score: scores[best]! };
      };
      const ga = { ...bestOf(a.img), before: a.before, after: a.after };
      const gb = { ...bestOf(b.img), before: b.before, after: b.after };
      /** The slice drawn is one the viewer declared while the grab was taken (cyclic range). */
      const within = (g: typeof ga) => (g.best - g.before + 24) % 24 <= (g.after - g.before + 24) % 24;
      figures.cine = { start, changes: log.length, fps20, fps12, fps4, steps, grabA: ga, grabB: gb };
      bt.saveArtifact('cine.json', JSON.stringify(figures, null, 2));
      expect(log.length).toBeGreaterThan(60);
      // Forward, one slice at a time (a skipped frame or two on a loaded machine at most).
      expect(steps.slice(1).filter((x) => x === 1).length / (steps.length - 1)).toBeGreaterThan(0.8);
      // About the chosen rate: never faster, and not far slower (on 2 shared cores a software-
      // rendered frame can take longer than planned); 12/s clearly faster than 4/s.
      // 20/s: a slice costs Cornerstone's drawing (30–60 ms on this machine: software WebGL) and
      // the one overlay line that follows the slice (no render of the viewer). The clip is paced by
      // the drawing (viewer cine.ts): 20/s while slices draw within 50 ms, 1 / (drawing time)
      // otherwise. Measured 16–20/s here with other tests running (median 18.5), worst 12.9 at
      // load average 16. The bound is set below that worst case so that CI on a busy machine does
      // not flake; the pacing itself (never a lost timer tick per late slice, as Cornerstone's
      // playClip did: 10/s at 55 ms per slice) is checked exactly in tests/unit/viewer-cine.test.ts.
      expect(fps20).toBeLessThan(20 * 1.25);
      expect(fps20).toBeGreaterThan(12);
      expect(fps12).toBeLessThan(12 * 1.25);
      expect(fps12).toBeGreaterThan(12 * 0.5);
      expect(fps4).toBeLessThan(4 * 1.25);
      expect(fps4).toBeGreaterThan(4 * 0.75);
      expect(fps12 / fps4).toBeGreaterThan(2);
      // What the canvas shows while playing: the slices the viewer declares, real ones.
      expect(ga.score).toBeGreaterThan(0.9);
      expect(gb.score).toBeGreaterThan(0.9);
      expect(within(ga)).toBe(true);
      expect(within(gb)).toBe(true);
      expect(ga.best).not.toBe(gb.best);

      // Stopped: the same slice and the same picture a while later.
      await bt.page.waitForTimeout(300);
      const k1 = await index(bt);
      const s1 = await grid(bt);
      await bt.page.waitForTimeout(1500);
      const k2 = await index(bt);
      const s2 = await grid(bt);
      const held = bestOf(s2);
      figures.stopped = { k1, k2, sinceStopMs: Date.now() - stoppedAt, same: sim(s1, s2), held };
      bt.saveArtifact('cine.json', JSON.stringify(figures, null, 2));
      expect(k2).toBe(k1);
      expect(sim(s1, s2)).toBeGreaterThan(0.99);
      expect(held.best).toBe(k2);
      bt.assertNoErrors();
    } finally {
      await bt.close();
    }
  });

  it('invert, flip, rotate, zoom, pan and reset transform the rendered image as they should', async () => {
    const bt = await browser.newTest('viewer tools transforms', VIEWPORTS.desktop);
    const f: Record<string, unknown> = {};
    const save = () => bt.saveArtifact('transforms.json', JSON.stringify(f, null, 2));
    const { page } = bt;
    try {
      await openStudy(bt);
      const pv = series[0]!;
      const k = await index(bt);
      const base = await grid(bt);
      f.base = sim(base, ref(pv, k));
      expect(f.base).toBeGreaterThan(0.95);
      const element = page.locator('[data-testid="viewport-element-0"]');
      await element.click({ position: { x: 5, y: 5 } });
      const settle = () => page.waitForTimeout(400);

      // Invert: every grey becomes 255 − grey.
      await page.keyboard.press('i');
      await settle();
      const inv = await grid(bt);
      const sumErr = median(Array.from(inv, (v, q) => Math.abs(v + base[q]! - 255)));
      f.invert = {
        ssimOfNegative: sim(
          inv.map((v) => 255 - v),
          base,
        ),
        medianSumError: sumErr,
        asIs: sim(inv, base),
      };
      await bt.screenshot('inverted');
      expect(
        sim(
          inv.map((v) => 255 - v),
          base,
        ),
      ).toBeGreaterThan(0.95);
      expect(sumErr).toBeLessThan(3);
      await page.keyboard.press('i');
      await settle();
      f.invertBack = sim(await grid(bt), base);
      expect(f.invertBack).toBeGreaterThan(0.95);

      // Flip horizontally: the mirror image, not the image.
      await page.locator('[data-testid="action-flip-h"]').click();
      await settle();
      const flipped = await grid(bt);
      f.flip = { mirrored: sim(flipped, mirror(base)), asIs: sim(flipped, base) };
      await bt.screenshot('flipped');
      expect(sim(flipped, mirror(base))).toBeGreaterThan(0.95);
      expect(sim(flipped, base)).toBeLessThan(sim(flipped, mirror(base)) - 0.1);
      await page.locator('[data-testid="action-reset"]').click();
      await settle();
      f.resetAfterFlip = sim(await grid(bt), base);
      expect(f.resetAfterFlip).toBeGreaterThan(0.95);

      // Rotate right: turned a quarter clockwise; patient right (R) goes to the top.
      await page.locator('[data-testid="action-rotate"]').click();
      await settle();
      const rot = await grid(bt);
      f.rotate = {
        clockwise: sim(rot, rotCw(base)),
        anticlockwise: sim(rot, rotCcw(base)),
        asIs: sim(rot, base),
      };
      await bt.screenshot('rotated');
      expect(sim(rot, rotCw(base))).toBeGreaterThan(0.95);
      expect(sim(rot, rotCcw(base))).toBeLessThan(sim(rot, rotCw(base)) - 0.1);
      expect(await page.locator('[data-testid="orientation-top-0"]').textContent()).toBe('R');
      await page.keyboard.press('0');
      await settle();
      f.resetAfterRotate = sim(await grid(bt), base);
      expect(f.resetAfterRotate).toBeGreaterThan(0.95);
      expect(await page.locator('[data-testid="orientation-top-0"]').textContent()).toBe('A');

      // Zoom: a drag downwards with the zoom tool from the centre; the image is magnified about the centre
      // by the zoom the viewer reports.
      await page.keyboard.press('z');
      const box = (await page.locator(canvasOf(0)).first().boundingBox())!;
      const cx = Math.round(box.x + box.width / 2);
      const cy = Math.round(box.y + box.height / 2);
      await page.mouse.move(cx, cy);
      await page.mouse.down();
      for (let s = 1; s <= 10; s++) await page.mouse.move(cx, cy + 8 * s);
      await page.mouse.up();
      await settle();
      const zoom = Number(await page.locator(pane(0)).getAttribute('data-zoom'));
      const zoomedAt = (img: GreyImage, dx = 0, dy = 0): Placement => {
        const fit = fitCentred(img.width, img.height, N, N);
        const scale = fit.scale * zoom;
        return { scale, x0: img.width / 2 - (N / 2) * scale + dx, y0: img.height / 2 - (N / 2) * scale + dy };
      };
      const raw = await canvasGrey(bt);
      // Image pixels still inside the canvas (a margin of a pixel for interpolation at the edge).
      const visible = (at: Placement) =>
        Array.from({ length: N * N }, (_, q) => {
          const x = at.x0 + ((q % N) + 0.5) * at.scale;
          const y = at.y0 + (Math.floor(q / N) + 0.5) * at.scale;
          return x > 1 && y > 1 && x < raw.width - 1 && y < raw.height - 1;
        });
      const zAt = zoomedAt(raw);
      const zoomed = sampleOnImageGrid(raw, zAt, N, N);
      const zMask = visible(zAt);
      f.zoom = {
        zoom,
        visiblePixels: zMask.filter(Boolean).length,
        magnified: sim(zoomed, base, zMask),
        unmagnifiedPlacement: sim(await grid(bt), base),
      };
      await bt.screenshot('zoomed');
      save();
      expect(zoom).toBeGreaterThan(1.5);
      expect(zoom).toBeLessThan(4);
      expect(zMask.filter(Boolean).length).toBeGreaterThan(N * N * 0.15);
      expect(sim(zoomed, base, zMask)).toBeGreaterThan(0.95);
      expect((f.zoom as { unmagnifiedPlacement: number }).unmagnifiedPlacement).toBeLessThan(0.8);

      // Pan: the image follows the mouse one to one.
      await page.keyboard.press('p');
      const [dx, dy] = [70, -45];
      await page.mouse.move(cx, cy);
      await page.mouse.down();
      for (let s = 1; s <= 10; s++) await page.mouse.move(cx + (dx * s) / 10, cy + (dy * s) / 10);
      await page.mouse.up();
      await settle();
      const rawPan = await canvasGrey(bt);
      const pAt = zoomedAt(rawPan, dx, dy);
      const pMask = visible(pAt);
      const panned = sampleOnImageGrid(rawPan, pAt, N, N);
      f.pan = {
        dx,
        dy,
        moved: sim(panned, base, pMask),
        notMoved: sim(sampleOnImageGrid(rawPan, zAt, N, N), base, zMask),
      };
      await bt.screenshot('panned');
      save();
      expect(sim(panned, base, pMask)).toBeGreaterThan(0.95);
      expect((f.pan as { notMoved: number }).notMoved).toBeLessThan(0.8);

      // Reset: the original picture.
      await page.locator('[data-testid="action-reset"]').click();
      await settle();
      f.reset = sim(await grid(bt), base);
      save();
      expect(f.reset).toBeGreaterThan(0.95);
      expect(Number(await page.locator(pane(0)).getAttribute('data-zoom'))).toBeCloseTo(1, 3);
      bt.assertNoErrors();
    } finally {
      save();
      await bt.close();
    }
  });

  it('2×2 shows four different series, each its own', async () => {
    const bt = await browser.newTest('viewer tools layout 2x2', VIEWPORTS.desktop);
    try {
      await openStudy(bt);
      await bt.page.locator('[data-testid="layout-2x2"]').click();
      for (let i = 0; i < 4; i++)
        await bt.page.locator(`${pane(i)}[data-image-loaded="true"]`).waitFor({ timeout: 120_000 });
      await bt.page.waitForTimeout(800);
      await bt.screenshot('layout-2x2');
      const shown: Array<{ uid: string; k: number; grid: Float64Array; sd: number }> = [];
      for (let i = 0; i < 4; i++) {
        const img = await canvasGrey(bt, i);
        shown.push({
          uid: (await bt.page.locator(pane(i)).getAttribute('data-series-uid')) ?? '',
          k: await index(bt, i),
          grid: sampleOnImageGrid(img, fitCentred(img.width, img.height, N, N), N, N),
          sd: stats(img.grey).sd,
        });
      }
      // Four series, each once.
      expect(new Set(shown.map((s) => s.uid)).size).toBe(4);
      expect([...shown.map((s) => s.uid)].sort()).toEqual(series.map((s) => s.uid).sort());
      // Each pane against the slice it declares in every series: its own series matches, the others do not.
      const scores = shown.map((s) => series.map((x) => sim(s.grid, ref(x, s.k))));
      const between = shown.map((a) => shown.map((b) => sim(a.grid, b.grid)));
      bt.saveArtifact(
        'layout.json',
        JSON.stringify({ panes: shown.map(({ uid, k, sd }) => ({ uid, k, sd })), scores, between }, null, 2),
      );
      shown.forEach((s, i) => {
        const own = series.findIndex((x) => x.uid === s.uid);
        expect(s.sd, `pane ${i} is blank`).toBeGreaterThan(10);
        expect(scores[i]![own]!, `pane ${i} vs its series`).toBeGreaterThan(0.95);
        // The two CTs share the anatomy (with and without contrast), hence the closest pair.
        for (let j = 0; j < 4; j++)
          if (j !== own) expect(scores[i]![j]!).toBeLessThan(scores[i]![own]! - 0.05);
        for (let j = 0; j < 4; j++)
          if (j !== i) expect(between[i]![j]!, `pane ${i} vs pane ${j}`).toBeLessThan(0.95);
      });
      bt.assertNoErrors();
    } finally {
      await bt.close();
    }
  });
});
