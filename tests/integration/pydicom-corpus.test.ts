/**
 * Debian's pydicom test files — objects nobody here wrote — through the gateway, driven by the
 * expectations table tests/fixtures/pydicom-expectations.json (written first): each file is
 * stored, an idempotent re-send, or refused with the expected FailureReason. Every stored one
 * then comes back byte-identical (WADO-RS transfer-syntax=* and WADO-URI), its frames equal the
 * stored frames as dicom-parser extracts them, its metadata and a rendering are answered without
 * a 5xx, JPEG-LS stored objects are served as stored, and the gateway and Orthanc stay up.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DataSet, dicomParser } from '../../server/src/dicomweb/dicom-parser.js';
import { parseMultipartRelated } from '../../server/src/dicomweb/multipart.js';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { facilityUser, stow } from '../helpers/dicomweb.js';

interface Expectation {
  file: string;
  expect: 'stored' | 'already-stored' | 'refused';
  failureReason?: string;
  /** Stored with this STOW warning (202, WarningReason in the ReferencedSOPSequence item). */
  warningReason?: string;
  transferSyntax?: string;
  why: string;
}
const table = JSON.parse(readFileSync('tests/fixtures/pydicom-expectations.json', 'utf8')) as {
  directory: string;
  files: Expectation[];
};

let t: TestApp;
let tok: string;
beforeAll(async () => {
  t = await buildTestApp({ name: 'pydicom' });
  tok = await facilityUser(t, 'bv-pydicom', 'pydicom.a');
});
afterAll(async () => t?.close());

interface Stored {
  file: string;
  bytes: Buffer;
  ds: DataSet;
  study: string;
  series: string;
  sop: string;
  ts: string;
}
const stored: Stored[] = [];
const uid = (ds: DataSet, tag: string) => ds.string(tag)!.replace(/[\0 ]+$/, '');

/** The stored frames, extracted independently of Orthanc. */
function framesOf(s: Stored): Buffer[] | undefined {
  const el = s.ds.elements['x7fe00010'];
  if (!el) return undefined;
  const n = Number.parseInt(s.ds.string('x00280008') ?? '1', 10) || 1;
  if (el.encapsulatedPixelData) {
    const frags = el.fragments!;
    if (n === 1)
      return [Buffer.from(dicomParser.readEncapsulatedPixelDataFromFragments(s.ds, el, 0, frags.length))];
    if (frags.length === n)
      return frags.map((_, i) =>
        Buffer.from(dicomParser.readEncapsulatedPixelDataFromFragments(s.ds, el, i, 1)),
      );
    return undefined;
  }
  // ds.byteArray, not the file: for a deflated file it is the inflated data set.
  const arr = s.ds.byteArray;
  const all = Buffer.from(arr.buffer, arr.byteOffset + el.dataOffset, el.length);
  // A frame is rows × columns × samples × bits; the element's even-length padding is not part of it.
  const samples = s.ds.string('x00280004')?.endsWith('_422') ? 2 : (s.ds.uint16('x00280002') ?? 1);
  const size =
    ((s.ds.uint16('x00280010')! * s.ds.uint16('x00280011')! * samples * s.ds.uint16('x00280100')!) / 8) | 0;
  return Array.from({ length: n }, (_, i) => all.subarray(i * size, (i + 1) * size));
}

describe('pydicom test files through STOW-RS', () => {
  it('each file meets its expectation', async () => {
    const mismatches: string[] = [];
    for (const e of table.files) {
      const bytes = readFileSync(join(table.directory, e.file));
      const res = await stow(t, tok, [bytes]);
      const body = res.json() as Record<string, { Value?: Record<string, { Value?: unknown[] }>[] }>;
      const ok = body['00081199']?.Value ?? [];
      const failed = body['00081198']?.Value ?? [];
      const hex = (v: unknown) => `0x${Number(v).toString(16).toUpperCase().padStart(4, '0')}`;
      const warning = ok[0]?.['00081196']?.Value?.[0];
      const got =
        ok.length === 1
          ? res.statusCode === 200 && warning === undefined
            ? 'stored'
            : res.statusCode === 202 && warning !== undefined
              ? `stored, warning ${hex(warning)}`
              : 'stored?'
          : `refused ${hex(failed[0]?.['00081197']?.Value?.[0])}`;
      const want =
        e.expect === 'refused'
          ? `refused ${e.failureReason!.replace('0x', '0x').toUpperCase().replace('0X', '0x')}`
          : e.warningReason
            ? `stored, warning ${e.warningReason}`
            : 'stored';
      if (got !== want) mismatches.push(`${e.file}: expected ${want}, got ${got} (${res.statusCode})`);
      if (e.expect === 'stored' && ok.length === 1) {
        const ds = dicomParser.parseDicom(bytes);
        stored.push({
          file: e.file,
          bytes,
          ds,
          study: uid(ds, 'x0020000d'),
          series: uid(ds, 'x0020000e'),
          sop: uid(ds, 'x00080018'),
          ts: uid(ds, 'x00020010'),
        });
        expect(uid(ds, 'x00020010'), e.file).toBe(e.transferSyntax);
      }
      if (e.expect === 'already-stored') {
        const audit = await t.db.query<{ detail: { instances: { outcome: string }[] } }>(
          "SELECT detail FROM audit_events WHERE action = 'dicomweb.stow' ORDER BY id DESC LIMIT 1",
        );
        expect(audit[0]!.detail.instances[0]!.outcome, e.file).toBe('already-stored');
      }
    }
    expect(mismatches).toEqual([]);
    const syntaxes = new Set(stored.map((s) => s.ts));
    for (const ts of [
      '1.2.840.10008.1.2.4.80',
      '1.2.840.10008.1.2.4.90',
      '1.2.840.10008.1.2.4.91',
      '1.2.840.10008.1.2.5',
      '1.2.840.10008.1.2.1.99',
      '1.2.840.10008.1.2.2',
    ]) {
      expect(syntaxes, ts).toContain(ts);
    }
  });

  it('every stored file retrieves byte-identical, with its frames, and nothing answers 5xx', async () => {
    expect(stored.length).toBeGreaterThan(20);
    const problems: string[] = [];
    for (const s of stored) {
      const I = `/dicom-web/studies/${s.study}/series/${s.series}/instances/${s.sop}`;
      const get = (url: string, accept?: string) =>
        t.app.inject({ method: 'GET', url, headers: { ...bearer(tok), ...(accept ? { accept } : {}) } });
      const inst = await get(I, 'multipart/related; type="application/dicom"; transfer-syntax=*');
      const part =
        inst.statusCode === 200
          ? parseMultipartRelated(inst.rawPayload, String(inst.headers['content-type']))[0]
          : undefined;
      if (!part?.body.equals(s.bytes))
        problems.push(`${s.file}: WADO-RS * not identical (${inst.statusCode})`);
      const uri = await get(
        `/wado?requestType=WADO&studyUID=${s.study}&seriesUID=${s.series}&objectUID=${s.sop}&contentType=application%2Fdicom`,
      );
      if (!uri.rawPayload.equals(s.bytes))
        problems.push(`${s.file}: WADO-URI not identical (${uri.statusCode})`);
      const expected = framesOf(s);
      if (expected) {
        const list = expected.map((_, i) => i + 1).join(',');
        const fr = await get(
          `${I}/frames/${list}`,
          'multipart/related; type="application/octet-stream"; transfer-syntax=*',
        );
        const got =
          fr.statusCode === 200
            ? parseMultipartRelated(fr.rawPayload, String(fr.headers['content-type'])).map((p) => p.body)
            : [];
        if (got.length !== expected.length || got.some((g, i) => !g.equals(expected[i]!))) {
          problems.push(
            `${s.file}: frames differ (${fr.statusCode}; ${got.map((g) => g.length)} vs ${expected.map((g) => g.length)})`,
          );
        }
        const rendered = await get(`${I}/rendered`);
        if (rendered.statusCode >= 500) problems.push(`${s.file}: rendered ${rendered.statusCode}`);
      }
      const meta = await get(`${I}/metadata`);
      if (meta.statusCode !== 200) problems.push(`${s.file}: metadata ${meta.statusCode}`);
    }
    expect(problems).toEqual([]);
  });

  it('serves a JPEG-LS object as stored when JPEG-LS is asked for, and Orthanc survives', async () => {
    const jls = stored.find((s) => s.ts === '1.2.840.10008.1.2.4.80')!;
    const I = `/dicom-web/studies/${jls.study}/series/${jls.series}/instances/${jls.sop}`;
    const res = await t.app.inject({
      method: 'GET',
      url: `${I}/frames/1`,
      headers: { ...bearer(tok), accept: 'multipart/related; type="image/jls"' },
    });
    expect(res.statusCode, res.body).toBe(200);
    const [p] = parseMultipartRelated(res.rawPayload, String(res.headers['content-type']));
    expect(p!.headers['content-type']).toBe('image/jls; transfer-syntax=1.2.840.10008.1.2.4.80');
    expect(p!.body.equals(framesOf(jls)![0]!)).toBe(true);
    // Explicit VR Little Endian of it is a decode (safe); JPEG-LS near-lossless is refused, never forwarded.
    const near = await t.app.inject({
      method: 'GET',
      url: `${I}/frames/1`,
      headers: {
        ...bearer(tok),
        accept: 'multipart/related; type="image/jls"; transfer-syntax=1.2.840.10008.1.2.4.81',
      },
    });
    expect(near.statusCode).toBe(406);
    expect((await t.app.orthanc.json<{ Version: string }>('GET', '/system')).Version).toBe('1.10.1');
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});
