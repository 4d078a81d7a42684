/**
 * The AI panel of RadLink's viewer over what the real AI workers produced: the workers (in this
 * process, the inference stage in its sandboxed child, the bundled liver-lesion CT model) take a
 * synthetic abdominal CT with two hypodense liver lesions from its STOW, store their DICOM SEG and
 * TID 1500 SR in the study, and the gateway flags the study. Then, in headless Chromium, as a
 * radiologist of the central hospital:
 *  - the panel lists every finding of the API with the model's name and version;
 *  - jump-to-slice lands on the slice the finding references, and the SEG is drawn there in the
 *    finding's segment colour at the finding's centroid (from `GET /api/studies/:uid/ai-results`,
 *    itself checked against the generator's ground-truth lesion), not on tissue away from it;
 *  - the opacity slider changes the blend as alpha compositing predicts (colour = (1 − α)·grey +
 *    α·segment colour, with the grey measured with the overlay off);
 *  - the toggle removes the colour;
 *  - accept/reject per finding is stored (the API shows who decided) and survives a reload.
 * Screenshots and figures stay in test-artifacts/viewer-ai-worker-*.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patientToVoxel } from '../../scripts/demo/synth/geometry.js';
import type { SynthStudy } from '../../scripts/demo/synth/study.js';
import { loadWorkersConfig } from '../../workers/src/config.js';
import { type RunningWorkers, startWorkers } from '../../workers/src/main.js';
import { bearer, stack, workersEnv } from '../helpers/app.js';
import { type LaunchedBrowser, launchBrowser, loginInBrowser, VIEWPORTS } from './helpers/browser.js';
import { demoLogin, demoPatient, stowSynthStudy } from './helpers/demo-data.js';
import { fitCentred } from './helpers/pixels.js';
import { assertViewerServed, startViewerGateway, type ViewerGateway } from './helpers/viewer-app.js';

interface Finding {
  findingId: string;
  label: string;
  segmentNumber: number;
  centroidLps: [number, number, number];
  referencedSopInstanceUid: string;
  feedback: null | { verdict: string; by: string; at: string };
}
interface Result {
  resultId: string;
  seriesUid: string;
  model: { id: string; version: string; name: string };
  status: string;
  segSeriesUid: string | null;
  segSopInstanceUid: string | null;
  srSopInstanceUid: string | null;
  flagged: boolean;
  failureReason: string | null;
  findings: Finding[];
}

/** The viewer's segment colours (viewer/src/imaging/ai.ts SEGMENT_COLOURS), by segment number. */
const SEGMENT_RGB: ReadonlyArray<readonly [number, number, number]> = [
  [255, 64, 64],
  [64, 220, 64],
  [64, 128, 255],
  [255, 200, 0],
  [230, 64, 230],
  [0, 220, 220],
];
const colourOf = (n: number) => SEGMENT_RGB[(n - 1) % SEGMENT_RGB.length]!;

const prefix = `rl-e2e-ai-${randomBytes(4).toString('hex')}`;
const reader = demoLogin('bs.hoa'); // radiologist, central hospital
let g: ViewerGateway;
let workers: RunningWorkers;
let browser: LaunchedBrowser;
let ct: SynthStudy;
let result: Result;
let pipelineMs = 0;

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const aiResults = async () =>
  (await g.api<{ results: Result[] }>('bs.hoa', 'GET', `/api/studies/${ct.study.studyUid}/ai-results`))
    .results;

/** Modalities of the study's series as the gateway's QIDO answers them (what the viewer lists). */
async function qidoModalities(): Promise<string[]> {
  const res = await g.t.app.inject({
    method: 'GET',
    url: `/dicom-web/studies/${ct.study.studyUid}/series`,
    headers: {
      ...bearer(await g.t.login(reader.username, reader.password)),
      accept: 'application/dicom+json',
    },
  });
  if (res.statusCode !== 200) return [];
  return (res.json() as Array<Record<string, { Value?: string[] }>>).map(
    (s) => s['00080060']?.Value?.[0] ?? '',
  );
}

beforeAll(async () => {
  g = await startViewerGateway('e2e-viewer-ai-worker', { RADLINK_QUEUE_PREFIX: prefix });
  await assertViewerServed(g.baseUrl);
  const log = pino(
    { level: 'info' },
    pino.destination({ dest: join(stack().logDir, 'workers-e2e-viewer-ai.log'), mkdir: true, sync: true }),
  );
  workers = await startWorkers(
    loadWorkersConfig(workersEnv(stack(), { RADLINK_QUEUE_PREFIX: prefix, RADLINK_WORKERS: 'ai' })),
    log,
  );
  // The workers validate the bundled models and announce them; the gateway registers them.
  await waitFor(
    'the bundled liver model',
    async () => {
      const list = await g.api<Array<{ modelId: string; status: string }>>(
        'ai.manager',
        'GET',
        '/api/ai/models',
      );
      return list.some((m) => m.modelId === 'liver-lesion-ct' && m.status === 'enabled') ? true : undefined;
    },
    60_000,
  );
  // Khai's abdominal CT at the central hospital, two hypodense liver lesions the model finds.
  const t0 = Date.now();
  ct = await stowSynthStudy(g.t, {
    seed: 880_611,
    patient: demoPatient('khai'),
    modality: 'CT',
    rows: 128,
    slices: 80,
    lesions: [
      { diameterMm: 30, contrast: -60 },
      { diameterMm: 22, contrast: -55 },
    ],
  });
  result = await waitFor(
    'the AI run',
    async () => {
      const r = await aiResults();
      return r.length > 0 && r.every((x) => !['queued', 'running'].includes(x.status)) ? r[0] : undefined;
    },
    180_000,
  );
  if (result.status !== 'completed') throw new Error(`AI run ${result.status}: ${result.failureReason}`);
  // The viewer finds the SEG through QIDO: wait until the gateway lists the worker's SEG and SR.
  await waitFor(
    'SEG and SR in the study',
    async () => {
      const m = await qidoModalities();
      return m.includes('SEG') && m.includes('SR') ? m : undefined;
    },
    60_000,
  );
  pipelineMs = Date.now() - t0;
  browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await workers?.close();
  await g?.close();
});

/** RGB of a screenshot, with the image placement of a fit-and-centre camera. */
async function rgbOf(png: Buffer) {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}
type Rgb = Awaited<ReturnType<typeof rgbOf>>;

/** Mean RGB over a (2r+1)² square of screen pixels around an image point. */
function meanRgb(img: Rgb, at: ReturnType<typeof fitCentred>, p: { i: number; j: number }, r = 2) {
  const cx = Math.round(at.x0 + (p.i + 0.5) * at.scale);
  const cy = Math.round(at.y0 + (p.j + 0.5) * at.scale);
  const sum = [0, 0, 0];
  let n = 0;
  for (let y = cy - r; y <= cy + r; y++)
    for (let x = cx - r; x <= cx + r; x++) {
      const o = (y * img.width + x) * img.channels;
      for (let c = 0; c < 3; c++) sum[c]! += img.data[o + c]!;
      n++;
    }
  return sum.map((s) => s / n) as [number, number, number];
}

/** How far a pixel leans towards a segment colour: its dominant channel above the others. */
function lean(rgb: readonly number[], colour: readonly number[]): number {
  const top = colour.indexOf(Math.max(...colour));
  const others = [0, 1, 2].filter((c) => c !== top && colour[c]! < 128);
  return rgb[top]! - Math.max(...others.map((c) => rgb[c]!));
}

describe('AI panel over the workers’ own SEG and SR', () => {
  it('lists findings with the model, draws the SEG at each finding, follows opacity and toggle, stores accept/reject', async () => {
    const g0 = ct.groundTruth.geometry;
    const src = ct.series[0]!;
    expect(result.flagged).toBe(true);
    expect(result.model).toMatchObject({ id: 'liver-lesion-ct', version: '1.0.0' });
    const [flag] = await g.t.db.query<{ ai_flag: boolean }>(
      'SELECT ai_flag FROM studies WHERE study_uid = $1',
      [ct.study.studyUid],
    );
    expect(flag?.ai_flag).toBe(true);
    // Each ground-truth lesion has its finding (so "at the finding" means "at the lesion"); the
    // model may report more (its false positives are listed and drawn like any finding).
    const onLesions = ct.groundTruth.lesions.map((l) => {
      const near = result.findings.find(
        (f) => Math.hypot(...f.centroidLps.map((c, a) => c - l.centreMm[a]!)) < l.minRadiusMm,
      );
      expect(near, `lesion ${l.id} has no finding`).toBeDefined();
      return near!;
    });
    expect(new Set(onLesions.map((f) => f.findingId)).size).toBe(ct.groundTruth.lesions.length);
    const bt = await browser.newTest('viewer ai worker seg', VIEWPORTS.desktop);
    const { page } = bt;
    const figures: Record<string, unknown> = { pipelineMs, findings: result.findings };
    try {
      page.on('pageerror', (e) => bt.saveArtifact('pageerror.txt', `${e.stack ?? e.message}\n`));
      await loginInBrowser(bt, g.baseUrl, reader.username, reader.password);
      await page.goto(`${g.baseUrl}/#/study/${ct.study.studyUid}`, { waitUntil: 'domcontentloaded' });
      await page
        .locator('[data-testid="viewport-0"][data-image-loaded="true"]')
        .waitFor({ timeout: 120_000 });

      // 1. The panel: the model's name and version, every finding of the API, nothing else.
      const model = page.locator(`[data-testid="ai-result-${result.resultId}"] [data-testid="ai-model"]`);
      await model.waitFor({ timeout: 60_000 });
      const modelText = await model.innerText();
      expect(modelText).toContain(result.model.name);
      expect(modelText).toContain(result.model.version);
      // The gateway's flag, shown on the result.
      expect(modelText).toContain('⚑');
      expect(await page.locator('[data-testid^="ai-finding-"]').count()).toBe(result.findings.length);
      for (const f of result.findings)
        expect(await page.locator(`[data-testid="ai-jump-${f.findingId}"]`).innerText()).toBe(f.label);
      await bt.screenshot('panel');

      const el = '[data-testid="viewport-element-0"]';
      const shoot = async (name: string) => rgbOf(await bt.screenshot(name, el));
      const perFinding: unknown[] = [];
      for (const f of onLesions) {
        // 2. Jump: the slice the finding references; the overlay in its colour at its centroid.
        await page.locator(`[data-testid="ai-jump-${f.findingId}"]`).click();
        const k = src.sopInstanceUids.indexOf(f.referencedSopInstanceUid);
        expect(k).toBeGreaterThanOrEqual(0);
        await expect
          .poll(() => page.locator('[data-testid="viewport-0"]').getAttribute('data-image-index'), {
            timeout: 30_000,
          })
          .toBe(String(k));
        await page.waitForTimeout(800);
        const [ci, cj] = patientToVoxel(g0, ...f.centroidLps);
        const centre = { i: Math.round(ci), j: Math.round(cj) };
        // Tissue well away from both lesions: the same row, a quarter of the field to the other side.
        const away = {
          i: centre.i + Math.sign(g0.cols / 2 - centre.i) * Math.round(g0.cols / 4),
          j: centre.j,
        };
        const on = await shoot(`seg-${f.segmentNumber}`);
        const at = fitCentred(on.width, on.height, g0.cols, g0.rows);
        const colour = colourOf(f.segmentNumber);
        const inside = meanRgb(on, at, centre);
        const outside = meanRgb(on, at, away);
        perFinding.push({ finding: f.label, segment: f.segmentNumber, k, centre, away, inside, outside });
        expect(lean(inside, colour), `segment ${f.segmentNumber} colour at its centroid`).toBeGreaterThan(40);
        expect(Math.abs(outside[0] - outside[1]) + Math.abs(outside[1] - outside[2])).toBeLessThan(16);
      }
      figures.overlay = perFinding;

      // 3. Opacity, on the last finding's slice: the blend follows alpha compositing over the grey
      //    drawn with the overlay off (the outline is not at the centroid).
      const f = onLesions[onLesions.length - 1]!;
      const [ci, cj] = patientToVoxel(g0, ...f.centroidLps);
      const centre = { i: Math.round(ci), j: Math.round(cj) };
      const colour = colourOf(f.segmentNumber);
      const toggle = page.locator('[data-testid="ai-overlay-toggle"]');
      const slider = page.locator('[data-testid="ai-opacity"]');
      const blends: Array<{ alpha: number; rgb: number[]; expected: number[] }> = [];
      await toggle.uncheck();
      await page.waitForTimeout(800);
      const offImg = await shoot('overlay-off');
      const at = fitCentred(offImg.width, offImg.height, g0.cols, g0.rows);
      const grey = meanRgb(offImg, at, centre);
      figures.greyOff = grey;
      // 4. Toggled off: no colour at the centroid (already measured as grey).
      expect(Math.abs(grey[0] - grey[1]) + Math.abs(grey[1] - grey[2])).toBeLessThan(8);
      await toggle.check();
      for (const alpha of [0.2, 0.9]) {
        await slider.fill(String(alpha));
        await page.waitForTimeout(800);
        const rgb = meanRgb(await shoot(`opacity-${alpha}`), at, centre);
        const expected = grey.map((gv, c) => (1 - alpha) * gv + alpha * colour[c]!);
        blends.push({ alpha, rgb, expected });
      }
      figures.blends = blends;
      for (const b of blends)
        for (let c = 0; c < 3; c++)
          expect(Math.abs(b.rgb[c]! - b.expected[c]!), `α ${b.alpha} channel ${c}`).toBeLessThan(8);
      // More opacity, more colour.
      expect(lean(blends[1]!.rgb, colour) - lean(blends[0]!.rgb, colour)).toBeGreaterThan(60);

      // 5. Accept the first finding, reject the second: stored, attributed, and kept on reload.
      const [fa, fr] = onLesions as [Finding, Finding];
      await page.locator(`[data-testid="ai-accept-${fa.findingId}"]`).click();
      await page.locator(`[data-testid="ai-reject-${fr.findingId}"]`).click();
      await page.locator(`[data-testid="ai-verdict-${fa.findingId}"]`).waitFor();
      await page.locator(`[data-testid="ai-verdict-${fr.findingId}"]`).waitFor();
      const stored = (await aiResults())[0]!.findings;
      expect(stored.find((x) => x.findingId === fa.findingId)?.feedback).toMatchObject({
        verdict: 'accepted',
        by: reader.displayName,
      });
      expect(stored.find((x) => x.findingId === fr.findingId)?.feedback).toMatchObject({
        verdict: 'rejected',
        by: reader.displayName,
      });
      await page.reload({ waitUntil: 'domcontentloaded' });
      await page.locator(`[data-testid="ai-accept-${fa.findingId}"]`).waitFor({ timeout: 60_000 });
      expect(
        await page.locator(`[data-testid="ai-accept-${fa.findingId}"]`).getAttribute('aria-pressed'),
      ).toBe('true');
      expect(
        await page.locator(`[data-testid="ai-reject-${fa.findingId}"]`).getAttribute('aria-pressed'),
      ).toBe('false');
      expect(
        await page.locator(`[data-testid="ai-reject-${fr.findingId}"]`).getAttribute('aria-pressed'),
      ).toBe('true');
      expect(await page.locator(`[data-testid="ai-verdict-${fa.findingId}"]`).innerText()).not.toBe('');
      await bt.screenshot('after-reload');
      bt.saveArtifact('figures.json', JSON.stringify(figures, null, 2));
      bt.assertNoErrors();
    } finally {
      bt.saveArtifact('figures.json', JSON.stringify(figures, null, 2));
      await bt.close();
    }
  });
});
