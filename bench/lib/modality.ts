/**
 * A simulated modality for load benchmarks: sends one new CT series after another through DCMTK
 * `storescu` (DIMSE C-STORE) to Orthanc's DICOM port under a facility's AE title, as a scanner
 * does.
 *
 * Each study is a copy of one template series (synthetic Part 10 files written once) with new
 * Study, Series and SOP Instance UIDs and a new Patient ID patched into the bytes. The new values
 * have exactly the old lengths, so every offset, length and group length stays valid and no
 * re-encoding is needed: generating a 100-slice 512² CT costs seconds of CPU, patching costs
 * milliseconds, and the CPU is what the benchmark measures.
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dicomParser } from '../../server/src/dicomweb/dicom-parser.js';

/** Tags patched per study (dicom-parser keys). */
const TAG = {
  mediaStorageSop: 'x00020003',
  sop: 'x00080018',
  study: 'x0020000d',
  series: 'x0020000e',
  patientId: 'x00100020',
} as const;

interface Field {
  offset: number;
  /** Length of the value without its trailing padding. */
  valueLength: number;
  /** Padded length on the wire. */
  length: number;
}

interface TemplateInstance {
  bytes: Uint8Array;
  fields: Record<keyof typeof TAG, Field>;
}

function fieldOf(bytes: Uint8Array, ds: ReturnType<typeof dicomParser.parseDicom>, tag: string): Field {
  const el = ds.elements[tag];
  if (!el) throw new Error(`template instance lacks ${tag}`);
  let valueLength = el.length;
  while (
    valueLength > 0 &&
    (bytes[el.dataOffset + valueLength - 1] === 0 || bytes[el.dataOffset + valueLength - 1] === 0x20)
  )
    valueLength--;
  return { offset: el.dataOffset, valueLength, length: el.length };
}

/**
 * A `2.25.` UID of exactly `length` characters. The first digit after the root is 1, so a
 * 39-digit value stays below 2^128 (ISO/IEC 9834-8), and the remaining digits are random.
 */
export function uidOfLength(length: number): string {
  if (length < 8) throw new Error(`UID length ${length} too short`);
  let s = '2.25.1';
  while (s.length < length) s += String(randomInt(10));
  return s;
}

export interface SentStudy {
  index: number;
  studyUid: string;
  seriesUid: string;
  instances: number;
  /** Store responses with status Success or Warning. */
  stored: number;
  failed: number;
  exitCode: number | null;
  scheduledAt: number;
  startedAt: number;
  endedAt: number;
  /** First failure lines of storescu's output, without patient data (storescu logs none at -v). */
  message: string | null;
}

export interface ModalityOptions {
  /** Calling AE title (registered for a facility). */
  aet: string;
  calledAet: string;
  host: string;
  port: number;
  workDir: string;
  template: Uint8Array[];
  /** Patient IDs are `<prefix><counter>`, padded to the template's length. */
  patientIdPrefix: string;
}

export class Modality {
  private readonly template: TemplateInstance[];
  private sent = 0;

  constructor(private readonly o: ModalityOptions) {
    this.template = o.template.map((bytes) => {
      const ds = dicomParser.parseDicom(bytes, { untilTag: 'x7fe00010' });
      const fields = Object.fromEntries(
        Object.entries(TAG).map(([k, tag]) => [k, fieldOf(bytes, ds, tag)]),
      ) as Record<keyof typeof TAG, Field>;
      if (fields.mediaStorageSop.valueLength !== fields.sop.valueLength)
        throw new Error('template file meta names another instance than its dataset');
      return { bytes, fields };
    });
  }

  private patch(out: Uint8Array, f: Field, value: string): void {
    if (value.length > f.length) throw new Error('patched value longer than its field');
    out.set(Buffer.from(value, 'latin1'), f.offset);
    // UI pads with NUL, LO with space; keep whatever followed the original value.
  }

  /** Sends one new study; resolves when storescu has finished (never rejects). */
  async sendStudy(scheduledAt: number): Promise<SentStudy> {
    const index = this.sent++;
    const first = this.template[0]!.fields;
    const studyUid = uidOfLength(first.study.valueLength);
    const seriesUid = uidOfLength(first.series.valueLength);
    const idLength = first.patientId.valueLength;
    const patientId = `${this.o.patientIdPrefix}${index}`.padEnd(idLength, '0').slice(0, idLength);
    const dir = join(this.o.workDir, `study-${index}`);
    const startedAt = Date.now();
    await mkdir(dir, { recursive: true });
    await Promise.all(
      this.template.map(async (t, k) => {
        const out = Uint8Array.from(t.bytes);
        const sop = uidOfLength(t.fields.sop.valueLength);
        this.patch(out, t.fields.sop, sop);
        // The file meta header must name the same instance as the dataset.
        this.patch(out, t.fields.mediaStorageSop, sop);
        this.patch(out, t.fields.study, studyUid);
        this.patch(out, t.fields.series, seriesUid);
        this.patch(out, t.fields.patientId, patientId);
        await writeFile(join(dir, `${String(k).padStart(4, '0')}.dcm`), out);
      }),
    );
    const result = await storescu([
      '-v',
      '-aet',
      this.o.aet,
      '-aec',
      this.o.calledAet,
      this.o.host,
      String(this.o.port),
      '+sd',
      dir,
    ]);
    await rm(dir, { recursive: true, force: true });
    const statuses = [...result.output.matchAll(/Received Store Response \(([^)]*)\)/g)].map((m) => m[1]!);
    const stored = statuses.filter((s) => s.startsWith('Success') || s.startsWith('Warning')).length;
    const failed = this.template.length - stored;
    const failureLines = result.output
      .split('\n')
      .filter((l) => /^[EF]:|Failed|Refused|Error/i.test(l))
      .slice(0, 5)
      .join(' | ');
    return {
      index,
      studyUid,
      seriesUid,
      instances: this.template.length,
      stored,
      failed,
      exitCode: result.code,
      scheduledAt,
      startedAt,
      endedAt: Date.now(),
      message: failed > 0 || result.code !== 0 ? failureLines || `storescu exit ${result.code}` : null,
    };
  }
}

function storescu(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('storescu', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    // A hung association must not stall the modality for the rest of the run.
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, output: `E: ${err.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: Buffer.concat(chunks).toString('utf8') });
    });
  });
}
