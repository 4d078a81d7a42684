/**
 * MPR and priors in RadLink's viewer (Cornerstone3D, headless Debian Chromium, WebGL), against the
 * real gateway, Orthanc and database.
 *
 * MPR: the demo CT switched to MPR shows three orthographic viewports. Each canvas is compared
 * with a reference reslice computed here in Node from the uploaded files' own pixels and geometry
 * (trilinear interpolation of the HU volume on the viewport's plane, under the viewport's window,
 * at the scale and centre the viewport's camera reports): SSIM ≥ 0.9 in every view, the best match
 * among planes shifted along the view normal is the centre plane (±1 voxel), the mirrored
 * reference (wrong orientation) scores lower, and the orientation markers read as the standard
 * views do (axial: A up, R left; sagittal: H up, A left; coronal: H up, R left).
 * Threshold 0.9 (not the stack's 0.95): the reference is an independent resampler, and on a
 * reslice across slices the two interpolate between slices 5 mm apart, where small sub-voxel
 * differences of where each puts the plane show as edge differences.
 *
 * Priors: the same patient's earlier CT (same anatomy, another table position and frame of
 * reference) is offered by the viewer; "Compare" puts it beside the current study; scrolling the
 * current viewport N slices moves the prior N slices too (slice indicator, and its pixels are those
 * of that prior slice by SSIM); with synchronised scrolling turned off it stays where it is.
 */

import dicomParser from 'dicom-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SynthStudy } from '../../scripts/demo/synth/study.js';
import {
  type BrowserTest,
  type LaunchedBrowser,
  launchBrowser,
  loginInBrowser,
  VIEWPORTS,
} from './helpers/browser.js';
import { demoLogin, demoPatient, stowSynthStudy } from './helpers/demo-data.js';
import {
  decodeGrey,
  fitCentred,
  type GreyImage,
  modalityValues,
  sampleOnImageGrid,
  ssim,
  stats,
  windowGrey,
} from './helpers/pixels.js';
import { assertViewerServed, startViewerGateway, type ViewerGateway } from './helpers/viewer-app.js';

type Vec3 = [number, number, number];

let gw: ViewerGateway;
let browser: LaunchedBrowser;
let ct: SynthStudy;
let prior: SynthStudy;
const reader = demoLogin('bs.hoa'); // radiologist, central hospital

beforeAll(async () => {
  gw = await startViewerGateway('e2e-viewer-mpr-priors');
  await assertViewerServed(gw.baseUrl);
  const patient = demoPatient('khai');
  const common = {
    patient,
    modality: 'CT' as const,
    rows: 128,
    slices: 40,
    sliceThickness: 5,
    anatomySeed: 6401,
    lesions: 1,
  };
  prior = await stowSynthStudy(gw.t, { ...common, seed: 6402, studyDate: '20240110' });
  ct = await stowSynthStudy(gw.t, { ...common, seed: 6401, studyDate: '20250610' });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await gw?.close();
});

/** The HU volume and its geometry, read from the Part 10 files (axial slices in instance order). */
interface Volume {
  cols: number;
  rows: number;
  n: number;
  values: Float32Array[];
  origin: Vec3;
  /** mm between columns (x), rows (y); slice step (z, signed). */
  dx: number;
  dy: number;
  dz: number;
}

function volumeOf(study: SynthStudy): Volume {
  const files = study.series[0]!.instances;
  const ds = files.map((b) => dicomParser.parseDicom(b));
  const nums = (d: dicomParser.DataSet, tag: string) => (d.string(tag) ?? '').split('\\').map(Number);
  const iop = nums(ds[0]!, 'x00200037');
  // The reference below assumes axial slices with rows along +x and columns along +y.
  expect(iop.map((v) => Math.round(v))).toEqual([1, 0, 0, 0, 1, 0]);
  const ps = nums(ds[0]!, 'x00280030');
  const ipp = ds.map((d) => nums(d, 'x00200032') as Vec3);
  const slices = files.map((b) => modalityValues(b));
  return {
    cols: slices[0]!.cols,
    rows: slices[0]!.rows,
    n: slices.length,
    values: slices.map((s) => s.values),
    origin: ipp[0]!,
    dx: ps[1]!,
    dy: ps[0]!,
    dz: (ipp[ipp.length - 1]![2] - ipp[0]![2]) / (ipp.length - 1),
  };
}

/** Trilinear HU at a patient point, or NaN outside the volume's voxel centres. */
function sample(v: Volume, p: Vec3): number {
  const fi = (p[0] - v.origin[0]) / v.dx;
  const fj = (p[1] - v.origin[1]) / v.dy;
  const fk = (p[2] - v.origin[2]) / v.dz;
  const e = 1e-6;
  if (fi < -e || fj < -e || fk < -e || fi > v.cols - 1 + e || fj > v.rows - 1 + e || fk > v.n - 1 + e)
    return Number.NaN;
  const i0 = Math.min(v.cols - 2, Math.max(0, Math.floor(fi)));
  const j0 = Math.min(v.rows - 2, Math.max(0, Math.floor(fj)));
  const k0 = Math.min(v.n - 2, Math.max(0, Math.floor(fk)));
  const [a, b, c] = [fi - i0, fj - j0, fk - k0];
  const at = (k: number, j: number, i: number) => v.values[k]![j * v.cols + i]!;
  const plane = (k: number) =>
    (1 - b) * ((1 - a) * at(k, j0, i0) + a * at(k, j0, i0 + 1)) +
    b * ((1 - a) * at(k, j0 + 1, i0) + a * at(k, j0 + 1, i0 + 1));
  return (1 - c) * plane(k0) + c * plane(k0 + 1);
}

interface View {
  name: 'axial' | 'sagittal' | 'coronal';
  /** Patient directions of screen up and screen right (Cornerstone's standard cameras). */
  up: Vec3;
  right: Vec3;
  normal: Vec3;
  top: string;
  left: string;
}

const VIEWS: View[] = [
  { name: 'axial', up: [0, -1, 0], right: [1, 0, 0], normal: [0, 0, 1], top: 'A', left: 'R' },
  { name: 'sagittal', up: [0, 0, 1], right: [0, 1, 0], normal: [1, 0, 0], top: 'H', left: 'A' },
  { name: 'coronal', up: [0, 0, 1], right: [1, 0, 0], normal: [0, 1, 0], top: 'H', left: 'R' },
];

/**
 * The reference picture of a plane through the volume centre shifted `d` mm along the normal, on
 * the canvas grid (mm per canvas pixel `m`, centred), windowed; the mask marks pixels inside the
 * volume. `mirror` flips screen right (the wrong orientation, as a control).
 */
function reslice(
  v: Volume,
  view: View,
  w: number,
  h: number,
  m: number,
  d: number,
  win: { c: number; w: number },
  mirror = false,
) {
  const centre: Vec3 = [
    v.origin[0] + ((v.cols - 1) / 2) * v.dx,
    v.origin[1] + ((v.rows - 1) / 2) * v.dy,
    v.origin[2] + ((v.n - 1) / 2) * v.dz,
  ];
  const grey = new Float64Array(w * h);
  const mask = new Array<boolean>(w * h).fill(false);
  const s = mirror ? -1 : 1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const du = (x + 0.5 - w / 2) * m * s;
      const dv = (y + 0.5 - h / 2) * m;
      const p: Vec3 = [0, 1, 2].map(
        (a) => centre[a]! + du * view.right[a]! - dv * view.up[a]! + d * view.normal[a]!,
      ) as Vec3;
      const hu = sample(v, p);
      if (Number.isNaN(hu)) continue;
      grey[y * w + x] = windowGrey(hu, win.c, win.w);
      mask[y * w + x] = true;
    }
  return { grey, mask };
}

async function canvasGrey(bt: BrowserTest, i: number): Promise<GreyImage> {
  const dataUrl = await bt.page
    .locator(`[data-testid="viewport-element-${i}"] canvas`)
    .first()
    .evaluate((c) => (c as unknown as { toDataURL(t: string): string }).toDataURL('image/png'));
  return decodeGrey(Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64'));
}

const paneAttr = (bt: BrowserTest, i: number, name: string) =>
  bt.page.locator(`[data-testid="viewport-${i}"]`).getAttribute(name);

/** The window a pane reports ("W 400 L 40"). */
async function windowOf(bt: BrowserTest, i: number): Promise<{ c: number; w: number }> {
  const text = (await bt.page.locator(`[data-testid="overlay-window-${i}"]`).textContent()) ?? '';
  const m = /W (-?\d+) L (-?\d+)/.exec(text);
  if (!m) throw new Error(`no window read-out in pane ${i}: "${text}"`);
  return { w: Number(m[1]), c: Number(m[2]) };
}

/** SSIM of pane i's canvas against the reslice at offset d (mm). */
async function mprScore(bt: BrowserTest, v: Volume, i: number, view: View, ds: number[], mirror = false) {
  const img = await canvasGrey(bt, i);
  const mmPerCss = Number(await paneAttr(bt, i, 'data-mm-per-pixel'));
  const cssHeight = await bt.page
    .locator(`[data-testid="viewport-element-${i}"]`)
    .evaluate((e) => (e as unknown as { clientHeight: number }).clientHeight);
  const m = (mmPerCss * cssHeight) / img.height;
  const win = await windowOf(bt, i);
  return ds.map((d) => {
    const ref = reslice(v, view, img.width, img.height, m, d, win, mirror);
    return ssim(ref.grey, img.grey, img.width, img.height, ref.mask);
  });
}

/** SSIM of a stack pane's canvas against every slice of a study (under W 400 / C 40). */
async function stackScores(bt: BrowserTest, i: number, v: Volume): Promise<number[]> {
  const img = await canvasGrey(bt, i);
  // Fitted and centred, times the pane's zoom (a pane keeps its camera's zoom across a layout
  // change; nothing here pans).
  const fit = fitCentred(img.width, img.height, v.cols, v.rows);
  const scale = fit.scale * Number(await paneAttr(bt, i, 'data-zoom'));
  const at = { scale, x0: (img.width - v.cols * scale) / 2, y0: (img.height - v.rows * scale) / 2 };
  const seen = sampleOnImageGrid(img, at, v.cols, v.rows);
  return v.values.map((vals) =>
    ssim(
      Float64Array.from(vals, (x) => windowGrey(x, 40, 400)),
      seen,
      v.cols,
      v.rows,
    ),
  );
}

const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));
const index = async (bt: BrowserTest, i: number) => Number(await paneAttr(bt, i, 'data-image-index'));

async function openStudy(bt: BrowserTest, studyUid: string): Promise<void> {
  bt.page.on('pageerror', (e) => bt.saveArtifact('pageerror.txt', `${e.stack ?? e.message}\n`));
  await loginInBrowser(bt, gw.baseUrl, reader.username, reader.password);
  await bt.page.goto(`${gw.baseUrl}/#/study/${studyUid}`, { waitUntil: 'domcontentloaded' });
  await bt.page.locator('[data-testid="viewport-0"][data-image-loaded="true"]').waitFor({ timeout: 60_000 });
  await expect
    .poll(async () => stats((await canvasGrey(bt, 0)).grey).sd, { timeout: 30_000 })
    .toBeGreaterThan(10);
}

describe('MPR and priors in the viewer', () => {
  it('MPR: axial, sagittal and coronal render the volume the files hold (SSIM ≥ 0.9), with the right markers', async () => {
    const bt = await browser.newTest('viewer mpr', VIEWPORTS.desktop);
    try {
      const v = volumeOf(ct);
      await openStudy(bt, ct.study.studyUid);
      await bt.page.locator('[data-testid="layout-mpr"]:not([disabled])').click();
      for (let i = 0; i < 3; i++)
        await bt.page
          .locator(`[data-testid="viewport-${i}"][data-mm-per-pixel]:not([data-mm-per-pixel=""])`)
          .waitFor({ timeout: 30_000 });
      // The volume streams in slice by slice: wait until every view matches its reference.
      for (const [i, view] of VIEWS.entries())
        await expect
          .poll(async () => (await mprScore(bt, v, i, view, [0]))[0]!, { timeout: 40_000, interval: 1000 })
          .toBeGreaterThanOrEqual(0.9);
      await bt.screenshot('mpr');

      const figures: Record<string, unknown> = {};
      for (const [i, view] of VIEWS.entries()) {
        const voxel = view.name === 'axial' ? Math.abs(v.dz) : view.name === 'sagittal' ? v.dx : v.dy;
        const steps = [-8, -3, -2, -1, 0, 1, 2, 3, 8];
        const scores = await mprScore(
          bt,
          v,
          i,
          view,
          steps.map((s) => s * voxel),
        );
        const [mirrored] = await mprScore(bt, v, i, view, [0], true);
        const top = await bt.page.locator(`[data-testid="orientation-top-${i}"]`).textContent();
        const left = await bt.page.locator(`[data-testid="orientation-left-${i}"]`).textContent();
        figures[view.name] = { steps, scores, mirrored, top, left, voxelMm: voxel };
        bt.saveArtifact('mpr-ssim.json', JSON.stringify(figures, null, 2));
        const centre = scores[steps.indexOf(0)]!;
        expect(centre, view.name).toBeGreaterThanOrEqual(0.9);
        expect(Math.abs(steps[argmax(scores)]!), view.name).toBeLessThanOrEqual(1);
        expect(centre, view.name).toBeGreaterThan(scores[0]! + 0.02);
        expect(centre, view.name).toBeGreaterThan(scores[scores.length - 1]! + 0.02);
        expect(centre, `${view.name} vs mirrored`).toBeGreaterThan(mirrored! + 0.01);
        expect(top, view.name).toBe(view.top);
        expect(left, view.name).toBe(view.left);
      }
      bt.assertNoErrors([/favicon\.ico/]);
    } finally {
      await bt.close();
    }
  });

  it('priors side by side: the prior follows the current study’s scrolling, and stops when sync is off', async () => {
    const bt = await browser.newTest('viewer priors sync', VIEWPORTS.desktop);
    try {
      const cur = volumeOf(ct);
      const old = volumeOf(prior);
      await openStudy(bt, ct.study.studyUid);
      const compare = bt.page.locator(`[data-testid="compare-${prior.study.studyUid}"]`);
      await compare.waitFor({ timeout: 15_000 });
      await compare.click();
      await bt.page
        .locator('[data-testid="viewport-1"][data-image-loaded="true"]')
        .waitFor({ timeout: 60_000 });
      expect(await paneAttr(bt, 1, 'data-series-uid')).toBe(prior.series[0]!.seriesUid);
      expect(await bt.page.locator('[data-testid="sync-scroll"]').isChecked()).toBe(true);
      await bt.page.waitForTimeout(500);
      const [c0, p0] = [await index(bt, 0), await index(bt, 1)];

      // Scroll the current study N slices: the prior follows by N (same slice spacing).
      const N = 5;
      await bt.page.locator('[data-testid="viewport-element-0"]').click({ position: { x: 5, y: 5 } });
      for (let k = 0; k < N; k++) await bt.page.keyboard.press('ArrowDown');
      await expect.poll(() => index(bt, 0)).toBe(c0 + N);
      await expect.poll(() => index(bt, 1), { timeout: 15_000 }).toBe(p0 + N);
      await bt.page
        .locator('[data-testid="viewport-1"][data-image-loaded="true"]')
        .waitFor({ timeout: 30_000 });
      await bt.page.waitForTimeout(300);
      const followed = await stackScores(bt, 1, old);
      const current = await stackScores(bt, 0, cur);
      await bt.screenshot('synced');
      expect(argmax(current)).toBe(c0 + N);
      expect(current[c0 + N]!).toBeGreaterThanOrEqual(0.95);
      expect(argmax(followed)).toBe(p0 + N);
      expect(followed[p0 + N]!).toBeGreaterThanOrEqual(0.95);

      // Sync off: the current study scrolls, the prior stays.
      await bt.page.locator('[data-testid="sync-scroll"]').uncheck();
      await bt.page.locator('[data-testid="viewport-element-0"]').click({ position: { x: 5, y: 5 } });
      for (let k = 0; k < 3; k++) await bt.page.keyboard.press('ArrowDown');
      await expect.poll(() => index(bt, 0)).toBe(c0 + N + 3);
      await bt.page.waitForTimeout(1000);
      expect(await index(bt, 1)).toBe(p0 + N);
      const stayed = await stackScores(bt, 1, old);
      expect(argmax(stayed)).toBe(p0 + N);
      bt.saveArtifact(
        'priors.json',
        JSON.stringify(
          { c0, p0, N, followed: followed[p0 + N], current: current[c0 + N], stayed: stayed[p0 + N] },
          null,
          2,
        ),
      );
      await bt.screenshot('unsynced');
      bt.assertNoErrors([/favicon\.ico/]);
    } finally {
      await bt.close();
    }
  });
});
