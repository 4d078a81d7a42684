/**
 * RadLink's own study viewer (viewer/src/imaging, Cornerstone3D) in headless Debian Chromium,
 * through the shell's route `#/study/:studyUid`, against the real gateway, Orthanc and S3, as a
 * radiologist of the central hospital authenticated by the HttpOnly session cookie.
 *
 * Every check compares what the browser drew with ground truth computed from the very files that
 * were uploaded (scripts/demo/synth: stored values, rescale, geometry, lesion mask), so none can
 * pass on a blank, shifted or wrong image:
 *  - the rendered slice matches a reference rendering of the file's own pixels (SSIM ≥ 0.95), and
 *    matches it better than any other slice of the series;
 *  - the liver window preset puts soft tissue of known HU at the grey the DICOM window function
 *    gives (and differs from the abdomen window it replaced);
 *  - a length drawn with the mouse between two known pixels reads within ±1% of the true distance;
 *  - a segmentation of the lesion (a DICOM SEG of the generator's mask, stored in the study) is
 *    drawn in its colour at the ground-truth lesion centre, not elsewhere, and goes when toggled;
 *  - at 768×1024 the same study renders and matches its reference too;
 *  - on a slow link (2 Mbit/s, 150 ms) the server-rendered preview shows first and is replaced by
 *    the full pixels.
 * Screenshots and the pixel figures stay in test-artifacts/<test>/.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SynthStudy } from '../../scripts/demo/synth/study.js';
import { REPO_ROOT } from '../../scripts/services/paths.js';
import { buildMultipartRelated } from '../../server/src/dicomweb/multipart.js';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import {
  type BrowserTest,
  type LaunchedBrowser,
  launchBrowser,
  loginInBrowser,
  SLOW_LINK,
  VIEWPORTS,
} from './helpers/browser.js';
import { createDemoOrganisation, demoLogin, demoPatient, stowSynthStudy } from './helpers/demo-data.js';
import {
  decodeGrey,
  fitCentred,
  type GreyImage,
  greyAtCentre,
  median,
  modalityValues,
  type Placement,
  sampleOnImageGrid,
  samplePoints,
  ssim,
  stats,
  windowGrey,
} from './helpers/pixels.js';
import { writeLesionSeg } from './helpers/seg.js';

const VIEWER_DIR = join(REPO_ROOT, 'viewer', 'dist');

let t: TestApp;
let browser: LaunchedBrowser;
let base: string;
let ct: SynthStudy;
let slices: ReturnType<typeof modalityValues>[];
const reader = demoLogin('bs.hoa'); // radiologist, central hospital

beforeAll(async () => {
  if (!existsSync(join(VIEWER_DIR, 'index.html')))
    throw new Error('viewer/dist is missing: run `npm run build:viewer` first (npm test does)');
  t = await buildTestApp({ name: 'e2e-viewer-imaging', env: { RADLINK_VIEWER_DIR: VIEWER_DIR } });
  await createDemoOrganisation(t);
  // Khai's abdominal CT (central hospital) with one liver lesion and its ground-truth mask.
  ct = await stowSynthStudy(t, {
    seed: 6101,
    patient: demoPatient('khai'),
    modality: 'CT',
    rows: 256,
    slices: 24,
    lesions: [{ diameterMm: 32 }],
    withMask: true,
  });
  slices = ct.series[0]!.instances.map((b) => modalityValues(b));
  // The lesion's segmentation, stored in the same study as any SEG would be.
  const seg = writeLesionSeg(ct, {
    uidRoot: `2.25.${BigInt(Date.now()) * 1000n + BigInt(process.pid % 1000)}`,
    seriesDescription: 'Lesion segmentation (test)',
    softwareVersion: '1.0.0',
  });
  const token = await t.login(reader.username, reader.password);
  const { body, contentType } = buildMultipartRelated(
    [{ contentType: 'application/dicom', body: seg.part10 }],
    'application/dicom',
  );
  const stow = await t.app.inject({
    method: 'POST',
    url: '/dicom-web/studies',
    headers: { ...bearer(token), 'content-type': contentType, accept: 'application/dicom+json' },
    payload: body,
  });
  if (stow.statusCode !== 200) throw new Error(`STOW SEG: ${stow.statusCode} ${stow.body.slice(0, 300)}`);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('gateway has no TCP address');
  base = `http://127.0.0.1:${address.port}`;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

const el = (i: number) => `[data-testid="viewport-element-${i}"]`;
const canvasOf = (i: number) => `${el(i)} canvas`;

/** The viewport canvas's own pixels (no DOM overlays on top). */
async function canvasGrey(bt: BrowserTest, i = 0): Promise<GreyImage> {
  const dataUrl = await bt.page
    .locator(canvasOf(i))
    .first()
    .evaluate((c) => (c as unknown as { toDataURL(t: string): string }).toDataURL('image/png'));
  return decodeGrey(Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64'));
}

/**
 * No browser errors, except the favicon the browser asks for on its own (the app declares none;
 * a 404 for it says nothing about the viewer).
 */
function assertClean(bt: BrowserTest): void {
  const favicon = bt.problems.filter((p) => p.url?.endsWith('/favicon.ico'));
  for (const p of favicon) bt.problems.splice(bt.problems.indexOf(p), 1);
  bt.assertNoErrors();
}

/** Opens the study through the shell's route and waits until viewport 0 shows real pixels. */
async function openStudy(bt: BrowserTest, studyUid: string): Promise<void> {
  // Stacks of uncaught page errors, for whoever reads a failure (the harness keeps the messages).
  bt.page.on('pageerror', (e) => bt.saveArtifact('pageerror.txt', `${e.stack ?? e.message}\n`));
  await loginInBrowser(bt, base, reader.username, reader.password);
  await bt.page.goto(`${base}/#/study/${studyUid}`, { waitUntil: 'domcontentloaded' });
  await bt.page.locator('[data-testid="viewport-0"][data-image-loaded="true"]').waitFor({ timeout: 120_000 });
  await expect
    .poll(async () => stats((await canvasGrey(bt)).grey).sd, { timeout: 60_000 })
    .toBeGreaterThan(10);
}

async function displayedIndex(bt: BrowserTest, i = 0): Promise<number> {
  return Number(await bt.page.locator(`[data-testid="viewport-${i}"]`).getAttribute('data-image-index'));
}

/**
 * SSIM of the canvas against each slice's reference rendering under a window, on the image grid;
 * the declared slice must be the best match.
 */
function compareWithSlices(img: GreyImage, center: number, width: number) {
  const first = slices[0]!;
  const at = fitCentred(img.width, img.height, first.cols, first.rows);
  const seen = sampleOnImageGrid(img, at, first.cols, first.rows);
  const scores = slices.map((s) => {
    const ref = Float64Array.from(s.values, (v) => windowGrey(v, center, width));
    return ssim(ref, seen, s.cols, s.rows);
  });
  const best = scores.indexOf(Math.max(...scores));
  return { at, scores, best };
}

/** Screen position (page coordinates) of an image pixel's centre in viewport i. */
async function pagePoint(bt: BrowserTest, at: Placement, p: { i: number; j: number }, i = 0) {
  const box = await bt.page.locator(canvasOf(i)).first().boundingBox();
  if (!box) throw new Error('no canvas box');
  return { x: box.x + at.x0 + (p.i + 0.5) * at.scale, y: box.y + at.y0 + (p.j + 0.5) * at.scale };
}

describe('study viewer (Cornerstone3D) through the shell', () => {
  it('1366×768: renders the CT slice the file holds (SSIM ≥ 0.95), applies the liver preset, measures a length', async () => {
    const bt = await browser.newTest('viewer ct desktop', VIEWPORTS.desktop);
    try {
      const frames: number[] = [];
      bt.page.on('response', (r) => r.url().includes('/frames/') && frames.push(r.status()));
      await openStudy(bt, ct.study.studyUid);
      await bt.page.waitForTimeout(500);
      await bt.screenshot('opened');

      // 1. The rendered slice is the file's slice under its own window (W 400 / C 40).
      const img = await canvasGrey(bt);
      const k = await displayedIndex(bt);
      const cmp = compareWithSlices(img, 40, 400);
      bt.saveArtifact(
        'ssim.json',
        JSON.stringify({ declared: k, ...cmp, canvas: [img.width, img.height] }, null, 2),
      );
      expect(frames.length).toBeGreaterThan(0);
      expect(frames.every((s) => s === 200)).toBe(true);
      expect(cmp.best).toBe(k);
      expect(cmp.scores[k]!).toBeGreaterThanOrEqual(0.95);
      expect(cmp.scores[k]!).toBeGreaterThan(Math.max(...cmp.scores.filter((_, i) => i !== k)) + 0.02);
      // Orientation markers of an axial HFS slice: patient right on the screen's left, anterior up.
      await expect.poll(() => bt.page.locator('[data-testid="orientation-left-0"]').textContent()).toBe('R');
      expect(await bt.page.locator('[data-testid="orientation-top-0"]').textContent()).toBe('A');

      // 2. Liver preset (key 5: W 150 / C 30): soft tissue of known HU at the expected grey.
      const abdomen = img;
      await bt.page.locator(el(0)).click({ position: { x: 5, y: 5 } });
      await bt.page.keyboard.press('5');
      await expect
        .poll(() => bt.page.locator('[data-testid="overlay-window-0"]').textContent())
        .toMatch(/W 150 L 30/);
      await bt.page.waitForTimeout(300);
      const liver = await canvasGrey(bt);
      await bt.screenshot('liver-window');
      // Single pixels (noise and all): the drawn grey of each is the window function of its HU.
      const pts = samplePoints(slices[k]!, 3, 0).filter((p) => p.value >= -20 && p.value <= 90);
      expect(pts.length).toBeGreaterThan(500);
      const errs = pts.map((p) => Math.abs(greyAtCentre(liver, cmp.at, p) - windowGrey(p.value, 30, 150)));
      const shifted = pts.map((p) =>
        Math.abs(greyAtCentre(abdomen, cmp.at, p) - greyAtCentre(liver, cmp.at, p)),
      );
      bt.saveArtifact(
        'preset.json',
        JSON.stringify(
          { points: pts.length, medianError: median(errs), medianShift: median(shifted) },
          null,
          2,
        ),
      );
      // 8-bit output and interpolation leave a few grey levels (4 grey ≈ 2.4 HU at this window).
      expect(median(errs)).toBeLessThan(6);
      // The window really changed: the same tissue is drawn at clearly different greys.
      expect(median(shifted)).toBeGreaterThan(15);

      // 3. Length between two known pixels, drawn with the mouse.
      await bt.page.keyboard.press('l');
      await expect
        .poll(() => bt.page.locator('[data-testid="tool-Length"]').getAttribute('aria-pressed'))
        .toBe('true');
      const a = { i: 60, j: 100 };
      const b = { i: 190, j: 150 };
      const pa = await pagePoint(bt, cmp.at, a);
      const pb = await pagePoint(bt, cmp.at, b);
      await bt.page.mouse.move(pa.x, pa.y);
      await bt.page.mouse.down();
      for (let s = 1; s <= 10; s++)
        await bt.page.mouse.move(pa.x + ((pb.x - pa.x) * s) / 10, pa.y + ((pb.y - pa.y) * s) / 10);
      await bt.page.mouse.up();
      const item = bt.page.locator('[data-testid="measurement"][data-kind="length"]').first();
      await item.waitFor({ timeout: 20_000 });
      // The list follows the line while it is drawn; read the value once the mouse is up and settled.
      await bt.page.waitForTimeout(1000);
      const measured = Number(await item.getAttribute('data-value'));
      const [rowMm, colMm] = ct.groundTruth.geometry.pixelSpacing;
      const truth = Math.hypot((b.i - a.i) * colMm, (b.j - a.j) * rowMm);
      await bt.screenshot('length');
      bt.saveArtifact('length.json', JSON.stringify({ measured, truth, pa, pb }, null, 2));
      expect(Math.abs(measured - truth) / truth).toBeLessThan(0.01);
      assertClean(bt);
    } finally {
      await bt.close();
    }
  });

  it('768×1024: renders the slice, and draws the lesion SEG in its colour at the ground-truth centre', async () => {
    const bt = await browser.newTest('viewer ct tablet seg', VIEWPORTS.tablet);
    try {
      await openStudy(bt, ct.study.studyUid);
      const img = await canvasGrey(bt);
      const k0 = await displayedIndex(bt);
      const cmp = compareWithSlices(img, 40, 400);
      bt.saveArtifact('ssim.json', JSON.stringify({ declared: k0, ...cmp }, null, 2));
      expect(cmp.best).toBe(k0);
      expect(cmp.scores[k0]!).toBeGreaterThanOrEqual(0.95);

      // The SEG stored in the study is listed with its segment; jump to the lesion.
      const lesion = ct.groundTruth.lesions[0]!;
      const jump = bt.page.locator('[data-testid^="ai-jump-"]').first();
      await jump.waitFor({ timeout: 60_000 });
      await jump.click();
      // The jump lands on a slice through the lesion, next to its ground-truth centre.
      await expect
        .poll(async () => Math.abs((await displayedIndex(bt)) - lesion.centreVoxel[2]), { timeout: 30_000 })
        .toBeLessThanOrEqual(1);
      await bt.page.waitForTimeout(800);
      const k = await displayedIndex(bt);
      const g = ct.groundTruth.geometry;
      const maskSlice = ct.lesionMask!.subarray(k * g.rows * g.cols, (k + 1) * g.rows * g.cols);
      let si = 0;
      let sj = 0;
      let n = 0;
      maskSlice.forEach((v, q) => {
        if (v !== lesion.label) return;
        si += q % g.cols;
        sj += Math.floor(q / g.cols);
        n++;
      });
      expect(n, 'the displayed slice does not cut the lesion').toBeGreaterThan(20);
      const box = await bt.page.locator(el(0)).boundingBox();
      if (!box) throw new Error('no viewport box');
      const shot = await bt.screenshot('seg-on', el(0));
      const { data, info } = await (await import('sharp'))
        .default(shot)
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      const at = fitCentred(info.width, info.height, slices[0]!.cols, slices[0]!.rows);
      const rgbAt = (p: { i: number; j: number }) => {
        const x = Math.round(at.x0 + (p.i + 0.5) * at.scale);
        const y = Math.round(at.y0 + (p.j + 0.5) * at.scale);
        const o = (y * info.width + x) * info.channels;
        return [data[o]!, data[o + 1]!, data[o + 2]!] as const;
      };
      // The lesion's centre on this slice, from the ground-truth mask.
      const centre = { i: Math.round(si / n), j: Math.round(sj / n) };
      expect(maskSlice[centre.j * g.cols + centre.i]).toBe(lesion.label);
      // A body point well outside the lesion (4 radii to the side, same row).
      const away = {
        i:
          centre.i +
          Math.sign(128 - centre.i) *
            Math.round((4 * lesion.maxRadiusMm) / ct.groundTruth.geometry.pixelSpacing[1]),
        j: centre.j,
      };
      const inside = rgbAt(centre);
      const outside = rgbAt(away);
      bt.saveArtifact('seg.json', JSON.stringify({ k, pixels: n, centre, away, inside, outside }, null, 2));
      // Segment 1 is red (255, 64, 64) at 50% over grey: red clearly dominates inside…
      expect(inside[0] - Math.max(inside[1], inside[2])).toBeGreaterThan(40);
      // …and nowhere else: tissue away from the lesion stays grey.
      expect(Math.abs(outside[0] - outside[1])).toBeLessThan(12);
      // Toggled off, the lesion centre is grey again.
      await bt.page.locator('[data-testid="ai-overlay-toggle"]').uncheck();
      await bt.page.waitForTimeout(800);
      const off = await bt.screenshot('seg-off', el(0));
      const raw = await (await import('sharp'))
        .default(off)
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      const o =
        (Math.round(at.y0 + (centre.j + 0.5) * at.scale) * raw.info.width +
          Math.round(at.x0 + (centre.i + 0.5) * at.scale)) *
        raw.info.channels;
      expect(Math.abs(raw.data[o]! - raw.data[o + 1]!)).toBeLessThan(12);
      assertClean(bt);
    } finally {
      await bt.close();
    }
  });

  it('slow link (2 Mbit/s, 150 ms): the server-rendered preview shows first, then the full pixels', async () => {
    const bt = await browser.newTest('viewer slow link', VIEWPORTS.desktop);
    try {
      await loginInBrowser(bt, base, reader.username, reader.password);
      await bt.page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
      await bt.throttle(SLOW_LINK);
      // When the preview arrived, and when the first full-pixel frame was asked for.
      let previewDone = Number.POSITIVE_INFINITY;
      let firstFrameAsked = Number.POSITIVE_INFINITY;
      bt.page.on('requestfinished', (r) => {
        if (r.url().includes('/rendered')) previewDone = Math.min(previewDone, Date.now());
      });
      bt.page.on('request', (r) => {
        if (r.url().includes('/frames/') && !r.url().includes('/rendered'))
          firstFrameAsked = Math.min(firstFrameAsked, Date.now());
      });
      await bt.page.goto(`${base}/#/study/${ct.study.studyUid}`, { waitUntil: 'domcontentloaded' });
      // The shell's low-bandwidth switch, turned on while the viewer code is still downloading, so
      // the viewer starts in that mode.
      await bt.page.getByRole('checkbox', { name: /bandwidth|mạng chậm/i }).check();
      const preview = bt.page.locator('[data-testid="viewport-preview-0"]');
      await preview.waitFor({ state: 'visible', timeout: 120_000 });
      await expect
        .poll(() => preview.evaluate((im) => (im as unknown as { naturalWidth: number }).naturalWidth), {
          timeout: 60_000,
        })
        .toBeGreaterThan(0);
      await bt.screenshot('preview');
      // The preview had the link to itself: no frame was requested before it arrived.
      expect(previewDone).toBeLessThan(Number.POSITIVE_INFINITY);
      expect(firstFrameAsked).toBeGreaterThanOrEqual(previewDone);
      // Then the real pixels replace it.
      await bt.page
        .locator('[data-testid="viewport-0"][data-image-loaded="true"]')
        .waitFor({ timeout: 120_000 });
      await expect.poll(() => preview.count()).toBe(0);
      const img = await canvasGrey(bt);
      const k = await displayedIndex(bt);
      const cmp = compareWithSlices(img, 40, 400);
      expect(cmp.scores[k]!).toBeGreaterThanOrEqual(0.95);
      await bt.screenshot('full');
      assertClean(bt);
    } finally {
      await bt.throttle(null).catch(() => {});
      await bt.close();
    }
  });
});
