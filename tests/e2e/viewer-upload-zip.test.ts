/**
 * The upload page with a zip archive dropped on it (desktop, headless Chromium, real gateway):
 * the zip of a CT study is expanded in the browser, each file shows its own progress while the
 * link (throttled to 2 Mbit/s, 150 ms) carries it, the study's instances end up in the gateway's
 * index (and QIDO answers them), a text file in the archive is skipped as not DICOM, and a
 * DICOM file of the same study cut short inside its pixel data is listed as failed with the
 * server's FailureReason explained — while the rest of its batch is stored.
 */
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateStudy } from '../../scripts/demo/synth/study.js';
import { dicomParser } from '../../server/src/dicomweb/dicom-parser.js';
import {
  type LaunchedBrowser,
  launchBrowser,
  loginInBrowser,
  SLOW_LINK,
  VIEWPORTS,
} from './helpers/browser.js';
import { demoLogin, demoPatient } from './helpers/demo-data.js';
import {
  assertViewerServed,
  expectResponses,
  startViewerGateway,
  type ViewerGateway,
} from './helpers/viewer-app.js';

const uploader = demoLogin('bs.minh'); // referring doctor, district health centre
let g: ViewerGateway;
let browser: LaunchedBrowser;

const study = generateStudy({
  seed: 7641,
  patient: demoPatient('hung'),
  modality: 'CT',
  rows: 128,
  slices: 25,
  lesions: 0,
});
const files = study.series[0]!.instances;
const sopOf = (b: Uint8Array) => dicomParser.parseDicom(b, { untilTag: 'x7fe00010' }).string('x00080018')!;
/** 24 intact instances; the 25th is cut short 3000 bytes before the end of its pixel data. */
const intact = files.slice(0, 24);
const cut = files[24]!.subarray(0, files[24]!.length - 3000);
const INTACT_SOPS = intact.map(sopOf).sort();
const name = (k: number) => `CT-DANG-VAN-HUNG/SE1/IM${String(k + 1).padStart(4, '0')}.dcm`;
const archive = zipSync({
  ...Object.fromEntries(intact.map((b, k) => [name(k), b])),
  [name(24)]: cut,
  'CT-DANG-VAN-HUNG/README.txt': new TextEncoder().encode('Exported from the CT console.\n'),
});

beforeAll(async () => {
  g = await startViewerGateway('e2e-viewer-upload-zip');
  await assertViewerServed(g.baseUrl);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await g?.close();
});

describe('upload of a zip (1366×768)', () => {
  it('a dropped zip is expanded, sent with per-file progress, stored in the index; its corrupt file is listed with the reason', async () => {
    const bt = await browser.newTest('viewer upload zip', VIEWPORTS.desktop);
    const { page } = bt;
    try {
      await loginInBrowser(bt, g.baseUrl, uploader.username, uploader.password);
      await page.goto(`${g.baseUrl}/#/upload`, { waitUntil: 'domcontentloaded' });
      await page.locator('[data-testid="dropzone"]').waitFor();
      await bt.throttle(SLOW_LINK);
      // Every progress value strictly between 0 and 1 a file row shows while its state is
      // "sending", sampled in the page (progress is a DOM property, not an attribute).
      await page.evaluate(`(() => {
        window.__partial = [];
        window.__sampler = setInterval(() => {
          for (const li of document.querySelectorAll('[data-testid="file-list"] li')) {
            const p = li.querySelector('progress');
            if (p && p.value > 0 && p.value < 1)
              window.__partial.push([li.querySelector('.path').textContent, li.getAttribute('data-state'), p.value]);
          }
        }, 40);
      })()`);

      // Drag and drop: the zip as a File in a DataTransfer, dragged over and dropped.
      const dt = await page.evaluateHandle(
        `((b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], 'CT-DANG-VAN-HUNG.zip', { type: 'application/zip' }));
          return dt;
        })(${JSON.stringify(Buffer.from(archive).toString('base64'))})`,
      );
      await page.dispatchEvent('[data-testid="dropzone"]', 'dragover', { dataTransfer: dt });
      await page.dispatchEvent('[data-testid="dropzone"]', 'drop', { dataTransfer: dt });
      await page.locator('.upload-status[data-phase="sending"]').waitFor({ timeout: 30_000 });
      await bt.screenshot('sending');
      const t0 = Date.now();
      await page.locator('.upload-status[data-phase="done"]').waitFor({ timeout: 120_000 });
      const sendMs = Date.now() - t0;
      await bt.throttle(null);
      const partial = (await page.evaluate('clearInterval(window.__sampler) || window.__partial')) as Array<
        [string, string, number]
      >;
      await bt.screenshot('done');

      // Per-file progress: several files were seen part-sent, each while "sending".
      const partFiles = new Set(partial.map(([p]) => p));
      bt.saveArtifact(
        'upload.json',
        JSON.stringify(
          { sendMs, zipBytes: archive.length, partialSamples: partial.length, partFiles: [...partFiles] },
          null,
          2,
        ),
      );
      expect(partFiles.size).toBeGreaterThanOrEqual(3);
      expect(partial.every(([, state]) => state === 'sending')).toBe(true);
      expect([...partFiles].every((p) => p.startsWith('CT-DANG-VAN-HUNG.zip/CT-DANG-VAN-HUNG/'))).toBe(true);

      // Every entry of the zip has its row: 24 stored at 100 %, the text file skipped, one failed.
      const rows = page.locator('[data-testid="file-list"] li');
      expect(await rows.count()).toBe(26);
      const stored = page.locator('[data-testid="file-list"] li[data-state="stored"]');
      expect(await stored.count()).toBe(24);
      const values = await stored
        .locator('progress')
        .evaluateAll((ps) => ps.map((p) => (p as unknown as { value: number }).value));
      expect(values.every((v) => v === 1)).toBe(true);
      expect(await page.locator('[data-testid="file-list"] li[data-state="skipped"]').count()).toBe(1);

      // The corrupt file, listed with the server's FailureReason, explained.
      const failure = page.locator('[data-testid="upload-failures"] li');
      expect(await failure.count()).toBe(1);
      expect(['0xA900', '0xC000']).toContain(await failure.getAttribute('data-reason'));
      const text = await failure.innerText();
      expect(text).toContain('IM0025.dcm');
      expect(text).toMatch(/Nội dung tệp không khớp|Tệp bị hỏng/);

      // The index holds exactly the intact instances, and QIDO answers them to the uploader.
      const rowsInDb = await g.t.db.query<{ sop_instance_uid: string }>(
        'SELECT sop_instance_uid FROM instances WHERE study_uid = $1',
        [study.study.studyUid],
      );
      expect(rowsInDb.map((r) => r.sop_instance_uid).sort()).toEqual(INTACT_SOPS);
      const qido = await g.api<Array<Record<string, { Value?: string[] }>>>(
        'bs.minh',
        'GET',
        `/dicom-web/studies/${study.study.studyUid}/instances`,
      );
      expect(qido.map((r) => r['00080018']?.Value?.[0]).sort()).toEqual(INTACT_SOPS);
      // The study was new to the server: the resume check's QIDO answered 404 before the upload.
      expectResponses(bt, [{ status: 404, url: /\/dicom-web\/studies\/[0-9.]+\/instances\?/ }]);
      bt.assertNoErrors();
    } finally {
      await bt.throttle(null).catch(() => {});
      await bt.close();
    }
  });
});
