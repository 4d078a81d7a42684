/**
 * The referring doctor's upload on a phone (390×844), in headless Chromium against the real
 * gateway: a folder of DICOM files (plus a text file and a broken DICOM file) is picked with the
 * folder input; the network fails after the first STOW batch; the server then holds exactly
 * that batch; "resume" asks QIDO what is stored and sends only the rest (checked on the wire and
 * in the gateway's index); the broken file is listed with its FailureReason explained; the
 * doctor then files a STAT read request for the uploaded study.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateStudy } from '../../scripts/demo/synth/study.js';
import { dicomParser } from '../../server/src/dicomweb/dicom-parser.js';
import { stack } from '../helpers/app.js';
import { type LaunchedBrowser, launchBrowser, loginInBrowser, VIEWPORTS } from './helpers/browser.js';
import { demoLogin, demoPatient } from './helpers/demo-data.js';
import {
  assertViewerServed,
  expectResponses,
  horizontalOverflow,
  startViewerGateway,
  type ViewerGateway,
} from './helpers/viewer-app.js';

let g: ViewerGateway;
let browser: LaunchedBrowser;
let folder: string;

const study = generateStudy({
  seed: 7621,
  patient: demoPatient('hung'),
  modality: 'CT',
  rows: 64,
  slices: 24,
  lesions: 0,
});
const instances = study.series.flatMap((s) => s.instances);
/** A second study's single file, cut short inside its pixel data: the server refuses it. */
const broken = generateStudy({
  seed: 7622,
  patient: demoPatient('hung'),
  modality: 'CT',
  rows: 64,
  slices: 1,
  lesions: 0,
}).series[0]!.instances[0]!;
const brokenBytes = broken.subarray(0, broken.length - 2000);

function sopOf(bytes: Uint8Array): string {
  return dicomParser.parseDicom(bytes, { untilTag: 'x7fe00010' }).string('x00080018')!;
}
const ALL = instances.map(sopOf);
const BROKEN_SOP = sopOf(brokenBytes);

/** SOP Instance UIDs of the parts of a multipart/related STOW body. */
function partsOf(body: Buffer, contentType: string): string[] {
  const boundary = /boundary=([^;]+)/.exec(contentType)?.[1]?.replace(/"/g, '');
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const out: string[] = [];
  const sep = Buffer.from(`--${boundary}`);
  let at = body.indexOf(sep);
  while (at >= 0) {
    const next = body.indexOf(sep, at + sep.length);
    if (next < 0) break;
    const part = body.subarray(at + sep.length, next);
    const headerEnd = part.indexOf('\r\n\r\n');
    out.push(sopOf(new Uint8Array(part.subarray(headerEnd + 4, part.length - 2))));
    at = next;
  }
  return out;
}

async function storedSops(studyUid: string): Promise<string[]> {
  const rows = await g.t.db.query<{ sop_instance_uid: string }>(
    'SELECT sop_instance_uid FROM instances WHERE study_uid = $1',
    [studyUid],
  );
  return rows.map((r) => r.sop_instance_uid).sort();
}

beforeAll(async () => {
  g = await startViewerGateway('e2e-viewer-upload');
  await assertViewerServed(g.baseUrl);
  folder = join(stack().dataDir, 'viewer-upload', 'CT-DANG-VAN-HUNG');
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(join(folder, 'SE1'), { recursive: true });
  instances.forEach((bytes, i) => {
    writeFileSync(join(folder, 'SE1', `IM${String(i + 1).padStart(4, '0')}.dcm`), bytes);
  });
  writeFileSync(join(folder, 'README.txt'), 'Exported from the CT console.\n');
  writeFileSync(join(folder, 'SE1', 'ZZ-broken.dcm'), brokenBytes);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await g?.close();
});

describe('upload (phone 390×844)', () => {
  it('an interrupted folder upload resumes without re-sending stored files; refusals are explained; then a read request', async () => {
    const bt = await browser.newTest('viewer upload resume phone', VIEWPORTS.phone);
    const { page } = bt;
    try {
      await loginInBrowser(bt, g.baseUrl, 'bs.minh', demoLogin('bs.minh').password);
      await page.goto(`${g.baseUrl}/#/upload`, { waitUntil: 'domcontentloaded' });
      await page.locator('[data-testid="dropzone"]').waitFor();
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);

      // Every STOW request on the wire, with the instances it carried.
      const posted: { phase: string; sops: string[] }[] = [];
      let phase = 'first';
      page.on('request', (r) => {
        if (r.method() === 'POST' && new URL(r.url()).pathname === '/dicom-web/studies') {
          const body = r.postDataBuffer();
          if (!body) throw new Error('a STOW request without a visible body');
          posted.push({ phase, sops: partsOf(body, r.headers()['content-type'] ?? '') });
        }
      });
      // The link drops after the first batch has been stored, until `online` again. (Requests
      // stay intercepted throughout: Chromium reports upload bodies of intercepted requests.)
      let stowCalls = 0;
      let online = false;
      await page.route('**/dicom-web/studies', async (route) => {
        if (route.request().method() !== 'POST' || online) return route.continue();
        stowCalls += 1;
        return stowCalls === 1 ? route.continue() : route.abort('internetdisconnected');
      });

      await page.locator('[data-input="folder"][webkitdirectory]').waitFor({ state: 'attached' });
      await page.setInputFiles('[data-input="folder"]', folder);
      const status = page.locator('.upload-status');
      await page.locator('.upload-status[data-phase="interrupted"]').waitFor({ timeout: 60_000 });
      await bt.screenshot('interrupted');
      const firstBatch = posted.filter((p) => p.phase === 'first')[0]!.sops;
      expect(firstBatch.length).toBeGreaterThan(0);
      expect(firstBatch.length).toBeLessThan(ALL.length);
      // The server holds exactly the first batch.
      expect(await storedSops(study.study.studyUid)).toEqual([...firstBatch].sort());
      expect(await page.locator('[data-testid="file-list"] li[data-state="stored"]').count()).toBe(
        firstBatch.length,
      );
      expect(await page.locator('[data-testid="file-list"] li[data-state="pending"]').count()).toBe(
        ALL.length + 1 - firstBatch.length,
      );
      expect(await page.locator('[data-testid="file-list"] li[data-state="skipped"]').count()).toBe(1);
      expect(await status.innerText()).toContain('Bị gián đoạn');

      // Back online: resume.
      online = true;
      phase = 'resumed';
      await page.locator('[data-action="resume"]').click();
      await page.locator('.upload-status[data-phase="done"]').waitFor({ timeout: 120_000 });
      await bt.screenshot('done');

      const resent = posted.filter((p) => p.phase === 'resumed').flatMap((p) => p.sops);
      // Only what the server lacked went out again: the rest of the study and the broken file.
      expect(resent.filter((s) => firstBatch.includes(s))).toEqual([]);
      expect([...resent].sort()).toEqual([...ALL.filter((s) => !firstBatch.includes(s)), BROKEN_SOP].sort());
      expect(await storedSops(study.study.studyUid)).toEqual([...ALL].sort());
      expect(await page.locator('[data-testid="file-list"] li[data-state="stored"]').count()).toBe(
        ALL.length,
      );

      // The refused file is listed with the server's FailureReason, explained.
      const failure = page.locator('[data-testid="upload-failures"] li');
      expect(await failure.count()).toBe(1);
      const reason = await failure.getAttribute('data-reason');
      expect(['0xA900', '0xC000']).toContain(reason);
      const text = await failure.innerText();
      expect(text).toContain('ZZ-broken.dcm');
      expect(text).toMatch(/Nội dung tệp không khớp|Tệp bị hỏng/);
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);

      // A new page (the tab was lost) and the same folder again: QIDO says everything is stored,
      // so only the refused file is offered to the server again.
      await page.reload({ waitUntil: 'domcontentloaded' });
      phase = 'again';
      await page.locator('[data-input="folder"][webkitdirectory]').waitFor({ state: 'attached' });
      await page.setInputFiles('[data-input="folder"]', folder);
      await page.locator('.upload-status[data-phase="done"]').waitFor({ timeout: 60_000 });
      expect(posted.filter((p) => p.phase === 'again').flatMap((p) => p.sops)).toEqual([BROKEN_SOP]);
      expect(await page.locator('[data-testid="file-list"] li[data-state="already"]').count()).toBe(
        ALL.length,
      );
      await bt.screenshot('again-already-stored');

      // Then the read request for the uploaded study.
      await page.locator('[data-action="request-read"]').click();
      await page.getByLabel('Cơ sở đọc phim').selectOption('bv-trung-uong');
      await page.getByLabel('Cấp cứu').check();
      await page.getByLabel('Thông tin lâm sàng').fill('Tai nạn giao thông, đau bụng, huyết áp tụt.');
      await page.getByLabel('Câu hỏi cho bác sĩ đọc phim').fill('Có chảy máu trong ổ bụng không?');
      await bt.screenshot('request-form');
      await page.getByRole('button', { name: 'Gửi yêu cầu' }).click();
      await page.waitForURL(/#\/requests$/);
      const requests = await g.api<
        { studyUid: string; priority: string; question: string; targetFacilityId: string }[]
      >('bs.minh', 'GET', '/api/requests');
      const mine = requests.find((r) => r.studyUid === study.study.studyUid);
      expect(mine).toMatchObject({
        priority: 'stat',
        targetFacilityId: 'bv-trung-uong',
        question: 'Có chảy máu trong ổ bụng không?',
      });
      await page.locator('[data-status="requested"]').first().waitFor();
      await bt.screenshot('requests');
      // The broken file's study is unknown to QIDO (404): the resume check handles it.
      // A STOW request whose only file is refused answers 409 (PS3.18: nothing stored).
      expectResponses(bt, [
        { status: 404, url: /\/dicom-web\/studies\/[0-9.]+\/instances\?/ },
        { status: 409, url: /\/dicom-web\/studies$/ },
      ]);
      bt.assertNoErrors([/net::ERR_INTERNET_DISCONNECTED/]);
    } finally {
      await bt.close();
    }
  });
});
