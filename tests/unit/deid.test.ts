/**
 * De-identification (PS3.15 E.1 basic profile) on objects nobody here wrote (Debian's pydicom test
 * files) and on the demo data: after de-identification no original person name, patient or
 * accession ID, date or instance UID occurs anywhere in the output bytes (sequences and the file
 * meta included), references still point at the de-identified objects, pixel data is unchanged
 * (checked with dicom-parser, an independent reader), and objects with burned-in text are refused.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_PATIENTS } from '../../scripts/demo/patients.js';
import { generateStudy } from '../../scripts/demo/synth/index.js';
import { deidentify } from '../../server/src/deid/deidentify.js';
import { BASIC_PROFILE } from '../../server/src/deid/profile.js';
import { UidMapper } from '../../server/src/deid/uid-map.js';
import { dicomParser } from '../../server/src/dicomweb/dicom-parser.js';

type El = { vr: string; Value?: unknown[] };
type Ds = Record<string, El>;
const dcmjs = createRequire(import.meta.url)('dcmjs') as {
  data: {
    DicomMessage: { readFile(b: ArrayBuffer, o?: object): { meta: Ds; dict: Ds; write(): ArrayBuffer } };
    DicomMetaDictionary: {
      dictionary: Record<string, { name: string } | undefined>;
      punctuateTag(t: string): string;
    };
  };
  log: { setLevel(l: string): void };
};
dcmjs.log.setLevel('error');

const PYDICOM = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const ab = (b: Buffer | Uint8Array) =>
  b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const read = (b: Buffer) => dcmjs.data.DicomMessage.readFile(ab(b));

/** Every value in a data set (any depth) with its tag and VR. */
function* walk(ds: Ds, depth = 0): Generator<{ tag: string; el: El; depth: number }> {
  for (const [tag, el] of Object.entries(ds)) {
    yield { tag, el, depth };
    if (el.vr === 'SQ') for (const item of (el.Value ?? []) as Ds[]) if (item) yield* walk(item, depth + 1);
  }
}

function className(tag: string): string {
  return (
    dcmjs.data.DicomMetaDictionary.dictionary[dcmjs.data.DicomMetaDictionary.punctuateTag(tag)]?.name ?? ''
  );
}

/** The identifying values of the original: names, IDs, dates and instance UIDs. */
function identifyingValues(file: { meta: Ds; dict: Ds }): Set<string> {
  const out = new Set<string>();
  const ids = new Set(['00100020', '00101000', '00080050', '00200010', '00100021', '00380010', '00401001']);
  for (const { tag, el } of [...walk(file.meta), ...walk(file.dict)]) {
    if (Number.parseInt(tag.slice(0, 4), 16) % 2 === 1) continue; // private: whole element removed
    for (const v of el.Value ?? []) {
      if (el.vr === 'PN' && v && typeof v === 'object') {
        for (const s of Object.values(v as Record<string, string>))
          for (const part of String(s).split(/[\^=]/)) if (part.trim().length >= 3) out.add(part.trim());
      } else if (typeof v === 'string') {
        const s = v.replace(/[\0 ]+$/, '').trim();
        if ((el.vr === 'DA' || el.vr === 'DT') && /^\d{8}/.test(s)) out.add(s.slice(0, 8));
        else if (ids.has(tag) && s.length >= 3) out.add(s);
        else if (
          el.vr === 'UI' &&
          s.length >= 10 &&
          !s.startsWith('1.2.840.10008.') &&
          !/ClassUIDs?$|ClassesInStudy$|^TransferSyntaxUID$|^CodingSchemeUID$|^MappingResourceUID$/.test(
            className(tag),
          )
        )
          out.add(s);
      }
    }
  }
  return out;
}

function leaks(original: Set<string>, output: Buffer): string[] {
  const latin1 = output.toString('latin1');
  const utf8 = output.toString('utf8');
  return [...original].filter((v) => latin1.includes(v) || utf8.includes(v));
}

/** The pixel data element's content as an independent parser sees it (fragments concatenated). */
function pixelBytes(bytes: Buffer): Buffer | undefined {
  let ds: ReturnType<typeof dicomParser.parseDicom>;
  try {
    ds = dicomParser.parseDicom(bytes);
  } catch {
    // dicom-parser refuses some damaged inputs (e.g. a truncated file dcmjs still reads): use dcmjs.
    const v = read(bytes).dict['7FE00010']?.Value as ArrayBuffer[] | undefined;
    return v ? Buffer.concat(v.map((f) => Buffer.from(f))) : undefined;
  }
  const el = ds.elements.x7fe00010;
  if (!el) return undefined;
  const arr = ds.byteArray;
  if (el.encapsulatedPixelData) {
    return Buffer.concat(
      el.fragments!.map((f) => Buffer.from(arr.buffer, arr.byteOffset + f.position, f.length)),
    ).subarray(0);
  }
  return Buffer.from(arr.buffer, arr.byteOffset + el.dataOffset, el.length);
}

/** Strips the even-length padding byte an encapsulated frame may gain on re-encoding. */
const unpadded = (b: Buffer | undefined) =>
  b && b.length > 0 && b[b.length - 1] === 0 ? b.subarray(0, -1) : b;

function checkOutput(name: string, input: Buffer, output: Buffer): void {
  const before = read(input);
  const after = read(output);
  const leaked = leaks(identifyingValues(before), output);
  expect(leaked, `${name}: original values in the output`).toEqual([]);
  const d = after.dict;
  expect(d['00120062']?.Value, name).toEqual(['YES']);
  const method = (d['00120064']?.Value?.[0] ?? {}) as Ds;
  expect(method['00080100']?.Value, name).toEqual(['113100']);
  for (const { tag, el } of walk(d)) {
    expect(Number.parseInt(tag.slice(0, 4), 16) % 2, `${name}: private ${tag}`).toBe(0);
    if (el.vr === 'PN')
      for (const v of el.Value ?? [])
        expect(String((v as { Alphabetic?: string }).Alphabetic ?? ''), `${name}: ${tag}`).toMatch(
          /^(ANON-[0-9A-F]{12}|ANONYMIZED)?$/,
        );
    if (el.vr === 'DA' || el.vr === 'DT')
      expect((el.Value ?? []).join(''), `${name}: date ${tag}`).toMatch(/^(19000101(000000)?)?$/);
  }
  expect(after.meta['00020003']?.Value).toEqual(d['00080018']?.Value);
  const p0 = pixelBytes(input);
  const p1 = pixelBytes(output);
  expect(p1 === undefined, `${name}: pixel data presence`).toBe(p0 === undefined);
  if (p0 && p1) {
    const same = p0.equals(p1) || unpadded(p0)!.equals(unpadded(p1)!);
    expect(same, `${name}: pixel data changed (${p0.length} → ${p1.length} bytes)`).toBe(true);
  }
}

describe('the action table (PS3.15 Table E.1-1)', () => {
  it('has one row per tag, keywords that match the DICOM dictionary, and one action per row', () => {
    expect(BASIC_PROFILE.size).toBeGreaterThan(280);
    const wrong: string[] = [];
    for (const [tag, e] of BASIC_PROFILE) {
      const name = className(tag).replace(/^RETIRED_/, '');
      if (name && name !== e.keyword) wrong.push(`${tag}: ${e.keyword} (dictionary: ${name})`);
      expect(['X', 'Z', 'D', 'U', 'K']).toContain(e.action);
    }
    expect(wrong).toEqual([]);
    expect(BASIC_PROFILE.get('00100010')?.action).toBe('Z');
    expect(BASIC_PROFILE.get('00081140')?.action).toBe('U'); // X/Z/U*: references kept, remapped
    expect(BASIC_PROFILE.get('00081030')?.action).toBe('X');
  });
});

describe('pydicom test files', () => {
  it('every Part 10 object is de-identified with no identifying value left, or refused with a reason', () => {
    expect(existsSync(PYDICOM)).toBe(true);
    // The leak check finds identifying values in an original (so its silence on outputs means something).
    const ct = readFileSync(join(PYDICOM, 'CT_small.dcm'));
    const ids = identifyingValues(read(ct));
    expect(ids).toContain('1CT1');
    expect(leaks(ids, ct).length).toBeGreaterThan(3);
    const uids = new UidMapper(randomBytes(32));
    const outcomes: Record<string, string[]> = {};
    for (const f of readdirSync(PYDICOM).filter((n) => n.endsWith('.dcm'))) {
      const input = readFileSync(join(PYDICOM, f));
      const r = deidentify(input, { uids });
      const key = r.ok ? (r.flag ? 'flagged' : 'ok') : r.reason;
      outcomes[key] = [...(outcomes[key] ?? []), f];
      if (r.ok) checkOutput(f, input, r.bytes);
    }
    const done = (outcomes.ok?.length ?? 0) + (outcomes.flagged?.length ?? 0);
    console.log(
      `de-identified ${done} pydicom files (${outcomes.flagged?.length ?? 0} flagged for burned-in review); refused:`,
      Object.fromEntries(Object.entries(outcomes).filter(([k]) => k !== 'ok' && k !== 'flagged')),
    );
    expect(done).toBeGreaterThanOrEqual(50);
    // Refusals are files that are not complete Part 10 instances; nothing readable is refused.
    for (const f of outcomes.unreadable ?? [])
      expect(f).toMatch(/NoMeta|no_meta|meta_missing|truncated|rtstruct|UN_sequence|nested_priv|pixelrep/);
    // Secondary captures that do not say whether text is burned in are flagged, not silently passed.
    expect(outcomes.flagged).toContain('SC_rgb_rle.dcm');
  });
});

describe('demo data', () => {
  it('keeps studies, series, frames of reference and references consistent across an export', () => {
    const patient = DEMO_PATIENTS[0]!;
    const ct = generateStudy({
      seed: 11,
      patient,
      modality: 'CT',
      rows: 32,
      cols: 32,
      slices: 4,
      lesions: [],
    });
    const mr = generateStudy({
      seed: 12,
      patient,
      modality: 'MR',
      rows: 32,
      cols: 32,
      slices: 3,
      lesions: [],
    });
    const inputs = [...ct.series, ...mr.series].flatMap((s) => s.instances.map((b) => Buffer.from(b)));
    // A derived object referencing two CT slices, as a key-image note or a SEG would.
    const first = read(inputs[0]!);
    const derived = read(inputs[1]!);
    const refSop = (i: number) => String(read(inputs[i]!).dict['00080018']!.Value![0]);
    derived.dict['00080018'] = { vr: 'UI', Value: [`${refSop(1)}.99`] };
    derived.meta['00020003'] = { vr: 'UI', Value: [`${refSop(1)}.99`] };
    derived.dict['00082112'] = {
      vr: 'SQ',
      Value: [0, 2].map((i) => ({
        '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2'] },
        '00081155': { vr: 'UI', Value: [refSop(i)] },
      })),
    };
    derived.dict['00081111'] = {
      vr: 'SQ',
      Value: [{ '00081155': { vr: 'UI', Value: ['1.2.3.4.5.6.7.8'] } }],
    };
    derived.dict['0040A073'] = {
      vr: 'SQ',
      Value: [{ '0040A075': { vr: 'PN', Value: [{ Alphabetic: 'Trần^Văn Bình' }] } }],
    };
    derived.dict['00280301'] = { vr: 'CS', Value: ['NO'] };
    inputs.push(Buffer.from(derived.write()));

    const uids = new UidMapper(randomBytes(32));
    const outs = inputs.map((b) => {
      const r = deidentify(b, { uids });
      if (!r.ok) throw new Error(r.reason);
      checkOutput('demo', b, r.bytes);
      return read(r.bytes).dict;
    });
    const v = (d: Ds, tag: string) => String(d[tag]?.Value?.[0] ?? '');
    // Every original value, including the Vietnamese name and the CCCD/BHXH IDs, is gone.
    const all = Buffer.concat(outs.map((d) => Buffer.from(JSON.stringify(d))));
    expect(all.includes(Buffer.from(v(first.dict, '00100020')))).toBe(false);
    // One study in, one study out; series and the shared frame of reference stay shared.
    const ctOut = outs.slice(0, ct.series[0]!.instances.length);
    expect(new Set(ctOut.map((d) => v(d, '0020000D'))).size).toBe(1);
    expect(new Set(ctOut.map((d) => v(d, '00200052'))).size).toBe(1);
    expect(v(ctOut[0]!, '0020000D')).not.toBe(v(outs[outs.length - 2]!, '0020000D')); // the MR study
    // The same patient gets the same pseudonym in both studies.
    expect(new Set(outs.map((d) => v(d, '00100020'))).size).toBe(1);
    expect(v(outs[0]!, '00100020')).toMatch(/^ANON-/);
    // References point at the de-identified slices.
    const derivedOut = outs[outs.length - 1]!;
    const refs = ((derivedOut['00082112']?.Value ?? []) as Ds[]).map((i) => v(i, '00081155'));
    expect(refs).toEqual([v(ctOut[0]!, '00080018'), v(ctOut[2]!, '00080018')]);
    // Table actions inside sequences: the performed-procedure-step reference (X/Z/D) is emptied,
    // the verifying observer's name (D) replaced by a dummy.
    expect(derivedOut['00081111']?.Value).toEqual([]);
    const observer = (derivedOut['0040A073']?.Value?.[0] ?? {}) as Ds;
    expect(observer['0040A075']?.Value).toEqual([{ Alphabetic: 'ANONYMIZED' }]);
    // Another export (another key) cannot be linked to this one.
    const other = deidentify(inputs[0]!, { uids: new UidMapper(randomBytes(32)) });
    expect(other.ok && other.studyUid).not.toBe(v(ctOut[0]!, '0020000D'));
  });

  it('refuses objects that declare burned-in annotation or recognisable features', () => {
    const ct = generateStudy({
      seed: 13,
      patient: DEMO_PATIENTS[1]!,
      modality: 'CT',
      rows: 16,
      cols: 16,
      slices: 1,
      lesions: [],
    });
    const f = read(Buffer.from(ct.series[0]!.instances[0]!));
    f.dict['00280301'] = { vr: 'CS', Value: ['YES'] };
    const r = deidentify(Buffer.from(f.write()), { uids: new UidMapper(randomBytes(32)) });
    expect(r).toEqual({ ok: false, reason: 'burned-in-annotation' });
    f.dict['00280301'] = { vr: 'CS', Value: ['NO'] };
    f.dict['00280302'] = { vr: 'CS', Value: ['YES'] };
    const r2 = deidentify(Buffer.from(f.write()), { uids: new UidMapper(randomBytes(32)) });
    expect(r2).toEqual({ ok: false, reason: 'recognizable-visual-features' });
    expect(deidentify(Buffer.from('not dicom'), { uids: new UidMapper(randomBytes(32)) })).toEqual({
      ok: false,
      reason: 'unreadable',
    });
  });
});
