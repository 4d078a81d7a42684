/**
 * RadLink's own viewer shell in headless Chromium against the real gateway (built viewer at `/`,
 * same origin, HttpOnly session cookie):
 *
 *  - desktop 1366×768, radiologist: the login form → the worklist shows the district hospital's
 *    request → claim and open → the study viewer mounts (a Cornerstone canvas) beside the report
 *    panel → the draft autosaves → a wrong PIN signs nothing (checked on the server) → the right
 *    PIN signs → the badge says "valid" (and the server's verification agrees);
 *  - tablet 768×1024: the Vietnamese/English switch is remembered across a reload; the `?`
 *    shortcut help; the TOTP step of the login form; an admin's user list;
 *  - phone 390×844, referring doctor: "my requests" follows a claim live (server-sent events),
 *    without a reload.
 * Screenshots stay in test-artifacts/<test>/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SynthStudy } from '../../scripts/demo/synth/study.js';
import { totpNow } from '../../server/src/identity/totp.js';
import { type LaunchedBrowser, launchBrowser, loginInBrowser, VIEWPORTS } from './helpers/browser.js';
import { demoLogin, demoPatient, stowSynthStudy } from './helpers/demo-data.js';
import {
  assertViewerServed,
  expectResponses,
  horizontalOverflow,
  startViewerGateway,
  type ViewerGateway,
} from './helpers/viewer-app.js';

const PIN = '246810';
/** What page.evaluate callbacks read in the page (this tree is typechecked without the DOM library). */
interface PageGlobals {
  document: { documentElement: { lang: string } };
  localStorage: { getItem(key: string): string | null };
}
/** The session probe before login answers 401 (the login form is shown). */
const SESSION_PROBE = { status: 401, url: /\/api\/auth\/me$/ };

let g: ViewerGateway;
let browser: LaunchedBrowser;
let ct: SynthStudy;
/** A second study: one study has at most one open request to a facility. */
let ct2: SynthStudy;

interface ReadRequest {
  id: string;
  status: string;
  studyUid: string;
}

beforeAll(async () => {
  g = await startViewerGateway('e2e-viewer-shell');
  await assertViewerServed(g.baseUrl);
  // Đặng^Văn Hùng, district hospital: uploaded there, read at the central hospital.
  ct = await stowSynthStudy(g.t, {
    seed: 7611,
    patient: demoPatient('hung'),
    modality: 'CT',
    rows: 128,
    slices: 8,
    lesions: 0,
  });
  ct2 = await stowSynthStudy(g.t, {
    seed: 7612,
    patient: demoPatient('hung'),
    modality: 'CT',
    rows: 64,
    slices: 2,
    lesions: 0,
  });
  await g.api('bs.hoa', 'POST', '/api/signing/enrol', { pin: PIN }, 201);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await g?.close();
});

const newRequest = (study: SynthStudy, priority: string, question: string) =>
  g.api<ReadRequest>('bs.minh', 'POST', '/api/requests', {
    studyUid: study.study.studyUid,
    targetFacilityId: 'bv-trung-uong',
    priority,
    clinicalInfo: 'Đau bụng hạ sườn phải 3 ngày, sốt nhẹ.',
    question,
  });

describe('viewer shell', () => {
  it('radiologist at 1366×768: login → worklist → open study → report → wrong PIN → sign → badge valid', async () => {
    const request = await newRequest(ct, 'urgent', 'Có tổn thương gan khu trú không?');
    const bt = await browser.newTest('viewer shell report sign', VIEWPORTS.desktop);
    const { page } = bt;
    try {
      await page.goto(`${g.baseUrl}/`, { waitUntil: 'domcontentloaded' });
      // The login form, in Vietnamese by default.
      await page.getByLabel('Tên đăng nhập').fill('bs.hoa');
      await page.getByLabel('Mật khẩu').fill(demoLogin('bs.hoa').password);
      await bt.screenshot('login');
      await page.getByRole('button', { name: 'Đăng nhập' }).click();

      const row = page.locator(`tr[data-request="${request.id}"]`);
      await row.waitFor({ timeout: 30_000 });
      expect((await row.innerText()).normalize('NFC')).toContain('Đặng Văn Hùng');
      expect(await row.innerText()).toContain('Khẩn');
      expect(await row.innerText()).toContain(ct.study.accessionNumber);
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
      await bt.screenshot('worklist');

      await row.locator('[data-action="claim"]').click();
      await page.waitForURL(
        new RegExp(`#/study/${ct.study.studyUid.replaceAll('.', '\\.')}\\?request=${request.id}$`),
      );
      expect((await g.api<ReadRequest>('bs.hoa', 'GET', `/api/requests/${request.id}`)).status).toBe(
        'claimed',
      );

      // The study viewer mounts beside the report panel and draws into a canvas.
      const canvas = page.locator('[data-testid="viewer-area"] canvas').first();
      await canvas.waitFor({ state: 'visible', timeout: 120_000 });
      const box = await canvas.boundingBox();
      expect(box?.width ?? 0).toBeGreaterThan(300);
      const panel = page.locator('[data-testid="report-panel"]');
      await panel.waitFor();
      expect(await panel.innerText()).toContain('Có tổn thương gan khu trú không?');

      // An abdominal CT: no region template fits, so the generic one (not CT head) is proposed;
      // its structured fields are filled, and the draft saves itself.
      const template = page.locator('select[data-field="template"]');
      expect(await template.inputValue()).toBe('generic');
      expect(await template.locator('option').allInnerTexts()).toContain('CT sọ não (CT)');
      await page
        .locator('textarea[data-field="findings"]')
        .fill('Gan kích thước bình thường, có một nốt giảm tỷ trọng hạ phân thùy VI.');
      await page.locator('textarea[data-field="impression"]').fill('Nốt gan hạ phân thùy VI, theo dõi.');
      await page.locator('[data-save="saved"]').waitFor({ timeout: 20_000 });
      const draft = await g.api<{ report: { status: string; fields: Record<string, string> } }>(
        'bs.hoa',
        'GET',
        `/api/requests/${request.id}/report`,
      );
      expect(draft.report.status).toBe('draft');
      expect(draft.report.fields.impression).toBe('Nốt gan hạ phân thùy VI, theo dõi.');
      await bt.screenshot('draft-saved');

      // A wrong PIN: a clear error, and nothing signed on the server.
      await page.locator('#sign-pin').fill('135790');
      await page.locator('[data-action="sign"]').click();
      const signError = page.locator('[data-sign-error]');
      await signError.waitFor({ timeout: 30_000 });
      expect(await signError.innerText()).toContain('Sai mã PIN');
      await bt.screenshot('wrong-pin');
      expect((await g.api<ReadRequest>('bs.hoa', 'GET', `/api/requests/${request.id}`)).status).not.toBe(
        'signed',
      );
      expect(
        (await g.api<{ report: { status: string } }>('bs.hoa', 'GET', `/api/requests/${request.id}/report`))
          .report.status,
      ).toBe('draft');

      // The right PIN signs; the badge shows the server's verification.
      await page.locator('#sign-pin').fill(PIN);
      await page.locator('[data-action="sign"]').click();
      const badge = page.locator('[data-verify="valid"]');
      await badge.waitFor({ timeout: 60_000 });
      expect(await badge.innerText()).toContain('Chữ ký hợp lệ');
      await bt.screenshot('signed-valid');
      const signed = await g.api<{ report: { id: string; status: string } }>(
        'bs.hoa',
        'GET',
        `/api/requests/${request.id}/report`,
      );
      expect(signed.report.status).toBe('final');
      expect(
        (await g.api<{ status: string }>('bs.hoa', 'GET', `/api/reports/${signed.report.id}/verify`)).status,
      ).toBe('valid');
      expectResponses(bt, [
        SESSION_PROBE,
        // No report before the first autosave; the wrong PIN.
        { status: 404, url: new RegExp(`/api/requests/${request.id}/report$`) },
        { status: 403, url: /\/api\/reports\/[0-9a-f-]+\/sign$/ },
      ]);
      bt.assertNoErrors();
    } finally {
      await bt.close();
    }
  });

  it('tablet 768×1024: the language switch is remembered; `?` opens the shortcut help', async () => {
    const bt = await browser.newTest('viewer shell language tablet', VIEWPORTS.tablet);
    const { page } = bt;
    try {
      await loginInBrowser(bt, g.baseUrl, 'bs.hoa', demoLogin('bs.hoa').password);
      await page.goto(`${g.baseUrl}/#/worklist`, { waitUntil: 'domcontentloaded' });
      const nav = page.locator('[data-nav="worklist"]');
      await nav.waitFor();
      expect(await nav.innerText()).toBe('Danh sách đọc');
      await page.locator('[data-lang="en"]').click();
      expect(await nav.innerText()).toBe('Worklist');
      expect(await page.locator('h1').first().innerText()).toBe('Worklist');

      await page.reload({ waitUntil: 'domcontentloaded' });
      await nav.waitFor();
      expect(await nav.innerText()).toBe('Worklist');
      expect(
        await page.evaluate(() => (globalThis as unknown as PageGlobals).document.documentElement.lang),
      ).toBe('en');
      expect(
        await page.evaluate(() =>
          (globalThis as unknown as PageGlobals).localStorage.getItem('radlink.lang'),
        ),
      ).toBe('en');
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);

      await page.keyboard.press('?');
      const help = page.getByRole('dialog');
      await help.waitFor();
      expect(await help.innerText()).toContain('Keyboard shortcuts');
      expect(await help.innerText()).toContain('Go to study search');
      await bt.screenshot('help-en');
      await page.keyboard.press('Escape');
      await help.waitFor({ state: 'detached' });

      // Back to Vietnamese by the keyboard: g then l.
      await page.keyboard.press('g');
      await page.keyboard.press('l');
      expect(await nav.innerText()).toBe('Danh sách đọc');
      await bt.screenshot('worklist-tablet-vi');
      bt.assertNoErrors();
    } finally {
      await bt.close();
    }
  });

  it('tablet 768×1024: the login form asks for the TOTP code when the account has one; admins see their users', async () => {
    const admin = demoLogin('qt.tinh');
    const setup = await g.api<{ secret: string }>('qt.tinh', 'POST', '/api/auth/totp/setup');
    await g.api('qt.tinh', 'POST', '/api/auth/totp/enable', { code: await totpNow(setup.secret) });
    const bt = await browser.newTest('viewer shell totp admin', VIEWPORTS.tablet);
    const { page } = bt;
    try {
      await page.goto(`${g.baseUrl}/#/users`, { waitUntil: 'domcontentloaded' });
      await page.getByLabel('Tên đăng nhập').fill(admin.username);
      await page.getByLabel('Mật khẩu').fill(admin.password);
      await page.getByRole('button', { name: 'Đăng nhập' }).click();
      const code = page.getByLabel('Mã xác thực');
      await code.waitFor({ timeout: 30_000 });
      await bt.screenshot('totp-step');
      await code.fill(await totpNow(setup.secret));
      await page.getByRole('button', { name: 'Đăng nhập' }).click();
      await page.locator('[data-action="logout"]').waitFor({ timeout: 30_000 });
      await page.locator('[data-nav="users"]').click();
      const users = page.locator('[data-testid="users"]');
      await users.waitFor();
      expect(await users.innerText()).toContain('qt.tinh');
      await bt.screenshot('users');
      await page.locator('[data-action="logout"]').click();
      await page.getByLabel('Tên đăng nhập').waitFor();
      expect((await bt.context.cookies(g.baseUrl)).some((c) => c.name === 'radlink_session' && c.value)).toBe(
        false,
      );
      expectResponses(bt, [SESSION_PROBE, { status: 401, url: /\/api\/auth\/login$/ }]);
      bt.assertNoErrors();
    } finally {
      await bt.close();
    }
  });

  it("phone 390×844: the referring doctor's requests follow a claim live, without a reload", async () => {
    const request = await newRequest(ct2, 'stat', 'Dịch tự do ổ bụng?');
    const bt = await browser.newTest('viewer shell requests live phone', VIEWPORTS.phone);
    const { page } = bt;
    try {
      await loginInBrowser(bt, g.baseUrl, 'bs.minh', demoLogin('bs.minh').password);
      await page.goto(`${g.baseUrl}/`, { waitUntil: 'domcontentloaded' });
      const card = page.locator(`[data-request="${request.id}"]`);
      await card.waitFor({ timeout: 30_000 });
      expect(await card.getAttribute('data-status')).toBe('requested');
      expect(await card.innerText()).toContain('Cấp cứu');
      await page.locator('[data-live="open"]').waitFor({ timeout: 30_000 });
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
      await bt.screenshot('requests-phone');
      // A marker that a reload would erase.
      await page.evaluate(() => {
        (globalThis as unknown as { marker: number }).marker = 42;
      });

      await g.api('bs.hoa', 'POST', `/api/requests/${request.id}/claim`);
      await page
        .locator(`[data-request="${request.id}"][data-status="claimed"]`)
        .waitFor({ timeout: 30_000 });
      expect(await card.innerText()).toContain('Đang đọc');
      expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);
      await bt.screenshot('requests-phone-claimed');
      bt.assertNoErrors();
    } finally {
      await bt.close();
    }
  });
});
