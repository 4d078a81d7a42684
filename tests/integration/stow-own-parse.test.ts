/**
 * STOW-RS indexes a stored instance from the gateway's own parse of the part
 * (server/src/dicomweb/own-dicom-json.ts) instead of reading the object back from Orthanc. This
 * proves the two give the same index, over objects nobody here wrote (Debian's pydicom test and
 * character-set files), the demo data (Vietnamese names, ISO_IR 192) and a few made here for the
 * character-set edge cases (UTF-8 without a declared character set, NFD names, Latin-1), each
 * under fresh UIDs (the run's Orthanc is shared):
 *  1. for every file, the own DICOM JSON is either declared uncertain or, normalised as the index
 *     stores it, equal to Orthanc's DICOMweb metadata of the stored instance;
 *  2. the index rows STOW wrote (own parse where certain) equal the rows the indexer writes from
 *     Orthanc's JSON into a second, empty database, column by column (timestamps aside);
 *  3. the own parse is what STOW uses for the demo data and most of the corpus, and never for
 *     code extensions (ISO 2022), big-endian or deflated objects.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PATIENTS } from '../../scripts/demo/patients.js';
import { generateStudy } from '../../scripts/demo/synth/study.js';
import type { Db } from '../../server/src/db/client.js';
import { openDb } from '../../server/src/db/client.js';
import { migrate } from '../../server/src/db/migrate.js';
import { dicomParser } from '../../server/src/dicomweb/dicom-parser.js';
import { ownDicomJsonOrReason } from '../../server/src/dicomweb/own-dicom-json.js';
import { validatePart10 } from '../../server/src/dicomweb/stow-validate.js';
import { type DicomJson, normaliseDicomJson } from '../../server/src/index/dicom-json.js';
import { Indexer, orthancInstanceIdOf } from '../../server/src/index/indexer.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { makeInstance } from '../helpers/dicom.js';
import { facilityUser, stow, stowOutcomes } from '../helpers/dicomweb.js';

const PYDICOM = '/usr/lib/python3/dist-packages/pydicom/data';
const FACILITY = 'bv-own-parse';

function filesUnder(dir: string, prefix: string): { name: string; bytes: Buffer }[] {
  const out: { name: string; bytes: Buffer }[] = [];
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, `${prefix}${f}/`));
    else out.push({ name: `${prefix}${f}`, bytes: readFileSync(p) });
  }
  return out;
}

/** Demo studies: every demo patient, CT and MR, the first slices of each series. */
function demoFiles(): { name: string; bytes: Buffer }[] {
  const out: { name: string; bytes: Buffer }[] = [];
  DEMO_PATIENTS.forEach((patient, i) => {
    const modality = i % 2 === 0 ? 'CT' : 'MR';
    const study = generateStudy({ seed: 9100 + i, patient, modality, rows: 256, slices: 24, lesions: 1 });
    for (const s of study.series)
      s.instances.slice(0, 2).forEach((b, k) => {
        out.push({ name: `demo/${i}-${modality}-${s.seriesUid.slice(-6)}-${k}`, bytes: Buffer.from(b) });
      });
  });
  return out;
}

/** Character-set edge cases the corpus lacks, as real archives send them (DOMAIN.md). */
function madeFiles(): { name: string; bytes: Buffer }[] {
  const nfd = 'Nguyễn^Thị Minh Khai'.normalize('NFD');
  return [
    {
      name: 'made/utf8-no-charset',
      bytes: makeInstance({ patientName: 'Đặng^Văn Lâm', omit: ['SpecificCharacterSet'] }).bytes,
    },
    { name: 'made/nfd-name', bytes: makeInstance({ patientName: nfd }).bytes },
    { name: 'made/vietnamese', bytes: makeInstance({ patientName: 'Trần^Thị Thu Hương' }).bytes },
  ].concat(
    // The same object declared Latin-1: whatever its bytes, both decodes must agree or defer.
    (() => {
      const m = makeInstance({ patientName: 'Müller^Jürgen' });
      const b = Buffer.from(m.bytes);
      const at = b.indexOf(Buffer.from('ISO_IR 192'));
      if (at > 0) b.write('ISO_IR 100', at, 'latin1');
      return [{ name: 'made/latin1', bytes: b }];
    })(),
  );
}

/**
 * The shared Orthanc of the integration run must not receive the corpus under its own UIDs (other
 * files store them too and expect their own outcomes): every study, series and instance UID is
 * replaced by a fresh one of the same length, so no offset or length in the file changes and the
 * object is otherwise byte for byte the corpus file. Deflated files (UIDs compressed) are left out.
 */
const freshUids = new Map<string, string>();
function withFreshUids(bytes: Buffer): Buffer | undefined {
  const ds = dicomParser.parseDicom(bytes);
  if (ds.string('x00020010')?.trim() === '1.2.840.10008.1.2.1.99') return undefined;
  const out = Buffer.from(bytes);
  for (const tag of ['x0020000d', 'x0020000e', 'x00080018']) {
    const old = ds.string(tag)?.replace(/[\0 ]+$/, '');
    if (!old || old.length < 12) return undefined;
    let fresh = freshUids.get(old);
    if (!fresh) {
      const digits = Array.from({ length: old.length - 6 }, () => Math.floor(Math.random() * 10)).join('');
      fresh = `2.25.1${digits}`;
      freshUids.set(old, fresh);
    }
    const from = Buffer.from(old, 'latin1');
    for (let at = out.indexOf(from); at >= 0; at = out.indexOf(from, at + from.length))
      out.write(fresh, at, 'latin1');
  }
  return out;
}

interface Case {
  name: string;
  bytes: Buffer;
  ts: string;
  orthancId: string;
  own: { json: DicomJson } | { uncertain: string };
  sop: string;
  series: string;
  study: string;
}

let t: TestApp;
let token: string;
let other: Db;
let otherIndexer: Indexer;
const cases: Case[] = [];

beforeAll(async () => {
  t = await buildTestApp({ name: 'stow-own-parse' });
  token = await facilityUser(t, FACILITY, 'own.parse');
  other = await openDb({});
  await migrate(other);
  await other.query(`INSERT INTO facilities (id, name, tier) VALUES ($1, 'Own parse', 'district')`, [
    FACILITY,
  ]);
  otherIndexer = new Indexer(other, t.app.orthanc, t.app.queues, t.app.log);
  const all = [
    ...filesUnder(join(PYDICOM, 'test_files'), 'test_files/'),
    ...filesUnder(join(PYDICOM, 'charset_files'), 'charset_files/'),
    ...demoFiles(),
    ...madeFiles(),
  ];
  for (const original of all) {
    let bytes: Buffer | undefined;
    try {
      bytes = withFreshUids(original.bytes);
    } catch {
      continue; // not parsable: nothing to compare
    }
    if (!bytes) continue;
    const f = { name: original.name, bytes };
    const v = validatePart10(f.bytes, { maxBytes: 1e9 });
    if (!v.ok) continue;
    const i = v.instance;
    if (cases.some((c) => c.sop === i.sopInstanceUid)) continue; // the corpus holds a few copies
    const res = await stow(t, token, [f.bytes]);
    if (res.statusCode !== 200 && res.statusCode !== 202) continue;
    if (stowOutcomes(res.json()).stored.length !== 1) continue;
    cases.push({
      name: f.name,
      bytes: f.bytes,
      ts: i.transferSyntaxUid,
      orthancId: orthancInstanceIdOf(i),
      own: ownDicomJsonOrReason(dicomParser.parseDicom(f.bytes), i.transferSyntaxUid),
      sop: i.sopInstanceUid,
      series: i.seriesUid,
      study: i.studyUid,
    });
  }
}, 600_000);

afterAll(async () => {
  await other?.close();
  await t?.close();
});

/** JSON as stored in the index (jsonb): what both paths must agree on. */
const asStored = (ds: DicomJson) => JSON.parse(JSON.stringify(normaliseDicomJson(ds))) as unknown;

describe('index rows from the own parse equal those from Orthanc', () => {
  it('stored enough objects to prove anything', () => {
    expect(cases.length).toBeGreaterThan(150);
  });

  it('the own DICOM JSON equals Orthanc metadata wherever it claims certainty', async () => {
    const mismatches: string[] = [];
    for (const c of cases) {
      if (!('json' in c.own)) continue;
      const [meta] = await t.app.orthanc.json<DicomJson[]>(
        'GET',
        `/dicom-web/studies/${c.study}/series/${c.series}/instances/${c.sop}/metadata`,
      );
      const mine = asStored(c.own.json) as Record<string, unknown>;
      const theirs = asStored(meta!) as Record<string, unknown>;
      // Key order is not compared: the index stores jsonb, which keeps none.
      const tags = [...new Set([...Object.keys(mine), ...Object.keys(theirs)])].filter(
        (k) => !isDeepStrictEqual(mine[k], theirs[k]),
      );
      if (tags.length > 0) mismatches.push(`${c.name}: ${tags.join(', ')}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('uses the own parse for the demo data and most of the corpus, never where decoding is not certain', () => {
    const own = (c: Case) => 'json' in c.own;
    const demo = cases.filter((c) => c.name.startsWith('demo/') || c.name.startsWith('made/'));
    expect(demo.length).toBeGreaterThanOrEqual(DEMO_PATIENTS.length * 2);
    expect(demo.filter((c) => !own(c)).map((c) => c.name)).toEqual([]);
    const corpus = cases.filter((c) => c.name.startsWith('test_files/'));
    expect(corpus.filter(own).length / corpus.length).toBeGreaterThan(0.7);
    for (const c of cases) {
      const ds = dicomParser.parseDicom(c.bytes);
      const charset = ds.string('x00080005') ?? '';
      const uncertainWhy = 'uncertain' in c.own ? c.own.uncertain : undefined;
      if (charset.includes('\\')) expect(uncertainWhy, c.name).toMatch(/ISO 2022/);
      if (['1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99'].includes(c.ts))
        expect(uncertainWhy, c.name).toMatch(/transfer syntax/);
    }
    // The character-set files: Latin-1 and UTF-8 ones are decoded here, the others left to Orthanc.
    const charsets = cases.filter((c) => c.name.startsWith('charset_files/'));
    expect(charsets.some(own)).toBe(true);
    expect(charsets.some((c) => !own(c))).toBe(true);
  });

  it('the rows STOW wrote equal the rows indexed from Orthanc JSON in an empty database', async () => {
    const attributionOf = async (sop: string) => {
      const [r] = await t.db.query<{ sha256: string; size_bytes: string; transfer_syntax_uid: string }>(
        'SELECT sha256, size_bytes, transfer_syntax_uid FROM instances WHERE sop_instance_uid = $1',
        [sop],
      );
      return {
        facilityId: FACILITY,
        source: 'stow' as const,
        sha256: r!.sha256,
        sizeBytes: Number(r!.size_bytes),
        transferSyntaxUid: r!.transfer_syntax_uid,
      };
    };
    // Same order as STOW indexed them: study rows take their attributes from the first instance.
    for (const c of cases) {
      // No known identity: the indexer reads tags and metadata from Orthanc.
      await otherIndexer.indexOrthancInstance(c.orthancId, await attributionOf(c.sop));
    }
    const strip = ['created_at', 'updated_at', 'received_at', 'archived_at', 'archive_key'];
    const rows = async (db: Db, table: string, key: string, values: string[]) =>
      (
        await db.query<Record<string, unknown>>(
          `SELECT * FROM ${table} WHERE ${key} = ANY($1::text[]) ORDER BY ${key}`,
          [values],
        )
      ).map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => !strip.includes(k)))));
    const sops = cases.map((c) => c.sop);
    const series = [...new Set(cases.map((c) => c.series))];
    const studies = [...new Set(cases.map((c) => c.study))];
    const [a, b] = [
      await rows(t.db, 'instances', 'sop_instance_uid', sops),
      await rows(other, 'instances', 'sop_instance_uid', sops),
    ];
    expect(a.length).toBe(cases.length);
    expect(a).toEqual(b);
    expect(await rows(t.db, 'series', 'series_uid', series)).toEqual(
      await rows(other, 'series', 'series_uid', series),
    );
    expect(await rows(t.db, 'studies', 'study_uid', studies)).toEqual(
      await rows(other, 'studies', 'study_uid', studies),
    );
    const words = async (db: Db) =>
      db.query(
        'SELECT study_uid, word FROM study_name_words WHERE study_uid = ANY($1::text[]) ORDER BY 1, 2',
        [studies],
      );
    expect(await words(t.db)).toEqual(await words(other));
  }, 300_000);
});
