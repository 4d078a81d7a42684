/**
 * The viewer shell's pure logic, table-driven: hash routes and role navigation, keyboard
 * shortcut matching, the upload plan (resume sends only what the server lacks), STOW-RS answers,
 * DICOM identifiers read in the browser's way, waiting time against the turnaround target, and
 * the draft autosave with its 409 stale-version conflict.
 */
import { describe, expect, it } from 'vitest';
import { parseStowResponse, personName } from '../../viewer/src/api/dicom-json.js';
import { ApiError } from '../../viewer/src/api/http.js';
import { partEnds, studyQuery } from '../../viewer/src/api/qido-query.js';
import type { Report, ReportTemplate } from '../../viewer/src/api/types.js';
import { duration, turnaround } from '../../viewer/src/app/format.js';
import { DraftAutosave, type SaveState } from '../../viewer/src/app/report/draft.js';
import {
  isInsertable,
  measurementKey,
  toMeasurementInput,
} from '../../viewer/src/app/report/measurements.js';
import { rankTemplates, regionOf } from '../../viewer/src/app/report/template-choice.js';
import { allowed, homeFor, href, navFor, parseRoute } from '../../viewer/src/app/routes.js';
import { match, type Shortcut } from '../../viewer/src/app/shell/keys.js';
import { idsFromBytes, readIds } from '../../viewer/src/app/upload/dicom-header.js';
import { batches, planUpload, reasonKey } from '../../viewer/src/app/upload/plan.js';
import { tinyDicom } from '../helpers/tiny-dicom.js';

describe('hash routes', () => {
  const uid = '1.2.826.0.1.3680043.8.498.1';
  const req = '0b6f4a8e-2f7d-4c55-9d0a-3c1a1e8b9f10';
  const token = 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd';
  it.each([
    ['', { name: 'worklist' }],
    ['#/', { name: 'worklist' }],
    ['#/login', { name: 'login' }],
    ['#/search', { name: 'search' }],
    [`#/study/${uid}`, { name: 'study', studyUid: uid, requestId: null }],
    [`#/study/${uid}?request=${req}`, { name: 'study', studyUid: uid, requestId: req }],
    [`#/study/${uid}?request=not-a-uuid`, { name: 'study', studyUid: uid, requestId: null }],
    [`#/request/${uid}`, { name: 'new-request', studyUid: uid }],
    [`#/s/${token}`, { name: 'share', token }],
    ['#/study/1.2.x', { name: 'not-found', path: '/study/1.2.x' }],
    ['#/s/short', { name: 'not-found', path: '/s/short' }],
    ['#/nothing', { name: 'not-found', path: '/nothing' }],
    [`#/verify/${req}?code=${token}`, { name: 'verify', reportId: req, code: token }],
    [`#/verify/${req}`, { name: 'not-found', path: `/verify/${req}` }],
    [`#/verify/${req}?code=bad code`, { name: 'not-found', path: `/verify/${req}` }],
  ])('%s', (hash, route) => {
    expect(parseRoute(hash)).toEqual(route);
  });

  it('href and parseRoute round-trip', () => {
    for (const r of [
      { name: 'study', studyUid: uid, requestId: req },
      { name: 'study', studyUid: uid, requestId: null },
      { name: 'share', token },
      { name: 'verify', reportId: req, code: token },
      { name: 'upload' },
    ] as const)
      expect(parseRoute(href(r))).toEqual(r);
  });

  it('navigation follows the role', () => {
    expect(navFor('radiologist').map((n) => n.route)).toEqual(['worklist', 'requests', 'search']);
    expect(navFor('referring_doctor').map((n) => n.route)).toEqual(['requests', 'upload', 'search']);
    expect(navFor('system_admin').map((n) => n.route)).toContain('users');
    expect(navFor('facility_admin').map((n) => n.route)).toContain('facilities');
    expect(homeFor('referring_doctor')).toBe('requests');
    expect(homeFor('radiologist')).toBe('worklist');
    expect(allowed('referring_doctor', { name: 'worklist' })).toBe(false);
    expect(allowed('radiologist', { name: 'upload' })).toBe(false);
    expect(allowed('radiologist', { name: 'users' })).toBe(false);
    expect(allowed('referring_doctor', { name: 'new-request', studyUid: uid })).toBe(true);
  });
});

describe('shortcut matching', () => {
  const list: Shortcut[] = [
    { keys: '?', i18nKey: 'a' },
    { keys: 'g w', i18nKey: 'b' },
    { keys: 'Ctrl+S', i18nKey: 'c' },
    { keys: 'Escape', i18nKey: 'd' },
  ];
  const key = (k: string, mods: Partial<{ ctrlKey: boolean; metaKey: boolean; altKey: boolean }> = {}) => ({
    key: k,
    ctrlKey: false,
    metaKey: false,
    altKey: false,
    ...mods,
  });
  it('single keys, chords and two-key sequences', () => {
    expect(match(list, key('?'), null).shortcut?.i18nKey).toBe('a');
    expect(match(list, key('Escape'), null).shortcut?.i18nKey).toBe('d');
    expect(match(list, key('s', { ctrlKey: true }), null).shortcut?.i18nKey).toBe('c');
    expect(match(list, key('s', { metaKey: true }), null).shortcut?.i18nKey).toBe('c');
    expect(match(list, key('s'), null).shortcut).toBeNull();
    const first = match(list, key('g'), null);
    expect(first).toEqual({ shortcut: null, pending: 'g' });
    expect(match(list, key('w'), first.pending).shortcut?.i18nKey).toBe('b');
    expect(match(list, key('w'), null).shortcut).toBeNull();
  });
});

describe('upload plan', () => {
  const f = (index: number, sop: string, study = 'S1', size = 100) => ({
    index,
    size,
    studyUid: study,
    sopInstanceUid: sop,
  });
  it('sends only the instances the server does not hold, each once', () => {
    const files = [f(0, 'a'), f(1, 'b'), f(2, 'c'), f(3, 'b'), f(4, 'x', 'S2')];
    const plan = planUpload(files, new Map([['S1', new Set(['a'])]]));
    expect(plan.toSend.map((x) => x.sopInstanceUid)).toEqual(['b', 'c', 'x']);
    expect(plan.already.map((x) => x.index)).toEqual([0]);
    expect(plan.duplicates.map((x) => x.index)).toEqual([3]);
  });
  it('resuming after an interruption sends exactly the rest', () => {
    const files = Array.from({ length: 30 }, (_, i) => f(i, `sop${i}`));
    const storedBefore = new Set(files.slice(0, 20).map((x) => x.sopInstanceUid));
    const plan = planUpload(files, new Map([['S1', storedBefore]]));
    expect(plan.toSend.map((x) => x.index)).toEqual(Array.from({ length: 10 }, (_, i) => 20 + i));
  });
  it('batches by count and bytes; a large file goes alone', () => {
    const sizes = [10, 10, 10, 100, 10];
    const b = batches(
      sizes.map((size) => ({ size })),
      2,
      50,
    );
    expect(b.map((x) => x.map((y) => y.size))).toEqual([[10, 10], [10], [100], [10]]);
    expect(batches([], 10, 10)).toEqual([]);
  });
  it.each([
    [0xc000, 'upload.reason.C000'],
    [0xa900, 'upload.reason.A900'],
    [0x0111, 'upload.reason.0111'],
    [0x0124, 'upload.reason.0124'],
    [0xa7ff, 'upload.reason.A700'],
    [0xc0ff, 'upload.reason.C000'],
    [0x0199, 'upload.reason.unknown'],
    [null, 'upload.reason.unknown'],
  ])('FailureReason %s → %s', (code, key) => {
    expect(reasonKey(code)).toBe(key);
  });
});

describe('DICOM JSON and STOW-RS answers', () => {
  it('reads stored, failed (with reason and comment) and warnings', () => {
    const body = {
      '00081199': {
        vr: 'SQ',
        Value: [
          { '00081155': { vr: 'UI', Value: ['1.1'] } },
          { '00081155': { vr: 'UI', Value: ['1.2'] }, '00081196': { vr: 'US', Value: [0xb000] } },
        ],
      },
      '00081198': {
        vr: 'SQ',
        Value: [
          {
            '00081155': { vr: 'UI', Value: ['1.3'] },
            '00081197': { vr: 'US', Value: [0xa900] },
            '00000902': { vr: 'LO', Value: ['pixel data too short'] },
          },
          { '00081155': { vr: 'UI' }, '00081197': { vr: 'US', Value: [0xc000] } },
        ],
      },
    };
    expect(parseStowResponse(body)).toEqual({
      stored: ['1.1', '1.2'],
      warnings: [{ sopInstanceUid: '1.2', warning: 0xb000 }],
      failed: [
        { sopInstanceUid: '1.3', reason: 0xa900, comment: 'pixel data too short' },
        { sopInstanceUid: null, reason: 0xc000, comment: null },
      ],
    });
    expect(parseStowResponse({})).toEqual({ stored: [], failed: [], warnings: [] });
  });
  it('person names: family name first, components joined, NFC', () => {
    expect(personName('Nguyễn^Thị Minh Khai')).toBe('Nguyễn Thị Minh Khai');
    expect(personName('Nguye\u0302\u0303n^Thi\u0323')).toBe('Nguyễn Thị');
    expect(personName(null)).toBe('');
  });
  it('study query: fuzzy name as typed, date range, modality', () => {
    expect(
      studyQuery({ patientName: ' nguyen thi ', from: '2026-01-02', to: '2026-03-04', modality: 'CT' }),
    ).toMatchObject({
      PatientName: 'nguyen thi',
      fuzzymatching: 'true',
      StudyDate: '20260102-20260304',
      ModalitiesInStudy: 'CT',
    });
    expect(studyQuery({ from: '2026-01-02', to: '2026-01-02' }).StudyDate).toBe('20260102');
    expect(studyQuery({ to: '2026-01-02' }).StudyDate).toBe('-20260102');
    expect(studyQuery({}).PatientName).toBeUndefined();
  });
  it('multipart part ends locate each file in the body', () => {
    const b = 'B';
    const header = `--${b}\r\nContent-Type: application/dicom\r\n\r\n`.length;
    expect(partEnds([5, 7], b)).toEqual([header + 5, header + 5 + 2 + header + 7]);
  });
});

describe('DICOM identifiers read from the file header', () => {
  it('reads study, series and SOP instance UIDs of a real Part 10 file, also from a truncated head', async () => {
    const t = tinyDicom({ patientName: 'Nguyễn^Văn A' });
    const r = idsFromBytes(new Uint8Array(t.bytes));
    expect(r).toMatchObject({
      ok: true,
      ids: { studyUid: t.studyUid, seriesUid: t.seriesUid, sopInstanceUid: t.sopInstanceUid },
    });
    // The header ends before the pixel data: the first 1 KiB suffices for a tiny file's identifiers.
    const head = idsFromBytes(new Uint8Array(t.bytes.subarray(0, Math.min(t.bytes.length, 1024))));
    expect(head === 'need-more' || (head.ok && head.ids.sopInstanceUid === t.sopInstanceUid)).toBe(true);
    expect(await readIds(new Blob([new Uint8Array(t.bytes)]))).toEqual(r);
  });
  it('refuses what is not DICOM Part 10', async () => {
    expect(idsFromBytes(new TextEncoder().encode('hello, not dicom'))).toEqual({
      ok: false,
      why: 'not-dicom',
    });
    expect(await readIds(new Blob([new Uint8Array(300)]))).toEqual({ ok: false, why: 'not-dicom' });
  });
});

describe('waiting time against the turnaround target', () => {
  const created = '2026-11-24T08:00:00Z';
  const due = '2026-11-24T09:00:00Z'; // STAT: 60 min
  const at = (iso: string) => Date.parse(iso);
  it.each([
    ['2026-11-24T08:10:00Z', 'ok', 50],
    ['2026-11-24T08:50:00Z', 'soon', 10],
    ['2026-11-24T09:30:00Z', 'breached', -30],
  ])('at %s: %s', (now, urgency, left) => {
    const r = turnaround(created, due, at(now));
    expect(r.urgency).toBe(urgency);
    expect(Math.round(r.leftMinutes)).toBe(left);
  });
  it.each([
    [0, '0 min'],
    [59, '59 min'],
    [125, '2 h 05 min'],
    [60 * 50, '2 d 2 h'],
  ])('%d min → %s', (m, s) => {
    expect(duration(m)).toBe(s);
  });
});

describe('draft autosave', () => {
  const report = (version: number): Report =>
    ({ id: 'r1', version, freeText: '', fields: {}, status: 'draft' }) as unknown as Report;
  const body = { templateId: 'ct-abdomen', language: 'vi' as const, fields: {}, freeText: 'x' };

  function harness(save: (b: { version?: number }) => Promise<Report>) {
    const states: SaveState[] = [];
    const versions: (number | undefined)[] = [];
    const a = new DraftAutosave(
      {
        save: (b) => {
          versions.push(b.version);
          return save(b);
        },
        onSaved: () => {},
        onState: (s) => states.push(s),
        delayMs: 5,
      },
      3,
    );
    return { a, states, versions };
  }

  it('saves after the quiet period with the version last read, then carries the new version', async () => {
    let v = 3;
    const h = harness(async () => report(++v));
    h.a.edit(body);
    h.a.edit({ ...body, freeText: 'xy' });
    await new Promise((r) => setTimeout(r, 30));
    h.a.edit({ ...body, freeText: 'xyz' });
    await h.a.flush();
    expect(h.versions).toEqual([3, 4]);
    expect(h.states.at(-1)).toBe('saved');
  });

  it('a 409 stops autosaving until the person chooses; keeping mine saves over the newer version', async () => {
    let fail = true;
    const h = harness(async (b) => {
      if (fail) throw new ApiError(409, 'RADLINK_CONFLICT', 'The draft was saved elsewhere');
      return report((b.version ?? 0) + 1);
    });
    h.a.edit(body);
    await expect(h.a.flush()).rejects.toBeInstanceOf(ApiError);
    expect(h.a.current).toBe('conflict');
    h.a.edit({ ...body, freeText: 'more' });
    await new Promise((r) => setTimeout(r, 30));
    expect(h.versions).toEqual([3]); // nothing re-sent while in conflict
    fail = false;
    const saved = await h.a.overwrite(7);
    expect(h.versions).toEqual([3, 7]);
    expect(saved?.version).toBe(8);
    expect(h.a.current).toBe('saved');
  });

  it('taking the saved version drops my pending edit', async () => {
    const h = harness(async () => {
      throw new ApiError(409, 'RADLINK_CONFLICT', 'stale');
    });
    h.a.edit(body);
    await h.a.flush().catch(() => {});
    h.a.discard(9);
    expect(h.a.current).toBe('clean');
    expect(await h.a.flush()).toBeNull();
    expect(h.versions).toEqual([3]);
  });

  it('other errors keep the text pending and report an error', async () => {
    const h = harness(async () => {
      throw new ApiError(500, 'RADLINK_INTERNAL', 'boom');
    });
    h.a.edit(body);
    await h.a.flush().catch(() => {});
    expect(h.a.current).toBe('error');
  });
});

describe('report template choice', () => {
  const tpl = (id: string, modalities: string[], region: string) =>
    ({ id, modalities, region, title: { vi: id, en: id }, fields: [] }) as ReportTemplate;
  const all = [
    tpl('ct-head', ['CT'], 'head'),
    tpl('ct-chest', ['CT'], 'chest'),
    tpl('mr-brain', ['MR'], 'head'),
    tpl('cr-chest', ['CR', 'DX'], 'chest'),
    tpl('generic', [], 'any'),
  ];
  it.each([
    ['CT', 'CT ổ bụng có tiêm thuốc cản quang', 'abdomen', 'generic'],
    ['CT', 'CT sọ não không tiêm', 'head', 'ct-head'],
    ['CT', 'CT lồng ngực liều thấp', 'chest', 'ct-chest'],
    ['MR', 'MRI sọ não', 'head', 'mr-brain'],
    ['DX', 'X-quang ngực thẳng', 'chest', 'cr-chest'],
    ['CT', 'Thorax CT', 'chest', 'ct-chest'],
    ['CT', null, null, 'ct-head'],
  ])('%s "%s" → region %s → %s', (modality, description, region, first) => {
    expect(regionOf(description)).toBe(region);
    expect(rankTemplates(all, [modality], description)[0]?.id).toBe(first);
  });
  it('"gan" (liver) matches as a word, not inside another word', () => {
    expect(regionOf('Siêu âm gan mật')).toBe('abdomen');
    expect(regionOf('Organ scan')).toBeNull();
  });
});

describe('viewer measurements into the report', () => {
  const base = { seriesUid: '1.2.3', sopInstanceUid: '1.2.3.4', unit: 'mm' };
  it('keeps finite statistics only and cuts long labels', () => {
    expect(
      toMeasurementInput({
        ...base,
        kind: 'ellipse',
        value: 31.4,
        unit: 'mm²',
        label: 'x'.repeat(200),
        stats: { mean: 54.2, sd: Number.NaN, areaMm2: 314 },
      }),
    ).toEqual({
      ...base,
      kind: 'ellipse',
      value: 31.4,
      unit: 'mm²',
      label: 'x'.repeat(120),
      stats: { mean: 54.2, areaMm2: 314 },
    });
    expect(toMeasurementInput({ ...base, kind: 'length', value: 12, stats: { sd: Number.NaN } })).toEqual({
      ...base,
      kind: 'length',
      value: 12,
    });
  });
  it('an unfinished measurement (NaN) is not offered; the key recognises an inserted one', () => {
    expect(isInsertable({ ...base, kind: 'length', value: Number.NaN })).toBe(false);
    expect(isInsertable({ ...base, kind: 'length', value: 10.5 })).toBe(true);
    expect(isInsertable({ ...base, kind: 'probe', value: 40, unit: '' })).toBe(false);
    expect(measurementKey({ ...base, kind: 'length', value: 10.5 })).toBe(
      measurementKey({ ...base, kind: 'length', value: 10.5000001 }),
    );
  });
});
