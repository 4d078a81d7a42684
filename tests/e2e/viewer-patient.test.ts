/**
 * The patient's page on a phone (390×844) in headless Chromium against the real gateway: a
 * share link of a signed study is opened with a wrong PIN (refused, clearly), then the right one;
 * the page shows the study's images (server-rendered slices with real content), the signed
 * report with a "valid" verification badge, and who accessed the record — and nothing of the
 * staff application.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SynthStudy } from '../../scripts/demo/synth/study.js';
import { type LaunchedBrowser, launchBrowser, VIEWPORTS } from './helpers/browser.js';
import { demoPatient, stowSynthStudy } from './helpers/demo-data.js';
import { decodeGrey, stats } from './helpers/pixels.js';
import {
  assertViewerServed,
  expectResponses,
  horizontalOverflow,
  startViewerGateway,
  type ViewerGateway,
} from './helpers/viewer-app.js';

const SIGNING_PIN = '975310';
const IMPRESSION = 'Không thấy tổn thương khu trú ở gan. Không có dịch ổ bụng.';

let g: ViewerGateway;
let browser: LaunchedBrowser;
let ct: SynthStudy;
let link: { token: string; pin: string };

beforeAll(async () => {
  g = await startViewerGateway('e2e-viewer-patient');
  await assertViewerServed(g.baseUrl);
  ct = await stowSynthStudy(g.t, {
    seed: 7631,
    patient: demoPatient('hung'),
    modality: 'CT',
    rows: 128,
    slices: 6,
    lesions: 0,
  });
  // The remote-reading workflow through the API: request, claim, report, sign.
  const request = await g.api<{ id: string }>('bs.minh', 'POST', '/api/requests', {
    studyUid: ct.study.studyUid,
    targetFacilityId: 'bv-trung-uong',
    priority: 'routine',
    clinicalInfo: 'Kiểm tra định kỳ sau điều trị.',
    question: 'Có tổn thương gan không?',
  });
  await g.api('bs.hoa', 'POST', '/api/signing/enrol', { pin: SIGNING_PIN }, 201);
  await g.api('bs.hoa', 'POST', `/api/requests/${request.id}/claim`);
  const draft = await g.api<{ id: string }>('bs.hoa', 'PUT', `/api/requests/${request.id}/report`, {
    templateId: 'generic',
    language: 'vi',
    fields: { findings: 'Gan, lách, tụy bình thường.', impression: IMPRESSION },
    freeText: '',
  });
  await g.api('bs.hoa', 'POST', `/api/reports/${draft.id}/sign`, { pin: SIGNING_PIN });
  const created = await g.api<{ token: string; pin: string | null }>(
    'bs.minh',
    'POST',
    `/api/studies/${ct.study.studyUid}/share-links`,
    { secret: 'pin' },
    201,
  );
  if (!created.pin) throw new Error('a PIN link came back without its PIN');
  link = { token: created.token, pin: created.pin };
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await g?.close();
});

describe('patient page (phone 390×844)', () => {
  it('wrong PIN refused, right PIN shows images, the signed report with a valid badge, and the access list', async () => {
    const bt = await browser.newTest('viewer patient share phone', VIEWPORTS.phone);
    const { page } = bt;
    try {
      await page.goto(`${g.baseUrl}/#/s/${link.token}`, { waitUntil: 'domcontentloaded' });
      const form = page.locator('[data-share="ask"]');
      await form.waitFor({ timeout: 30_000 });
      expect(await form.innerText()).toContain('Nhập mã PIN 6 chữ số');
      // No probing request counted against the link before the patient typed anything.
      expect(bt.problems.filter((p) => p.url?.endsWith('/api/share/open'))).toEqual([]);
      // Nothing of the staff application: no navigation, no login, no logout.
      expect(await page.locator('[data-nav], [data-action="logout"], #login-user').count()).toBe(0);

      const wrong = link.pin === '000000' ? '111111' : '000000';
      await page.getByLabel('Mã PIN hoặc năm sinh').fill(wrong);
      await page.getByRole('button', { name: 'Mở' }).click();
      const error = page.locator('[data-share-error]');
      await error.waitFor({ timeout: 30_000 });
      expect(await error.innerText()).toContain('Mã không đúng');
      expect(await page.locator('[data-share="open"]').count()).toBe(0);
      await bt.screenshot('wrong-pin');

      await page.getByLabel('Mã PIN hoặc năm sinh').fill(link.pin);
      await page.getByRole('button', { name: 'Mở' }).click();
      await page.locator('[data-share="open"]').waitFor({ timeout: 30_000 });

      // Images: a server-rendered slice with real content (not blank, not a broken image).
      const slice = page.locator('[data-testid="patient-slice"]');
      await slice.waitFor({ timeout: 30_000 });
      await expect
        .poll(() => slice.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), {
          timeout: 30_000,
        })
        .toBeGreaterThan(0);
      const pixels = stats((await decodeGrey(await slice.screenshot())).grey);
      expect(pixels.sd).toBeGreaterThan(15);
      expect(pixels.modeShare).toBeLessThan(0.9);

      // The signed report with its verification.
      const report = page.locator('[data-testid="patient-report"]');
      expect(await report.innerText()).toContain(IMPRESSION);
      const badge = report.locator('[data-verify="valid"]');
      await badge.waitFor();
      expect(await badge.innerText()).toContain('Chữ ký hợp lệ');

      // Who accessed the record: at least the radiologist's reading and this opening; the one
      // refused attempt is the wrong PIN (the page itself made no other attempt).
      const access = page.locator('[data-testid="access-log"]');
      await access.locator('li').first().waitFor({ timeout: 30_000 });
      expect(await access.locator('li[data-actor="you"]').count()).toBeGreaterThan(0);
      expect(await access.locator('li[data-actor="staff"]').count()).toBeGreaterThan(0);
      const refused = (
        await g.t.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM audit_events WHERE action = 'share.open' AND outcome <> 'success' AND study_uid = $1`,
          [ct.study.studyUid],
        )
      )[0]!.n;
      expect(refused).toBe(1);
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
      await bt.screenshot('open');
      await page.locator('[data-testid="access-log"]').scrollIntoViewIfNeeded();
      await bt.screenshot('access-log');

      expectResponses(bt, [
        // No viewing session before the PIN; the wrong PIN.
        { status: 401, url: /\/api\/share\/me$/ },
        { status: 401, url: /\/api\/share\/open$/ },
      ]);
      bt.assertNoErrors();
    } finally {
      await bt.close();
    }
  });
});
