/**
 * QIDO-RS from the gateway's study index, on both database engines, against the real Orthanc:
 * instances are stored in Orthanc and indexed as STOW does (app.indexer), then searched through
 * the HTTP API and with a real client (dicomweb-client). Covers Vietnamese name matching (no
 * diacritics, NFC = NFD, `^` = space, đ → d, fuzzy word prefixes), the other matching kinds,
 * paging, includefield, the response model, access scoping with grants and priors (404 outside
 * scope), compression, and the audit trail.
 */
import { createRequire } from 'node:module';
import { api } from 'dicomweb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth } from '../../scripts/services/orthanc.js';
import { createDatabase, dropDatabase } from '../../scripts/services/postgres.js';
import { bearer, buildTestApp, stack, type TestApp } from '../helpers/app.js';
import { freshUid, type TinyInstance, tinyDicom } from '../helpers/tiny-dicom.js';

type DicomObject = Record<string, { vr: string; Value?: unknown[] }>;

async function storeInOrthanc(bytes: Buffer): Promise<string> {
  const s = stack();
  const res = await fetch(`${s.orthanc.url}/instances`, {
    method: 'POST',
    headers: {
      authorization: basicAuth(s.orthanc.username, s.orthanc.password),
      'content-type': 'application/dicom',
    },
    body: bytes,
  });
  if (res.status !== 200) throw new Error(`Orthanc refused: ${res.status}`);
  return ((await res.json()) as { ID: string }).ID;
}

const value = (o: DicomObject, tag: string) => o[tag]?.Value?.[0];
const uids = (list: DicomObject[]) => list.map((o) => value(o, '0020000D') as string);

describe.each(['pglite', 'postgres'] as const)('QIDO-RS on %s', (engine) => {
  let t: TestApp;
  let pgUrl: string | undefined;
  let admin: string;
  let doctorA: string;
  let doctorB: string;
  // Unique per run: Orthanc is shared with the other test files and the other engine's pass.
  const tag = Math.random().toString(36).slice(2, 8);
  const A = `bv-a-${tag}`;
  const B = `bv-b-${tag}`;
  const pid = (n: string) => `${n}-${tag}`;
  const studies: Record<string, string> = {};

  async function index(name: string, facilityId: string, o: TinyInstance): Promise<string> {
    const f = tinyDicom(o);
    const id = await storeInOrthanc(f.bytes);
    await t.app.indexer.indexOrthancInstance(id, { facilityId, source: 'stow' });
    studies[name] = f.studyUid;
    return f.studyUid;
  }

  const get = (url: string, token: string, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'GET', url, headers: { ...bearer(token), ...headers } });
  async function search(url: string, token = admin): Promise<DicomObject[]> {
    const res = await get(url, token);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/dicom\+json/);
    return res.json() as DicomObject[];
  }

  beforeAll(async () => {
    if (engine === 'postgres') pgUrl = await createDatabase(stack().postgresUrl);
    t = await buildTestApp({ name: `qido-${engine}`, ...(pgUrl ? { databaseUrl: pgUrl } : {}) });
    admin = await t.adminToken();
    for (const id of [A, B]) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/facilities',
        headers: bearer(admin),
        payload: { id, name: `Bệnh viện ${id}`, tier: 'district', parentId: null },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    for (const [username, facilityId] of [
      [`doctor.a.${tag}`, A],
      [`doctor.b.${tag}`, B],
    ] as const) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/users',
        headers: bearer(admin),
        payload: {
          username,
          displayName: 'Bác sĩ',
          role: 'referring_doctor',
          facilityId,
          password: 'correct horse battery',
        },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    doctorA = await t.login(`doctor.a.${tag}`, 'correct horse battery');
    doctorB = await t.login(`doctor.b.${tag}`, 'correct horse battery');

    // Facility A
    const khai = await index('khai', A, {
      patientName: 'Nguyễn^Thị Minh Khai',
      patientId: pid('KHAI'),
      studyDate: '20240115',
      studyTime: '101530',
      modality: 'MR',
      institutionName: 'Bệnh viện Bạch Mai',
      referringPhysicianName: 'Trần^Văn Bình',
    });
    await index('khai', A, {
      studyUid: khai,
      patientName: 'Nguyễn^Thị Minh Khai',
      patientId: pid('KHAI'),
      modality: 'CT',
      seriesNumber: 2,
    });
    // Decomposed (NFD) name, no declared character set, UTF-8 bytes.
    await index('dang', A, {
      patientName: 'Đặng^Văn Lâm'.normalize('NFD'),
      declareUtf8: false,
      patientId: pid('DANG'),
      studyDate: '20230601',
      modality: 'CT',
    });
    for (const [i, date] of ['20220301', '20220302', '20220303'].entries()) {
      await index(`page${i}`, A, {
        patientName: 'Lê^Paging',
        patientId: pid('PAGE'),
        studyDate: date,
        modality: 'US',
      });
    }
    // Facility B: patient P has two studies there; patient Q one.
    await index('bShared', B, {
      patientName: 'Phạm^Văn Chia',
      patientId: pid('P'),
      issuerOfPatientId: 'BV-B',
      studyDate: '20240301',
    });
    await index('bPrior', B, {
      patientName: 'Phạm^Văn Chia',
      patientId: pid('P'),
      issuerOfPatientId: 'BV-B',
      studyDate: '20210301',
    });
    await index('bOther', B, {
      patientName: 'Hồ^Thị Khác',
      patientId: pid('Q'),
      issuerOfPatientId: 'BV-B',
      studyDate: '20240302',
    });
  });

  afterAll(async () => {
    await t?.close();
    if (pgUrl) await dropDatabase(pgUrl);
  });

  describe('Vietnamese person-name matching', () => {
    const find = async (q: string) => uids(await search(`/dicom-web/studies?${q}&PatientID=${pid('*')}`));
    it.each([
      ['wildcard without diacritics', 'PatientName=nguyen%20thi*'],
      ['fuzzy word prefixes', 'PatientName=nguyen%20thi&fuzzymatching=true'],
      ['fuzzy, any word order', 'PatientName=khai%20nguy&fuzzymatching=true'],
      ['exact, NFC', `PatientName=${encodeURIComponent('Nguyễn^Thị Minh Khai'.normalize('NFC'))}`],
      ['exact, NFD', `PatientName=${encodeURIComponent('Nguyễn^Thị Minh Khai'.normalize('NFD'))}`],
      ['^ and space are the same', 'PatientName=Nguyen%5EThi%20Minh%20Khai'],
      ['case-insensitive', 'PatientName=NGUYEN%20THI%20MINH%20KHAI'],
    ])('%s finds Nguyễn^Thị Minh Khai', async (_label, q) => {
      expect(await find(q)).toEqual([studies.khai]);
    });

    it('does not match a bare word without fuzzy matching or a wildcard', async () => {
      expect(await find('PatientName=thi')).toEqual([]);
      expect(await find('PatientName=nguyen%20thi')).toEqual([]);
    });

    it('dang finds Đặng (stored in NFD, without a declared character set)', async () => {
      expect(await find('PatientName=dang&fuzzymatching=true')).toEqual([studies.dang]);
      expect(await find('PatientName=dang*')).toEqual([studies.dang]);
      const [o] = await search(`/dicom-web/studies?StudyInstanceUID=${studies.dang}`);
      // Returned as stored in the index: NFC, correctly decoded UTF-8.
      expect(value(o!, '00100010')).toEqual({ Alphabetic: 'Đặng^Văn Lâm'.normalize('NFC') });
    });

    it('matches the referring physician without diacritics', async () => {
      expect(await find('ReferringPhysicianName=tran%20van*')).toEqual([studies.khai]);
      expect(await find('ReferringPhysicianName=binh&fuzzymatching=true')).toEqual([studies.khai]);
    });
  });

  describe('other matching keys', () => {
    it('matches date ranges (closed, open-ended, single date)', async () => {
      const scoped = `PatientID=${pid('*')}`;
      expect(uids(await search(`/dicom-web/studies?StudyDate=20240101-20240131&${scoped}`))).toEqual([
        studies.khai,
      ]);
      expect(new Set(uids(await search(`/dicom-web/studies?StudyDate=20230101-&${scoped}`)))).toEqual(
        new Set([studies.khai, studies.dang, studies.bShared, studies.bOther]),
      );
      expect(uids(await search(`/dicom-web/studies?StudyDate=-20220301&${scoped}`))).toEqual([
        studies.page0,
        studies.bPrior,
      ]);
      expect(uids(await search(`/dicom-web/studies?StudyDate=20220302&${scoped}`))).toEqual([studies.page1]);
    });

    it('matches time ranges on the normalised StudyTime', async () => {
      expect(
        uids(await search(`/dicom-web/studies?StudyTime=10-11&StudyDate=20240115&PatientID=${pid('KHAI')}`)),
      ).toEqual([studies.khai]);
      expect(uids(await search(`/dicom-web/studies?StudyTime=1100-&PatientID=${pid('KHAI')}`))).toEqual([]);
    });

    it('matches ModalitiesInStudy (any of a list) and returns every modality of the study', async () => {
      const found = await search(`/dicom-web/studies?ModalitiesInStudy=MR&PatientID=${pid('*')}`);
      expect(uids(found)).toEqual([studies.khai]);
      expect(found[0]!['00080061']).toEqual({ vr: 'CS', Value: ['CT', 'MR'] });
      expect(
        uids(await search(`/dicom-web/studies?ModalitiesInStudy=MR,US&PatientID=${pid('*')}`)),
      ).toHaveLength(4);
    });

    it('matches UID lists', async () => {
      const found = await search(`/dicom-web/studies?StudyInstanceUID=${studies.khai},${studies.dang}`);
      expect(new Set(uids(found))).toEqual(new Set([studies.khai, studies.dang]));
      expect(await search(`/dicom-web/studies?StudyInstanceUID=${freshUid()}`)).toEqual([]);
    });

    it('pages with limit and offset in a deterministic order (newest first)', async () => {
      const q = `/dicom-web/studies?PatientID=${pid('PAGE')}`;
      expect(uids(await search(q))).toEqual([studies.page2, studies.page1, studies.page0]);
      expect(uids(await search(`${q}&limit=2`))).toEqual([studies.page2, studies.page1]);
      expect(uids(await search(`${q}&limit=2&offset=2`))).toEqual([studies.page0]);
      expect(uids(await search(`${q}&offset=3`))).toEqual([]);
    });

    it('caps a limit above the maximum and says so in a Warning header', async () => {
      const res = await get(`/dicom-web/studies?limit=5000&PatientID=${pid('PAGE')}`, admin);
      expect(res.statusCode).toBe(200);
      expect(res.headers.warning).toMatch(/^299 .*"The number of results exceeded/);
    });

    it('answers 400 with the reason for a bad query, without echoing the value', async () => {
      const res = await get('/dicom-web/studies?StudyDate=2024-13-45&PatientName=x&Bogus=Nguyễn', admin);
      expect(res.statusCode).toBe(400);
      const body = res.json() as { code: string; message: string };
      expect(body.code).toBe('RADLINK_BAD_REQUEST');
      expect(body.message).toMatch(/StudyDate/);
      expect(body.message).toMatch(/Bogus: unknown/);
      expect(body.message).not.toMatch(/Nguyễn/);
    });

    it('answers 406 to an Accept it cannot serve', async () => {
      const res = await get('/dicom-web/studies?limit=1', admin, {
        accept: 'multipart/related; type="application/dicom+xml"',
      });
      expect(res.statusCode).toBe(406);
    });
  });

  describe('response model', () => {
    it('returns the required study attributes, PN as Alphabetic, counts and a gateway RetrieveURL', async () => {
      const [o] = await search(`/dicom-web/studies?StudyInstanceUID=${studies.khai}`);
      expect(Object.keys(o!).sort()).toEqual(
        [
          '00080020',
          '00080030',
          '00080050',
          '00080056',
          '00080061',
          '00080090',
          '00081030',
          '00081190',
          '00100010',
          '00100020',
          '00100030',
          '00100040',
          '0020000D',
          '00200010',
          '00201206',
          '00201208',
        ].sort(),
      );
      expect(o!['00100010']).toEqual({ vr: 'PN', Value: [{ Alphabetic: 'Nguyễn^Thị Minh Khai' }] });
      expect(o!['00080090']).toEqual({ vr: 'PN', Value: [{ Alphabetic: 'Trần^Văn Bình' }] });
      expect(o!['00201206']).toEqual({ vr: 'IS', Value: [2] });
      expect(o!['00201208']).toEqual({ vr: 'IS', Value: [2] });
      expect(o!['00080030']).toEqual({ vr: 'TM', Value: ['101530.000000'] });
      expect(value(o!, '00081190')).toBe(`http://localhost:80/dicom-web/studies/${studies.khai}`);
      expect(o!['00080050']).toEqual({ vr: 'SH' }); // empty, still returned (type 2)
    });

    it('adds includefield attributes from the stored data set, and nothing else', async () => {
      const [o] = await search(
        `/dicom-web/studies?StudyInstanceUID=${studies.khai}&includefield=InstitutionName`,
      );
      expect(o!['00080080']).toEqual({ vr: 'LO', Value: ['Bệnh viện Bạch Mai'] });
      expect(o!['00280010']).toBeUndefined();
      const [all] = await search(`/dicom-web/studies?StudyInstanceUID=${studies.khai}&includefield=all`);
      expect(all!['00080080']).toBeDefined();
      expect(all!['7FE00010']).toBeUndefined();
    });

    it('searches series and instances, study-scoped and across studies', async () => {
      const series = await search(`/dicom-web/studies/${studies.khai}/series`);
      expect(series.map((s) => value(s, '00080060'))).toEqual(['MR', 'CT']);
      expect(series[0]!['00201209']).toEqual({ vr: 'IS', Value: [1] });
      expect(series[0]!['00100010']).toBeUndefined(); // study attributes only when searching all series
      const ct = await search(`/dicom-web/series?Modality=CT&PatientID=${pid('KHAI')}`);
      expect(ct).toHaveLength(1);
      expect(value(ct[0]!, '0020000D')).toBe(studies.khai);
      expect(value(ct[0]!, '00100010')).toEqual({ Alphabetic: 'Nguyễn^Thị Minh Khai' });

      const instances = await search(`/dicom-web/studies/${studies.khai}/instances?includefield=00280100`);
      expect(instances).toHaveLength(2);
      expect(instances[0]!['00280010']).toEqual({ vr: 'US', Value: [8] });
      expect(instances[0]!['00280100']).toEqual({ vr: 'US', Value: [16] });
      const seriesUid = value(series[1]!, '0020000E') as string;
      const inSeries = await search(`/dicom-web/studies/${studies.khai}/series/${seriesUid}/instances`);
      expect(inSeries.map((i) => value(i, '0020000E'))).toEqual([seriesUid]);
      const sop = value(inSeries[0]!, '00080018') as string;
      expect(await search(`/dicom-web/instances?SOPInstanceUID=${sop}`)).toHaveLength(1);
      // An unknown series under a known study is not found.
      expect(
        (await get(`/dicom-web/studies/${studies.khai}/series/${freshUid()}/instances`, admin)).statusCode,
      ).toBe(404);
    });

    it('compresses JSON for clients that accept it', async () => {
      const res = await get(`/dicom-web/studies?PatientID=${pid('*')}&includefield=all`, admin, {
        'accept-encoding': 'gzip',
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-encoding']).toBe('gzip');
    });
  });

  describe('access scope', () => {
    const all = `/dicom-web/studies?PatientID=${pid('*')}`;

    it("shows a facility's doctor its own studies only", async () => {
      expect(new Set(uids(await search(all, doctorA)))).toEqual(
        new Set([studies.khai, studies.dang, studies.page0, studies.page1, studies.page2]),
      );
      expect(new Set(uids(await search(all, doctorB)))).toEqual(
        new Set([studies.bShared, studies.bPrior, studies.bOther]),
      );
    });

    it('answers 404 for study-scoped searches outside the scope, 200 inside', async () => {
      for (const url of [
        `/dicom-web/studies/${studies.bShared}/series`,
        `/dicom-web/studies/${studies.bShared}/instances`,
      ]) {
        const out = await get(url, doctorA);
        expect(out.statusCode).toBe(404);
        expect(out.json().code).toBe('RADLINK_NOT_FOUND');
      }
      expect((await get(`/dicom-web/studies/${studies.khai}/series`, doctorA)).statusCode).toBe(200);
    });

    it('a grant shares the study, and with include_priors the same patient’s other studies there, not other patients’', async () => {
      await t.db.query(
        "INSERT INTO study_grants (study_uid, facility_id, include_priors, reason) VALUES ($1, $2, true, 'remote read')",
        [studies.bShared, A],
      );
      const seen = new Set(uids(await search(all, doctorA)));
      expect(seen.has(studies.bShared!)).toBe(true);
      expect(seen.has(studies.bPrior!)).toBe(true);
      expect(seen.has(studies.bOther!)).toBe(false);
      expect((await get(`/dicom-web/studies/${studies.bPrior}/series`, doctorA)).statusCode).toBe(200);
      expect((await get(`/dicom-web/studies/${studies.bOther}/series`, doctorA)).statusCode).toBe(404);

      // Without priors, only the granted study.
      await t.db.query('UPDATE study_grants SET include_priors = false WHERE study_uid = $1', [
        studies.bShared,
      ]);
      const narrow = new Set(uids(await search(all, doctorA)));
      expect(narrow.has(studies.bShared!)).toBe(true);
      expect(narrow.has(studies.bPrior!)).toBe(false);
      // Revoked: gone.
      await t.db.query('UPDATE study_grants SET revoked_at = now() WHERE study_uid = $1', [studies.bShared]);
      expect(uids(await search(all, doctorA))).not.toContain(studies.bShared);
    });

    it('applies limit and offset after scoping', async () => {
      const page = await search(`${all}&limit=2&offset=0`, doctorB);
      expect(uids(page)).toEqual([studies.bOther, studies.bShared]);
    });

    it('writes an audit row for each QIDO call, with the study for study-scoped ones', async () => {
      await get(`/dicom-web/studies/${studies.bOther}/series`, doctorA);
      const rows = await t.db.query<{ outcome: string; username: string }>(
        "SELECT outcome, username FROM audit_events WHERE action = 'dicomweb.qido' AND study_uid = $1 ORDER BY id DESC LIMIT 1",
        [studies.bOther],
      );
      expect(rows[0]).toEqual({ outcome: 'not-found', username: `doctor.a.${tag}` });
      const n = await t.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM audit_events WHERE action = 'dicomweb.qido' AND username = $1",
        [`doctor.b.${tag}`],
      );
      expect(n[0]!.n).toBeGreaterThan(0);
    });
  });

  describe('a real client (dicomweb-client)', () => {
    it('searches studies and series over HTTP with a bearer token', async () => {
      const g = globalThis as { XMLHttpRequest?: unknown };
      g.XMLHttpRequest ??= createRequire(import.meta.url)('xhr2');
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const client = new api.DICOMwebClient({
        url: `${address}/dicom-web`,
        headers: bearer(admin),
        singlepart: false,
      });
      const found = (await client.searchForStudies({
        queryParams: { PatientName: 'nguyen thi', fuzzymatching: 'true', PatientID: pid('*') },
      })) as DicomObject[];
      expect(uids(found)).toEqual([studies.khai]);
      expect(value(found[0]!, '00081190')).toBe(`${address}/dicom-web/studies/${studies.khai}`);
      const series = (await client.searchForSeries({ studyInstanceUID: studies.khai! })) as DicomObject[];
      expect(series).toHaveLength(2);
    });
  });
});
