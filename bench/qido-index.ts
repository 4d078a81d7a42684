/**
 * QIDO-RS over the study index at 100,000 studies, on both engines (PGlite in memory and
 * PostgreSQL 15): seeds synthetic studies straight into the database (Vietnamese names with the
 * real family-name skew: ~38% Nguyễn), then times the query mix through the same code the
 * routes use (parseQidoQuery → buildQidoSql → query → DICOM JSON), and prints p50/p95 per query.
 * Target: p95 < 50 ms for every query. Results: bench/results/qido-index.json with the commit id.
 *
 *   npx tsx bench/qido-index.ts                 # PGlite, and PostgreSQL if BENCH_POSTGRES_URL is set
 *   BENCH_POSTGRES_URL=postgres://... BENCH_STUDIES=100000 npx tsx bench/qido-index.ts
 *
 * The PostgreSQL URL's role needs CREATEDB: a fresh database is created and dropped.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createDatabase, dropDatabase } from '../scripts/services/postgres.js';
import { type StudyScope, scopeOf } from '../server/src/access/study-access.js';
import { type Db, openDb } from '../server/src/db/client.js';
import { migrate } from '../server/src/db/migrate.js';
import { parseQidoQuery } from '../server/src/dicomweb/qido-query.js';
import { studyResult } from '../server/src/dicomweb/qido-response.js';
import type { Principal } from '../server/src/identity/principal.js';
import { nameWords } from '../server/src/index/indexer.js';
import { foldForSearch } from '../server/src/index/name-folding.js';
import { buildQidoSql, type StudyRow } from '../server/src/index/search.js';
import { MODS, randomName, rng } from './lib/vietnamese-names.js';

const N = Number(process.env.BENCH_STUDIES ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 60);
const FACILITIES = 20;

async function seed(db: Db): Promise<void> {
  const r = rng(42);
  await db.exec(
    Array.from(
      { length: FACILITIES },
      (_, i) => `INSERT INTO facilities (id, name, tier) VALUES ('bv-${i}', 'BV ${i}', 'district');`,
    ).join('\n'),
  );
  const BATCH = 5000;
  for (let start = 0; start < N; start += BATCH) {
    const cols: unknown[][] = Array.from({ length: 12 }, () => []);
    const wordsUid: string[] = [];
    const words: string[] = [];
    for (let i = start; i < Math.min(N, start + BATCH); i++) {
      const name = randomName(r);
      const folded = foldForSearch(name);
      const uid = `2.25.${1_000_000 + i}`;
      const day = new Date(Date.UTC(2015, 0, 1) + Math.floor(r() * 3650) * 86400_000)
        .toISOString()
        .slice(0, 10)
        .replace(/-/g, '');
      const hh = String(Math.floor(r() * 24)).padStart(2, '0');
      const mods = [MODS[Math.floor(r() * MODS.length)]!];
      if (r() < 0.2) mods.push(MODS[Math.floor(r() * MODS.length)]!);
      // Patients have ~3 studies each at the same facility: priors exist.
      const patient = Math.floor(i / 3);
      const values = [
        uid,
        `bv-${patient % FACILITIES}`,
        `P${patient}`,
        name,
        folded,
        '19700101',
        r() < 0.5 ? 'F' : 'M',
        day,
        `${hh}0000.000000`,
        `ACC${i}`,
        [...new Set(mods)].sort(),
        JSON.stringify({ '00100010': { vr: 'PN', Value: [{ Alphabetic: name }] } }),
      ];
      for (const [k, v] of values.entries()) cols[k]!.push(v);
      for (const w of nameWords(folded)) {
        wordsUid.push(uid);
        words.push(w);
      }
    }
    await db.query(
      `INSERT INTO studies (study_uid, facility_id, patient_id, patient_name, patient_name_folded, patient_birth_date,
                            patient_sex, study_date, study_time, accession_number, modalities, dicom_json, num_series, num_instances)
       SELECT u, f, p, n, nf, bd, sx, d, t, a, string_to_array(m, ','), j::jsonb, 1, 100
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::text[], $10::text[], $11::text[], $12::text[]) AS x(u, f, p, n, nf, bd, sx, d, t, a, m, j)`,
      cols.map((c, k) => (k === 10 ? (c as string[][]).map((m) => m.join(',')) : c)),
    );
    await db.query(
      'INSERT INTO study_name_words (study_uid, word) SELECT * FROM unnest($1::text[], $2::text[])',
      [wordsUid, words],
    );
  }
  // Grants: each facility has 30 studies of other facilities shared with it, with priors.
  for (let f = 0; f < FACILITIES; f++) {
    for (let k = 0; k < 30; k++) {
      const i = Math.floor(r() * N);
      await db.query(
        `INSERT INTO study_grants (study_uid, facility_id, include_priors, reason)
         SELECT study_uid, $2, true, 'bench' FROM studies WHERE study_uid = $1 AND facility_id <> $2`,
        [`2.25.${1_000_000 + i}`, `bv-${f}`],
      );
    }
  }
  // Steady state of a live database: autovacuum has run (visibility map set, statistics fresh).
  await db.exec('VACUUM ANALYZE');
}

const ADMIN: Principal = {
  kind: 'user',
  userId: 'x',
  username: 'admin',
  role: 'system_admin',
  facilityId: null,
  sessionId: 's',
  via: 'bearer',
};
const DOCTOR: Principal = { ...ADMIN, username: 'bs', role: 'referring_doctor', facilityId: 'bv-3' };

const MIX: { name: string; who: Principal; query: Record<string, string> }[] = [
  { name: 'name prefix, no diacritics (nguyen van*)', who: ADMIN, query: { PatientName: 'nguyen van*' } },
  {
    name: 'name fuzzy word prefixes (tran thi, fuzzy)',
    who: ADMIN,
    query: { PatientName: 'tran thi', fuzzymatching: 'true' },
  },
  {
    name: 'rare name fuzzy (khai, fuzzy)',
    who: ADMIN,
    query: { PatientName: 'khai', fuzzymatching: 'true' },
  },
  {
    name: 'date range + modality',
    who: ADMIN,
    query: { StudyDate: '20230101-20230331', ModalitiesInStudy: 'CT' },
  },
  { name: 'non-admin scope, first page', who: DOCTOR, query: {} },
  { name: 'non-admin scope + name prefix', who: DOCTOR, query: { PatientName: 'le*' } },
  { name: 'non-admin scope, offset 2000', who: DOCTOR, query: { offset: '2000' } },
  { name: 'deep offset (admin, offset 50000)', who: ADMIN, query: { offset: '50000' } },
];

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function runMix(db: Db) {
  const out: Record<string, { p50: number; p95: number; rows: number }> = {};
  for (const m of MIX) {
    const q = parseQidoQuery('study', m.query);
    const scope: StudyScope = scopeOf(m.who);
    const { sql, params } = buildQidoSql(q, scope);
    const times: number[] = [];
    let rows = 0;
    for (let i = 0; i < RUNS + 5; i++) {
      const t = performance.now();
      const res = await db.query<StudyRow>(sql, params);
      const body = JSON.stringify(res.map((r) => studyResult(r, q, 'http://gw')));
      const dt = performance.now() - t;
      if (i >= 5) times.push(dt); // warm-up runs discarded
      rows = res.length;
      if (body.length < 2) throw new Error('empty body');
    }
    if (process.env.BENCH_EXPLAIN) {
      const plan = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ANALYZE ${sql}`, params);
      console.log(plan.map((r) => r['QUERY PLAN']).join('\n'));
    }
    out[m.name] = { p50: +percentile(times, 50).toFixed(2), p95: +percentile(times, 95).toFixed(2), rows };
    console.log(
      `  ${m.name.padEnd(45)} p50 ${out[m.name]!.p50.toFixed(2).padStart(7)} ms  p95 ${out[m.name]!.p95.toFixed(2).padStart(7)} ms  rows ${rows}`,
    );
  }
  return out;
}

async function bench(label: string, db: Db) {
  await migrate(db);
  const t = Date.now();
  await seed(db);
  console.log(`${label}: seeded ${N} studies in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return runMix(db);
}

const results: Record<string, unknown> = {};
if (!process.env.BENCH_SKIP_PGLITE) {
  const pglite = await openDb({});
  results.pglite = await bench('PGlite', pglite);
  await pglite.close();
}
const pgUrl = process.env.BENCH_POSTGRES_URL;
if (pgUrl) {
  const url = await createDatabase(pgUrl);
  const db = await openDb({ databaseUrl: url });
  try {
    results.postgres = await bench('PostgreSQL', db);
  } finally {
    await db.close();
    if (process.env.BENCH_KEEP_DB) console.log(`kept ${url}`);
    else await dropDatabase(url);
  }
}
const commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
const file = join(import.meta.dirname, 'results', 'qido-index.json');
writeFileSync(
  file,
  `${JSON.stringify({ commit, date: new Date().toISOString(), machine: { cpus: cpus().length, loadavg1m: loadavg()[0] }, studies: N, runs: RUNS, unit: 'ms', targetP95: 50, results }, null, 2)}\n`,
);
console.log(`written ${file}`);
