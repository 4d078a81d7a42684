/**
 * Key images as a product feature, in headless Debian Chromium against the real gateway, Orthanc
 * and database: a radiologist scrolls to a slice, marks it (toolbar button), writes a note; the
 * server holds exactly that instance (the ground-truth SOP Instance UID of the slice) with the
 * note. After a full page reload the list is still there, "jump to" lands on that very slice —
 * its index, the key badge, and the rendered pixels (SSIM against every slice's reference: the key
 * slice is the best match) — and the K shortcut unmarks it on the server.
 */
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

let gw: ViewerGateway;
let browser: LaunchedBrowser;
let ct: SynthStudy;
let slices: ReturnType<typeof modalityValues>[];
const reader = demoLogin('bs.hoa'); // radiologist, central hospital

beforeAll(async () => {
  gw = await startViewerGateway('e2e-viewer-key-images');
  await assertViewerServed(gw.baseUrl);
  ct = await stowSynthStudy(gw.t, {
    seed: 6351,
    patient: demoPatient('khai'),
    modality: 'CT',
    rows: 128,
    slices: 12,
  });
  slices = ct.series[0]!.instances.map((b) => modalityValues(b));
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await gw?.close();
});

const pane = '[data-testid="viewport-0"]';

async function canvasGrey(bt: BrowserTest): Promise<GreyImage> {
  const dataUrl = await bt.page
    .locator('[data-testid="viewport-element-0"] canvas')
    .first()
    .evaluate((c) => (c as unknown as { toDataURL(t: string): string }).toDataURL('image/png'));
  return decodeGrey(Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64'));
}

/** SSIM of the canvas against each slice's reference under the CT's own window (W 400 / C 40). */
async function scores(bt: BrowserTest): Promise<number[]> {
  const img = await canvasGrey(bt);
  const first = slices[0]!;
  const seen = sampleOnImageGrid(
    img,
    fitCentred(img.width, img.height, first.cols, first.rows),
    first.cols,
    first.rows,
  );
  return slices.map((s) =>
    ssim(
      Float64Array.from(s.values, (v) => windowGrey(v, 40, 400)),
      seen,
      s.cols,
      s.rows,
    ),
  );
}

async function index(bt: BrowserTest): Promise<number> {
  return Number(await bt.page.locator(pane).getAttribute('data-image-index'));
}

async function openStudy(bt: BrowserTest): Promise<void> {
  await bt.page.goto(`${gw.baseUrl}/#/study/${ct.study.studyUid}`, { waitUntil: 'domcontentloaded' });
  await bt.page.locator(`${pane}[data-image-loaded="true"]`).waitFor({ timeout: 60_000 });
  await expect
    .poll(async () => stats((await canvasGrey(bt)).grey).sd, { timeout: 30_000 })
    .toBeGreaterThan(10);
}

type Listed = {
  keyImages: { sopInstanceUid: string; seriesUid: string; frame: number; note: string | null }[];
};

describe('key images in the viewer', () => {
  it('marks a slice with a note, keeps it across a reload, jumps back to it, unmarks with K', async () => {
    const bt = await browser.newTest('viewer key images', VIEWPORTS.desktop);
    try {
      bt.page.on('pageerror', (e) => bt.saveArtifact('pageerror.txt', `${e.stack ?? e.message}\n`));
      await loginInBrowser(bt, gw.baseUrl, reader.username, reader.password);
      await openStudy(bt);
      const start = await index(bt);
      await expect(bt.page.locator('[data-testid="key-images"]').getAttribute('data-count')).resolves.toBe(
        '0',
      );

      // Scroll 3 slices down and mark that slice with the toolbar button.
      await bt.page.locator('[data-testid="viewport-element-0"]').click({ position: { x: 5, y: 5 } });
      for (let i = 0; i < 3; i++) await bt.page.keyboard.press('ArrowDown');
      const k = start + 3;
      await expect.poll(() => index(bt)).toBe(k);
      await bt.page.locator('[data-testid="action-key-image"]').click();
      await bt.page.locator('[data-testid="key-image"][data-current="true"]').waitFor({ timeout: 10_000 });
      expect(await bt.page.locator('[data-testid="action-key-image"]').getAttribute('aria-pressed')).toBe(
        'true',
      );
      const note = 'Nốt giảm tỷ trọng gan phải — theo dõi';
      await bt.page.locator('[data-testid="key-image-note"]').fill(note);
      await bt.page.locator('[data-testid="key-image-save"]').click();
      await bt.page.locator('[data-testid="key-image"]', { hasText: note }).waitFor({ timeout: 10_000 });

      // The server holds exactly the ground-truth instance of slice k, with the note.
      const series = ct.series[0]!;
      const saved = await gw.api<Listed>(
        reader.username,
        'GET',
        `/api/studies/${ct.study.studyUid}/key-images`,
      );
      expect(saved.keyImages).toEqual([
        expect.objectContaining({
          sopInstanceUid: series.sopInstanceUids[k],
          seriesUid: series.seriesUid,
          frame: 1,
          note,
        }),
      ]);
      await bt.screenshot('marked');

      // Reload: the viewer opens on its default slice, the saved key image is listed.
      await bt.page.reload({ waitUntil: 'domcontentloaded' });
      await bt.page.locator(`${pane}[data-image-loaded="true"]`).waitFor({ timeout: 60_000 });
      const item = bt.page.locator('[data-testid="key-image"]');
      await expect.poll(() => item.count(), { timeout: 15_000 }).toBe(1);
      expect(await item.getAttribute('data-sop')).toBe(series.sopInstanceUids[k]);
      expect(await item.textContent()).toContain(note);
      expect(await index(bt)).toBe(start);
      expect(await item.getAttribute('data-current')).toBe('false');

      // Jump to it: the slice index, the key badge and the pixels are those of slice k.
      await bt.page.locator('[data-testid="key-image-jump"]').click();
      await expect.poll(() => index(bt), { timeout: 15_000 }).toBe(k);
      await bt.page.locator(`${pane}[data-image-loaded="true"]`).waitFor({ timeout: 30_000 });
      await expect.poll(() => item.getAttribute('data-current')).toBe('true');
      await expect
        .poll(() => bt.page.locator('[data-testid="overlay-slice-0"] .rl-key-badge').count())
        .toBe(1);
      await bt.page.waitForTimeout(300);
      const s = await scores(bt);
      bt.saveArtifact('ssim.json', JSON.stringify({ keySlice: k, start, scores: s }, null, 2));
      await bt.screenshot('jumped');
      expect(s.indexOf(Math.max(...s))).toBe(k);
      expect(s[k]!).toBeGreaterThanOrEqual(0.95);

      // K unmarks the slice on screen, on the server too.
      await bt.page.keyboard.press('k');
      await expect.poll(() => item.count(), { timeout: 10_000 }).toBe(0);
      await expect
        .poll(
          async () =>
            (await gw.api<Listed>(reader.username, 'GET', `/api/studies/${ct.study.studyUid}/key-images`))
              .keyImages.length,
        )
        .toBe(0);
      bt.assertNoErrors([/favicon\.ico/]);
    } finally {
      await bt.close();
    }
  });
});
