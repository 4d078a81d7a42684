/**
 * Write synthetic DICOM studies to disk.
 *
 *   tsx scripts/demo/generate-cli.ts --out DIR [--seed N] [--modality CT|MR] [--region abdomen|pelvis]
 *       [--slices N] [--rows N] [--cols N] [--lesions N] [--noise X] [--patient KEY] [--mask]
 *   tsx scripts/demo/generate-cli.ts --out DIR --catalogue
 *
 * Layout: DIR/<study>/<seriesNumber>/<instance>.dcm, DIR/<study>/ground-truth.json and, with
 * --mask, DIR/<study>/lesion-mask.u8 (raw Uint8, k·rows·cols + j·cols + i, see ground truth).
 * Patient names are never printed: only keys, counts and timings.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEMO_PATIENTS, findPatient } from './patients.js';
import { demoCatalogue } from './synth/catalogue.js';
import { type GenerateStudyOptions, generateStudy } from './synth/study.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    seed: { type: 'string', default: '1' },
    modality: { type: 'string', default: 'CT' },
    region: { type: 'string' },
    slices: { type: 'string' },
    rows: { type: 'string' },
    cols: { type: 'string' },
    lesions: { type: 'string' },
    noise: { type: 'string' },
    patient: { type: 'string' },
    mask: { type: 'boolean', default: false },
    catalogue: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

function usage(code: number): never {
  process.stdout.write(
    'usage: generate-cli.ts --out DIR [--seed N] [--modality CT|MR] [--region abdomen|pelvis] [--slices N]\n' +
      '       [--rows N] [--cols N] [--lesions N] [--noise X] [--patient KEY] [--mask] | --catalogue\n',
  );
  process.exit(code);
}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) {
    process.stderr.write(`--${name}: not a number\n`);
    process.exit(2);
  }
  return n;
}

function writeStudy(dir: string, name: string, opts: GenerateStudyOptions, withMask: boolean): void {
  const t0 = performance.now();
  const s = generateStudy({ ...opts, withMask });
  const studyDir = join(dir, name);
  let files = 0;
  for (const series of s.series) {
    const seriesDir = join(studyDir, String(series.seriesNumber));
    mkdirSync(seriesDir, { recursive: true });
    series.instances.forEach((bytes, k) => {
      writeFileSync(join(seriesDir, `${String(k + 1).padStart(4, '0')}.dcm`), bytes);
      files++;
    });
  }
  writeFileSync(join(studyDir, 'ground-truth.json'), `${JSON.stringify(s.groundTruth, null, 2)}\n`);
  if (s.lesionMask) writeFileSync(join(studyDir, 'lesion-mask.u8'), s.lesionMask);
  const ms = Math.round(performance.now() - t0);
  process.stdout.write(
    `${name}: ${s.series.length} series, ${files} files, ${s.groundTruth.lesions.length} lesions, ${ms} ms\n`,
  );
}

if (values.help) usage(0);
if (!values.out) usage(2);
const out = values.out;
mkdirSync(out, { recursive: true });

if (values.catalogue) {
  for (const e of demoCatalogue()) writeStudy(out, e.name, e.options, values.mask);
} else {
  const modality = values.modality?.toUpperCase();
  if (modality !== 'CT' && modality !== 'MR') usage(2);
  const region = values.region;
  if (region !== undefined && region !== 'abdomen' && region !== 'pelvis') usage(2);
  const seed = num(values.seed, 'seed') ?? 1;
  const patient = values.patient
    ? findPatient(values.patient)
    : DEMO_PATIENTS[Math.abs(seed) % DEMO_PATIENTS.length]!;
  const opts: GenerateStudyOptions = { seed, patient, modality };
  if (region) opts.region = region;
  const slices = num(values.slices, 'slices');
  const rows = num(values.rows, 'rows');
  const cols = num(values.cols, 'cols');
  const lesions = num(values.lesions, 'lesions');
  const noise = num(values.noise, 'noise');
  if (slices !== undefined) opts.slices = slices;
  if (rows !== undefined) opts.rows = rows;
  if (cols !== undefined) opts.cols = cols;
  if (lesions !== undefined) opts.lesions = lesions;
  if (noise !== undefined) opts.noise = noise;
  writeStudy(out, `seed-${seed}-${modality.toLowerCase()}`, opts, values.mask);
}
