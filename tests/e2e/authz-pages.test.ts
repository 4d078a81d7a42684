/**
 * The authorization matrix through the viewer's own pages (the API-level matrix is
 * tests/integration/authz-matrix.test.ts): the central radiologist, in headless Chromium, opens
 * - a study the district shared with a read request (and sees its prior: same patient),
 * - another facility's study and a study whose request was cancelled (grant revoked): "not found",
 * - the worklist filtered to cancelled requests: the cancelled request is listed, its patient not,
 * and no answer the browser receives on the way names a patient the radiologist may not see.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeInstance } from '../helpers/dicom.js';
import { stow } from '../helpers/dicomweb.js';
import {
  type BrowserTest,
  type LaunchedBrowser,
  launchBrowser,
  loginInBrowser,
  VIEWPORTS,
} from './helpers/browser.js';
import { demoLogin } from './helpers/demo-data.js';
import { assertViewerServed, startViewerGateway, type ViewerGateway } from './helpers/viewer-app.js';

const sfx = randomBytes(3).toString('hex');
const PATIENTS = {
  shared: { name: 'Trần^Thị Ma Trận', id: `AZE-${sfx}-1` },
  foreign: { name: 'Phùng^Thị Khẩn Cấp', id: `AZE-${sfx}-2` },
  cancelled: { name: 'Vũ^Thị Huỷ Bỏ', id: `AZE-${sfx}-3` },
};
/** Every form a hidden patient could take in an answer: DICOM (`^`), display (space), ID. */
const forms = (p: { name: string; id: string }) => [
  p.id,
  p.name,
  p.name.replace(/\^/g, ' '),
  p.name.split('^')[0]!,
];

let g: ViewerGateway;
let browser: LaunchedBrowser;
const uids = { shared: '', prior: '', foreign: '', cancelled: '' };
let cancelledRequestId = '';

async function stowAs(user: string, patient: { name: string; id: string }): Promise<string> {
  const inst = makeInstance({ patientName: patient.name, patientId: patient.id, rows: 64, columns: 64 });
  const res = await stow(g.t, await g.t.login(user, demoLogin(user).password), [inst.bytes]);
  if (res.statusCode !== 200) throw new Error(`STOW as ${user}: ${res.statusCode} ${res.body}`);
  return inst.studyUid;
}

/** Bodies of the API answers the page receives (JSON and text only; pixels cannot hold a name). */
function recordAnswers(bt: BrowserTest): string[] {
  const bodies: string[] = [];
  bt.page.on('response', (res) => {
    const type = res.headers()['content-type'] ?? '';
    if (!/json|text/.test(type) || !/\/(api|dicom-web|wado)/.test(res.url())) return;
    res.text().then(
      (b) => bodies.push(b),
      () => undefined, // a body the page navigated away from
    );
  });
  return bodies;
}

beforeAll(async () => {
  g = await startViewerGateway('e2e-authz-pages');
  await assertViewerServed(g.baseUrl);
  uids.shared = await stowAs('bs.minh', PATIENTS.shared);
  uids.prior = await stowAs('bs.minh', PATIENTS.shared);
  uids.cancelled = await stowAs('bs.minh', PATIENTS.cancelled);
  uids.foreign = await stowAs('qt.tinh', PATIENTS.foreign);
  const ask = (studyUid: string) =>
    g.api<{ id: string }>('bs.minh', 'POST', '/api/requests', {
      studyUid,
      targetFacilityId: 'bv-trung-uong',
      priority: 'routine',
      clinicalInfo: 'Đau bụng hạ sườn phải.',
      question: 'Tổn thương gan?',
    });
  await ask(uids.shared);
  cancelledRequestId = (await ask(uids.cancelled)).id;
  await g.api('bs.minh', 'POST', `/api/requests/${cancelledRequestId}/cancel`, { reason: 'Chuyển viện' });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await g?.close();
});

describe('the viewer’s pages follow the grants model', () => {
  it('radiologist: shared study and prior open; foreign and revoked studies are "not found"; nothing leaks', async () => {
    const bt = await browser.newTest('authz pages radiologist', VIEWPORTS.desktop);
    const { page } = bt;
    const answers = recordAnswers(bt);
    try {
      await loginInBrowser(bt, g.baseUrl, 'bs.hoa', demoLogin('bs.hoa').password);

      // #/study/<shared>: the grant shows the patient, and the prior of the same patient.
      await page.goto(`${g.baseUrl}/#/study/${uids.shared}`, { waitUntil: 'domcontentloaded' });
      const title = page.locator('.study-title');
      await title.locator('[data-patient]').waitFor();
      expect(await title.locator('[data-patient]').innerText()).toBe('Trần Thị Ma Trận');
      await page.locator('[data-priors="1"]').waitFor();
      await bt.screenshot('shared-study');

      // #/study/<foreign> and #/study/<cancelled>: the same "not found" as a study that does not exist.
      for (const uid of [uids.foreign, uids.cancelled, '2.25.1234567890']) {
        await page.goto(`${g.baseUrl}/#/study/${uid}`, { waitUntil: 'domcontentloaded' });
        await page.reload({ waitUntil: 'domcontentloaded' });
        await title.locator('.error').waitFor();
        expect(await title.locator('[data-patient]').count()).toBe(0);
      }
      await bt.screenshot('foreign-study');

      // #/worklist, cancelled: the request is listed (the reader learns it was withdrawn), its patient is not.
      await page.goto(`${g.baseUrl}/#/worklist`, { waitUntil: 'domcontentloaded' });
      await page.locator('[data-testid="worklist"]').waitFor();
      await page.locator('form.filters select').first().selectOption('cancelled');
      const row = page.locator(`[data-request="${cancelledRequestId}"]`);
      await row.waitFor();
      expect(await row.innerText()).not.toContain('Vũ');
      await bt.screenshot('worklist-cancelled');

      // Nothing the browser received names the foreign or the revoked patient.
      await page.waitForLoadState('networkidle');
      expect(answers.length).toBeGreaterThan(5);
      const hidden = [...forms(PATIENTS.foreign), ...forms(PATIENTS.cancelled)];
      const leaks = answers.flatMap((b) => hidden.filter((h) => b.includes(h)));
      expect(leaks).toEqual([]);
      // ...while the shared patient did reach it (the recording works).
      expect(answers.some((b) => b.includes(PATIENTS.shared.id))).toBe(true);
    } finally {
      await bt.close();
    }
  });
});
