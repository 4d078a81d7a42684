/**
 * A viewer nobody here wrote, against the gateway: the prebuilt OHIF 3.13 (npm `@ohif/app`, its
 * dist) in headless Debian Chromium, on the same origin as the gateway (helpers/ohif-server.ts)
 * and authenticated only by the gateway's HttpOnly session cookie, as a radiologist of the
 * central hospital.
 *
 *  - The study list finds a Vietnamese patient from a search typed without diacritics, shows the
 *    name with its diacritics, and shows only studies in the user's scope.
 *  - A CT series opens and renders: the viewport canvas is not blank, it is the uploaded slice
 *    (its pixels correlate with the file's own pixels under the file's window), the body is
 *    mid-grey and the air around it dark.
 *
 * Data: three small synthetic studies STOWed through the gateway by users of their facilities.
 * Screenshots stay in test-artifacts/<test>/ for a person to look at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SynthStudy } from '../../scripts/demo/synth/study.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import {
  type BrowserTest,
  type LaunchedBrowser,
  launchBrowser,
  loginInBrowser,
  VIEWPORTS,
} from './helpers/browser.js';
import { createDemoOrganisation, demoLogin, demoPatient, stowSynthStudy } from './helpers/demo-data.js';
import { type OhifServer, startOhifServer } from './helpers/ohif-server.js';
import {
  decodeGrey,
  fitCentred,
  greyAt,
  median,
  modalityValues,
  pearson,
  samplePoints,
  stats,
  windowGrey,
} from './helpers/pixels.js';

/**
 * Console noise OHIF 3.13 itself produces on a healthy load, each for a reason unrelated to the
 * gateway. Anything else the browser reports fails the test.
 */
const OHIF_NOISE: readonly RegExp[] = [];

let t: TestApp;
let server: OhifServer;
let browser: LaunchedBrowser;
let ct: SynthStudy;
const reader = demoLogin('bs.hoa'); // radiologist, central hospital (bv-trung-uong)

beforeAll(async () => {
  t = await buildTestApp({ name: 'e2e-ohif' });
  await createDemoOrganisation(t);
  // In the reader's scope: the CT to render (Nguyễn^Thị Minh Khai) and a second patient.
  ct = await stowSynthStudy(t, {
    seed: 3101,
    patient: demoPatient('khai'),
    modality: 'CT',
    rows: 256,
    slices: 24,
    lesions: 1,
  });
  await stowSynthStudy(t, {
    seed: 3102,
    patient: demoPatient('duc'),
    modality: 'CT',
    rows: 64,
    slices: 4,
    lesions: 0,
  });
  // Another facility's patient: must not appear for the reader.
  await stowSynthStudy(t, {
    seed: 3103,
    patient: demoPatient('hung'),
    modality: 'CT',
    rows: 64,
    slices: 4,
    lesions: 0,
  });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('gateway has no TCP address');
  server = await startOhifServer(address.port);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await t?.close();
});

const CANVAS = '.cornerstone-viewport-element canvas, canvas.cornerstone-canvas';

/**
 * The viewport canvas's own pixels as PNG. Cornerstone3D draws each viewport into a 2D canvas,
 * so its content can be read without the DOM overlays (patient text, orientation markers)
 * that an element screenshot would include on top.
 */
async function canvasPng(bt: BrowserTest): Promise<Buffer> {
  const dataUrl = await bt.page
    .locator(CANVAS)
    .first()
    .evaluate((c) => (c as unknown as { toDataURL(t: string): string }).toDataURL('image/png'));
  return Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64');
}

describe('OHIF 3.13 against the gateway (same origin, session cookie)', () => {
  it('the study list finds Nguyễn^Thị Minh Khai by "nguyen thi", only in the reader\'s scope', async () => {
    const bt = await browser.newTest('ohif study list search', VIEWPORTS.desktop);
    try {
      await loginInBrowser(bt, server.url, reader.username, reader.password);
      await bt.page.goto(`${server.url}/`, { waitUntil: 'domcontentloaded' });
      const rows = bt.page.locator('table tbody tr[aria-selected]');
      await expect.poll(() => rows.count(), { timeout: 90_000 }).toBe(2);
      await bt.screenshot('study-list');
      const unfiltered = await rows.allInnerTexts();
      expect(unfiltered.join('\n')).toContain('Lê, Quang Đức');
      // Đặng^Văn Hùng belongs to the district hospital: not in a central radiologist's scope.
      expect(unfiltered.join('\n')).not.toContain('Đặng');

      const searched = bt.page.waitForRequest(
        (r) => r.url().includes('/dicom-web/studies?') && r.url().includes('PatientName='),
      );
      await bt.page.locator('table input').first().fill('nguyen thi');
      const qido = await searched;
      // OHIF sends the typed text as is, as a fuzzy match: the gateway folds case and diacritics.
      expect(new URL(qido.url()).searchParams.get('PatientName')).toBe('nguyen thi');
      expect(new URL(qido.url()).searchParams.get('fuzzymatching')).toBe('true');
      expect((await qido.response())?.status()).toBe(200);
      // The cookie, not a token in OHIF's configuration, authenticated the query.
      expect(await qido.headerValue('authorization')).toBeNull();
      // The server filtered: the other patient is gone, the Vietnamese name shows its diacritics.
      await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(1);
      const row = ((await rows.first().textContent()) ?? '').normalize('NFC');
      expect(row).toContain('Nguyễn, Thị Minh Khai');
      expect(row).toContain(ct.study.accessionNumber);
      await bt.screenshot('nguyen-thi');
      bt.assertNoErrors(OHIF_NOISE);
    } finally {
      await bt.close();
    }
  });

  it('opens the CT series in the viewer and renders it: body mid-grey, air dark', async () => {
    const bt = await browser.newTest('ohif renders ct', VIEWPORTS.desktop);
    try {
      // Every frame request OHIF makes, with the Accept header it chose (for a precise failure).
      const frames: { status: number; accept: string }[] = [];
      bt.page.on('response', (res) => {
        if (res.url().includes('/frames/'))
          frames.push({ status: res.status(), accept: res.request().headers().accept ?? '' });
      });
      await loginInBrowser(bt, server.url, reader.username, reader.password);
      await bt.page.goto(`${server.url}/`, { waitUntil: 'domcontentloaded' });
      const rows = bt.page.locator('table tbody tr[aria-selected]');
      await expect.poll(() => rows.count(), { timeout: 90_000 }).toBe(2);
      await rows.filter({ hasText: 'Minh Khai' }).first().click();
      await bt.page.getByRole('button', { name: 'Basic Viewer' }).click();
      await bt.page.waitForURL(/\/viewer/, { timeout: 60_000 });
      expect(new URL(bt.page.url()).searchParams.get('StudyInstanceUIDs')).toBe(ct.study.studyUid);

      // Wait until the canvas shows more than a flat fill (the first frame has arrived and decoded).
      await bt.page.locator(CANVAS).first().waitFor({ state: 'visible', timeout: 90_000 });
      let png = await canvasPng(bt);
      const deadline = Date.now() + 90_000;
      // A refused frame ends the wait at once (the assertion below names the Accept header).
      while (
        stats((await decodeGrey(png)).grey).sd < 10 &&
        Date.now() < deadline &&
        !frames.some((f) => f.status >= 400)
      ) {
        await bt.page.waitForTimeout(500);
        png = await canvasPng(bt);
      }
      // Decoding and drawing may still settle; one more second, then the picture to judge.
      await bt.page.waitForTimeout(1000);
      png = await canvasPng(bt);
      bt.saveArtifact('viewport-canvas.png', png);
      const refused = frames.filter((f) => f.status !== 200);
      expect(frames.length, 'OHIF requested no frames').toBeGreaterThan(0);
      expect(refused, `frames refused: ${JSON.stringify(refused.slice(0, 2))}`).toEqual([]);
      await bt.screenshot('viewer');
      const img = await decodeGrey(png);
      const all = stats(img.grey);
      expect(all.sd, 'the viewport is blank').toBeGreaterThan(20);
      expect(all.modeShare, 'the viewport is nearly one flat value').toBeLessThan(0.98);

      // Ground truth from the uploaded files: each slice windowed as its header says (W 400 /
      // C 40). The displayed slice is the one whose expected picture correlates best with the
      // canvas, assuming the viewer fits the whole image centred (OHIF's default; a wrong
      // placement would show as a low correlation, not as a pass).
      const slices = ct.series[0]!.instances.map((b) => modalityValues(b));
      const first = slices[0]!;
      const at = fitCentred(img.width, img.height, first.cols, first.rows);
      // Single pixels, noise included: a faithful rendering reproduces the generator's noise
      // pattern too (measured r ≈ 0.97), which a smoothed or wrong image cannot.
      const samples = slices.map((sl) => samplePoints(sl, 4, 0));
      const seen = samples[0]!.map((p) => greyAt(img, at, p, 0));
      const fits = samples.map((pts) =>
        pearson(
          pts.map((p) => windowGrey(p.value, 40, 400)),
          seen,
        ),
      );
      const k = fits.indexOf(Math.max(...fits));
      const pts = samples[k]!;
      const body = pts.filter((p) => p.value >= 0 && p.value <= 120);
      const air = pts.filter((p) => p.value <= -900);
      expect(body.length).toBeGreaterThan(50);
      expect(air.length).toBeGreaterThan(50);
      const bodyGrey = median(body.map((p) => greyAt(img, at, p, 0)));
      const airGrey = median(air.map((p) => greyAt(img, at, p, 0)));
      bt.saveArtifact(
        'pixel-check.json',
        JSON.stringify(
          {
            canvas: { width: img.width, height: img.height },
            all,
            at,
            slice: k,
            fits,
            bodyGrey,
            airGrey,
            body: body.length,
            air: air.length,
          },
          null,
          2,
        ),
      );
      // The rendered picture is the uploaded slice (not a blank, a wrong image or a wrong window).
      expect(fits[k]!).toBeGreaterThan(0.9);
      // All slices share one sampling grid: the displayed slice must beat its neighbours clearly.
      expect(fits[k]!).toBeGreaterThan(Math.max(...fits.filter((_, i) => i !== k)) + 0.05);
      // Soft tissue 0..120 HU maps to grey ~102..178; air (-1000 HU) to 0.
      expect(bodyGrey).toBeGreaterThan(80);
      expect(bodyGrey).toBeLessThan(200);
      expect(airGrey).toBeLessThan(25);
      bt.assertNoErrors(OHIF_NOISE);
    } finally {
      await bt.close();
    }
  });
});
