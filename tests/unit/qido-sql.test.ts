/**
 * The QIDO SQL builder (server/src/index/search.ts) and response model, table-driven and run
 * against PGlite: every matcher kind must select exactly the rows its in-memory twin
 * (name-folding.ts matchFoldedName) selects, values must always be bound parameters, and the
 * scope predicate must sit inside the query so LIMIT counts visible studies only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopeOf } from '../../server/src/access/study-access.js';
import { type Db, openDb } from '../../server/src/db/client.js';
import { migrate } from '../../server/src/db/migrate.js';
import { parseQidoQuery } from '../../server/src/dicomweb/qido-query.js';
import { studyResult } from '../../server/src/dicomweb/qido-response.js';
import type { Principal } from '../../server/src/identity/principal.js';
import { nameWords } from '../../server/src/index/indexer.js';
import { foldForSearch, matchFoldedName, parsePersonNameQuery } from '../../server/src/index/name-folding.js';
import { buildQidoSql, type StudyRow } from '../../server/src/index/search.js';

const NAMES = [
  'Nguyễn^Thị Minh Khai',
  'Nguyễn^Văn An',
  'Đặng^Văn Lâm',
  'Trần^Thị Thu',
  'Thị^Nở',
  'Le^Percent%_Name',
  'Nguyễn Thị Minh Khai'.normalize('NFD'),
];
const admin: Principal = {
  kind: 'user',
  userId: 'u',
  username: 'a',
  role: 'system_admin',
  facilityId: null,
  sessionId: 's',
  via: 'bearer',
};
const doctor: Principal = { ...admin, role: 'referring_doctor', facilityId: 'fa' };

let db: Db;
beforeAll(async () => {
  db = await openDb({});
  await migrate(db);
  await db.exec(
    "INSERT INTO facilities (id, name, tier) VALUES ('fa', 'A', 'district'), ('fb', 'B', 'district')",
  );
  for (const [i, name] of NAMES.entries()) {
    const folded = foldForSearch(name);
    await db.query(
      `INSERT INTO studies (study_uid, facility_id, patient_id, patient_name, patient_name_folded, study_date, modalities)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        `1.2.${i}`,
        i % 2 === 0 ? 'fa' : 'fb',
        `P${i}`,
        name.normalize('NFC'),
        folded,
        `2024010${i}`,
        i % 2 === 0 ? ['CT'] : ['MR', 'US'],
      ],
    );
    for (const w of nameWords(folded))
      await db.query('INSERT INTO study_name_words VALUES ($1, $2)', [`1.2.${i}`, w]);
  }
});
afterAll(async () => db?.close());

async function run(query: Record<string, string>, who = admin): Promise<string[]> {
  const { sql, params } = buildQidoSql(parseQidoQuery('study', query), scopeOf(who));
  return (await db.query<StudyRow>(sql, params)).map((r) => r.study_uid);
}

describe('person-name matchers in SQL agree with the in-memory definition', () => {
  it.each([
    ['nguyen thi*', false],
    ['nguyen thi', true],
    ['nguyen thi', false],
    ['nguyen^thi minh khai', false],
    ['thi', true],
    ['thi', false],
    ['dang', true],
    ['*van*', false],
    ['?guyen*', false],
    ['le percent% name', false],
    ['percent%', true],
    ['khai ng', true],
  ])('PatientName=%s fuzzy=%s', async (value, fuzzy) => {
    const matcher = parsePersonNameQuery(value, fuzzy);
    const expected = NAMES.map((n, i) => [n, `1.2.${i}`] as const)
      .filter(([n]) => matchFoldedName(matcher, foldForSearch(n)))
      .map(([, uid]) => uid)
      .sort();
    const got = (await run({ PatientName: value, fuzzymatching: String(fuzzy) })).sort();
    expect(got).toEqual(expected);
  });
});

describe('SQL shape', () => {
  it('binds every value as a parameter', () => {
    const { sql, params } = buildQidoSql(
      parseQidoQuery('study', { PatientName: "o'brien*", PatientID: "x' OR '1'='1", StudyDate: '20240101-' }),
      scopeOf(doctor),
    );
    expect(sql).not.toContain('brien');
    expect(sql).not.toContain("'1'='1");
    expect(params).toContain("x' OR '1'='1");
    expect(params).toContain('fa');
  });

  it('applies the access scope before LIMIT/OFFSET', async () => {
    expect(await run({ limit: '2' }, doctor)).toEqual(['1.2.6', '1.2.4']);
    expect(await run({ limit: '2', offset: '2' }, doctor)).toEqual(['1.2.2', '1.2.0']);
  });

  it('matches ModalitiesInStudy against any listed modality', async () => {
    expect((await run({ ModalitiesInStudy: 'US' })).sort()).toEqual(['1.2.1', '1.2.3', '1.2.5']);
    expect(await run({ ModalitiesInStudy: 'U*' })).toHaveLength(3);
  });

  it('sees nothing for a role without patient-data access', async () => {
    expect(await run({}, { ...admin, role: 'model_manager' })).toEqual([]);
  });
});

describe('response model', () => {
  it('returns only the deliberate attributes, PN as Alphabetic', async () => {
    const q = parseQidoQuery('study', { StudyInstanceUID: '1.2.0' });
    const { sql, params } = buildQidoSql(q, scopeOf(admin));
    const [row] = await db.query<StudyRow>(sql, params);
    const o = studyResult(row!, q, 'https://gw.example');
    expect(o['00100010']).toEqual({ vr: 'PN', Value: [{ Alphabetic: 'Nguyễn^Thị Minh Khai' }] });
    expect(o['00081190']).toEqual({ vr: 'UR', Value: ['https://gw.example/dicom-web/studies/1.2.0'] });
    expect(Object.keys(o)).toEqual([...Object.keys(o)].sort());
    expect(o).not.toHaveProperty('00100021');
  });
});
