import { describe, expect, it } from 'vitest';
import {
  lookupQidoAttribute,
  parseDate,
  parseQidoQuery,
  parseTime,
  type QidoCondition,
  type QidoLevel,
  QidoQueryError,
  wildcardToLike,
} from '../../server/src/dicomweb/qido-query.js';

type Params = Record<string, string | string[]>;
/** Omit distributed over the union members. */
type DistOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function conditionsOf(level: QidoLevel, params: Params): QidoCondition[] {
  return parseQidoQuery(level, params).conditions;
}

function problemsOf(level: QidoLevel, params: Params, options = {}): string[] {
  try {
    parseQidoQuery(level, params, options);
  } catch (err) {
    expect(err).toBeInstanceOf(QidoQueryError);
    const e = err as QidoQueryError;
    expect(e.status).toBe(400);
    return e.problems.map((p) => `${p.key}: ${p.message}`);
  }
  throw new Error('expected a QidoQueryError');
}

describe('defaults and paging', () => {
  it.each([
    ['study', 100],
    ['series', 500],
    ['instance', 1000],
  ] as const)('%s default limit %d', (level, limit) => {
    const q = parseQidoQuery(level, {});
    expect(q).toEqual({
      level,
      conditions: [],
      limit,
      offset: 0,
      limitCapped: false,
      includeFields: [],
      fuzzy: false,
    });
  });

  it.each([
    [{ limit: '25', offset: '50' }, 25, 50, false],
    [{ limit: '1000' }, 1000, 0, false],
    [{ limit: '1001' }, 1000, 0, true],
    [{ limit: '999999999' }, 1000, 0, true],
    [{ offset: '0' }, 100, 0, false],
  ])('%j → limit %d offset %d capped %s', (params, limit, offset, capped) => {
    const q = parseQidoQuery('study', params);
    expect([q.limit, q.offset, q.limitCapped]).toEqual([limit, offset, capped]);
  });

  it('honours options', () => {
    const q = parseQidoQuery('study', { limit: '60' }, { maxLimit: 50, defaultLimit: 10 });
    expect([q.limit, q.limitCapped]).toEqual([50, true]);
    expect(parseQidoQuery('study', {}, { maxLimit: 50, defaultLimit: 10 }).limit).toBe(10);
  });

  it.each([
    [{ limit: '-1' }, 'limit: must be a non-negative integer'],
    [{ limit: '0' }, 'limit: must be at least 1'],
    [{ limit: '1e3' }, 'limit: must be a non-negative integer'],
    [{ limit: ' 5' }, 'limit: must be a non-negative integer'],
    [{ limit: '' }, 'limit: must be a non-negative integer'],
    [{ limit: ['5', '6'] }, 'limit: given more than once'],
    [{ offset: '1.5' }, 'offset: must be a non-negative integer'],
    [{ offset: '2000000' }, 'offset: must not exceed 1000000'],
    [{ fuzzymatching: 'yes' }, 'fuzzymatching: must be true or false'],
  ])('%j rejected', (params, message) => {
    expect(problemsOf('study', params)).toEqual([message]);
  });
});

describe('includefield', () => {
  it.each([
    [{ includefield: 'all' }, 'all'],
    [{ includefield: ['00081030', 'StudyDescription'] }, ['00081030']],
    [{ includefield: '00081030,00080060, 0020000d' }, ['00081030', '00080060', '0020000D']],
    [{ includefield: ['NumberOfStudyRelatedInstances', 'PatientName'] }, ['00201208', '00100010']],
    [{ includefield: ['00081030', 'all'] }, 'all'],
    [{ includefield: '7FE00010' }, ['7FE00010']],
  ])('%j → %j', (params, expected) => {
    expect(parseQidoQuery('study', params).includeFields).toEqual(expected);
  });

  it('rejects unknown keywords and malformed tags', () => {
    expect(problemsOf('study', { includefield: 'PatientNmae,0010001' })).toEqual([
      'includefield: unknown attribute',
      'includefield: unknown attribute',
    ]);
  });
});

describe('keys', () => {
  it('accepts keywords and 8-hex tags (any case) for the same attribute', () => {
    for (const key of ['PatientID', '00100020']) {
      expect(conditionsOf('study', { [key]: 'BN123' })).toEqual([
        { attribute: 'PatientID', tag: '00100020', entity: 'patient', kind: 'exact', values: ['BN123'] },
      ]);
    }
    expect(lookupQidoAttribute('0020000d')?.keyword).toBe('StudyInstanceUID');
    expect(lookupQidoAttribute('patientid')).toBeUndefined();
  });

  it.each([
    ['study', { Modality: 'CT' }, 'Modality: not a matching key for study queries'],
    ['study', { SOPInstanceUID: '1.2.3' }, 'SOPInstanceUID: not a matching key for study queries'],
    ['series', { InstanceNumber: '1' }, 'InstanceNumber: not a matching key for series queries'],
    ['study', { PatientNmae: 'x' }, 'PatientNmae: unknown or unsupported query key'],
    ['study', { '00091001': 'x' }, '00091001: unknown or unsupported query key'],
    ['study', { '00400275.00401001': 'x' }, '00400275.00401001: nested (sequence) matching is not supported'],
    ['study', { PatientID: ['a', 'b'] }, 'PatientID: matching key given more than once'],
    ['study', { PatientID: 'a', '00100020': 'b' }, '00100020: matching key given more than once'],
  ] as const)('%s %j rejected', (level, params, message) => {
    expect(problemsOf(level, params as Params)).toEqual([message]);
  });

  it('accepts higher-level attributes at lower levels', () => {
    const c = conditionsOf('instance', {
      PatientID: 'P1',
      Modality: 'MR',
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.4',
    });
    expect(c.map((x) => [x.attribute, x.entity])).toEqual([
      ['PatientID', 'patient'],
      ['Modality', 'series'],
      ['SOPClassUID', 'instance'],
    ]);
  });

  it('collects every problem and never echoes values', () => {
    const secret = 'Nguyễn Văn Bí Mật';
    let caught: QidoQueryError | undefined;
    try {
      parseQidoQuery('study', { StudyDate: secret, limit: 'x', Bogus: secret, PatientBirthDate: '19991399' });
    } catch (e) {
      caught = e as QidoQueryError;
    }
    expect(caught).toBeInstanceOf(QidoQueryError);
    expect(caught!.problems.map((p) => p.key).sort()).toEqual([
      'Bogus',
      'PatientBirthDate',
      'StudyDate',
      'limit',
    ]);
    expect(caught!.reason).not.toContain('Văn');
    expect(caught!.reason).not.toContain('1399');
    expect(caught!.message).not.toContain('Bí');
  });

  it('sanitises and truncates hostile keys in the reason', () => {
    const [p] = problemsOf('study', { ['\u0000\r\nX-Injected: 1' + 'a'.repeat(100)]: 'v' });
    expect(p).not.toMatch(/[\r\n\u0000]/);
    expect(p!.split(':')[0]!.length).toBeLessThanOrEqual(64);
  });

  it('ignores content-negotiation keys by default and others on request', () => {
    expect(conditionsOf('study', { accept: 'application/dicom+json', charset: 'utf-8' })).toEqual([]);
    expect(problemsOf('study', { _: '123' })).toEqual(['_: unknown or unsupported query key']);
    expect(parseQidoQuery('study', { _: '123' }, { ignoredKeys: ['_'] }).conditions).toEqual([]);
  });
});

describe('matching kinds', () => {
  const cases: Array<
    [string, QidoLevel, Params, DistOmit<QidoCondition, 'attribute' | 'tag' | 'entity'> | null]
  > = [
    // UID list matching
    ['single UID', 'study', { StudyInstanceUID: '1.2.3' }, { kind: 'uid-list', uids: ['1.2.3'] }],
    [
      'comma list',
      'study',
      { StudyInstanceUID: '1.2.3,1.2.4' },
      { kind: 'uid-list', uids: ['1.2.3', '1.2.4'] },
    ],
    [
      'backslash list, dedup',
      'study',
      { StudyInstanceUID: '1.2.3\\1.2.4\\1.2.3' },
      { kind: 'uid-list', uids: ['1.2.3', '1.2.4'] },
    ],
    // Dates (PS3.4 C.2.2.2.5)
    [
      'single date',
      'study',
      { StudyDate: '20240229' },
      { kind: 'date-range', from: '20240229', to: '20240229' },
    ],
    [
      'closed range',
      'study',
      { StudyDate: '20240101-20240131' },
      { kind: 'date-range', from: '20240101', to: '20240131' },
    ],
    ['open start', 'study', { StudyDate: '-20240131' }, { kind: 'date-range', to: '20240131' }],
    ['open end', 'study', { StudyDate: '20240101-' }, { kind: 'date-range', from: '20240101' }],
    [
      'birth date',
      'study',
      { PatientBirthDate: '19500101-19601231' },
      { kind: 'date-range', from: '19500101', to: '19601231' },
    ],
    // Times
    [
      'time range',
      'study',
      { StudyTime: '080000-120000' },
      { kind: 'time-range', from: '080000.000000', to: '120000.999999' },
    ],
    [
      'partial single time',
      'study',
      { StudyTime: '10' },
      { kind: 'time-range', from: '100000.000000', to: '105959.999999' },
    ],
    [
      'partial range',
      'study',
      { StudyTime: '0830-09' },
      { kind: 'time-range', from: '083000.000000', to: '095959.999999' },
    ],
    ['fraction', 'study', { StudyTime: '-101500.5' }, { kind: 'time-range', to: '101500.599999' }],
    // Strings
    ['exact', 'study', { AccessionNumber: 'ACC-1' }, { kind: 'exact', values: ['ACC-1'] }],
    ['wildcard', 'study', { AccessionNumber: 'ACC*' }, { kind: 'like', pattern: 'ACC%' }],
    ['? and escapes', 'study', { StudyDescription: 'CT 50%_?*' }, { kind: 'like', pattern: 'CT 50\\%\\__%' }],
    [
      'LO with comma not split',
      'study',
      { StudyDescription: 'Chest, PA' },
      { kind: 'exact', values: ['Chest, PA'] },
    ],
    ['CS list', 'study', { ModalitiesInStudy: 'CT,MR' }, { kind: 'exact', values: ['CT', 'MR'] }],
    ['CS backslash list', 'series', { Modality: 'CT\\PT' }, { kind: 'exact', values: ['CT', 'PT'] }],
    ['CS wildcard', 'series', { BodyPartExamined: 'HEAD*' }, { kind: 'like', pattern: 'HEAD%' }],
    [
      'NFD value is normalised',
      'study',
      { StudyDescription: 'Chụp sọ'.normalize('NFD') },
      { kind: 'exact', values: ['Chụp sọ'] },
    ],
    // Integers
    ['IS', 'series', { SeriesNumber: '007' }, { kind: 'integer', value: 7 }],
    ['IS negative', 'instance', { InstanceNumber: '-3' }, { kind: 'integer', value: -3 }],
    // Universal matching → no condition
    ['empty value', 'study', { PatientName: '' }, null],
    ['only *', 'study', { AccessionNumber: '*' }, null],
  ];

  it.each(cases)('%s', (_name, level, params, expected) => {
    const c = conditionsOf(level, params);
    if (expected === null) expect(c).toEqual([]);
    else {
      expect(c).toHaveLength(1);
      const { attribute: _a, tag: _t, entity: _e, ...rest } = c[0]!;
      expect(rest).toEqual(expected);
    }
  });

  it('universal matching adds the attribute to includeFields', () => {
    expect(parseQidoQuery('study', { PatientName: '', AccessionNumber: '*' }).includeFields).toEqual([
      '00100010',
      '00080050',
    ]);
  });

  it.each([
    ['StudyInstanceUID', '1.2.*', 'StudyInstanceUID: not a valid UID or UID list'],
    ['StudyInstanceUID', '1.2.3,', 'StudyInstanceUID: not a valid UID or UID list'],
    ['StudyInstanceUID', '1.02.3', 'StudyInstanceUID: not a valid UID or UID list'],
    ['StudyInstanceUID', "1.2.3'--", 'StudyInstanceUID: not a valid UID or UID list'],
    ['StudyDate', '20240230', 'StudyDate: not a valid date (YYYYMMDD)'],
    ['StudyDate', '20230229', 'StudyDate: not a valid date (YYYYMMDD)'],
    ['StudyDate', '2024-01-01', 'StudyDate: malformed range'],
    ['StudyDate', '2024.01.01', 'StudyDate: not a valid date (YYYYMMDD)'],
    ['StudyDate', '20240131-20240101', 'StudyDate: range start is after its end'],
    ['StudyDate', '-', 'StudyDate: malformed range'],
    ['StudyDate', '2024*', 'StudyDate: not a valid date (YYYYMMDD)'],
    ['StudyTime', '24', 'StudyTime: not a valid time (HHMMSS.FFFFFF)'],
    ['StudyTime', '10:30', 'StudyTime: not a valid time (HHMMSS.FFFFFF)'],
    ['StudyTime', '1030.5', 'StudyTime: not a valid time (HHMMSS.FFFFFF)'],
    ['StudyTime', '120000-080000', 'StudyTime: range start is after its end'],
    ['SeriesNumber', '1.5', 'SeriesNumber: must be an integer'],
    ['SeriesNumber', '1*', 'SeriesNumber: must be an integer'],
    ['AccessionNumber', 'A'.repeat(17), 'AccessionNumber: empty or too long value'],
    ['ModalitiesInStudy', 'CT,', 'ModalitiesInStudy: empty or too long value'],
    ['ModalitiesInStudy', 'C*,MR', 'ModalitiesInStudy: wildcards cannot be combined with a value list'],
  ])('%s=%j rejected', (key, value, message) => {
    const level: QidoLevel = key === 'SeriesNumber' ? 'series' : 'study';
    expect(problemsOf(level, { [key]: value })).toEqual([message]);
  });
});

describe('person names', () => {
  it('non-fuzzy wildcard and fuzzy word prefixes (order of keys irrelevant)', () => {
    expect(conditionsOf('study', { PatientName: 'nguyen thi*' })).toEqual([
      {
        attribute: 'PatientName',
        tag: '00100010',
        entity: 'patient',
        kind: 'person-name',
        value: 'nguyen thi*',
        matcher: { kind: 'like', pattern: 'nguyen thi%' },
      },
    ]);
    for (const params of [
      { PatientName: 'Nguyễn^Thị', fuzzymatching: 'true' },
      { fuzzymatching: 'true', PatientName: 'Nguyễn^Thị' },
    ]) {
      const q = parseQidoQuery('study', params);
      expect(q.fuzzy).toBe(true);
      expect(q.conditions[0]).toMatchObject({
        kind: 'person-name',
        matcher: { kind: 'word-prefixes', prefixes: ['nguyen', 'thi'] },
      });
    }
  });

  it('decoded percent-encoded Vietnamese arrives as Unicode and is NFC-normalised', () => {
    const decoded = decodeURIComponent('Nguy%E1%BB%85n%5ETh%E1%BB%8B');
    const c = conditionsOf('study', { '00100010': decoded.normalize('NFD') });
    expect(c[0]).toMatchObject({
      kind: 'person-name',
      value: 'Nguyễn^Thị',
      matcher: { kind: 'exact', value: 'nguyen thi' },
    });
  });

  it('ReferringPhysicianName is a person name too', () => {
    expect(conditionsOf('study', { ReferringPhysicianName: 'Đặng*' })[0]).toMatchObject({
      kind: 'person-name',
      matcher: { kind: 'like', pattern: 'dang%' },
    });
  });

  it('rejects absurdly long names', () => {
    expect(problemsOf('study', { PatientName: 'a'.repeat(400) })).toEqual(['PatientName: value too long']);
  });
});

describe('path UIDs', () => {
  it('adds study and series UID conditions', () => {
    const q = parseQidoQuery(
      'instance',
      { SOPInstanceUID: '1.2.3.4' },
      { studyInstanceUid: '1.2', seriesInstanceUid: '1.2.3' },
    );
    expect(q.conditions.map((c) => [c.attribute, c.kind === 'uid-list' ? c.uids : null])).toEqual([
      ['SOPInstanceUID', ['1.2.3.4']],
      ['StudyInstanceUID', ['1.2']],
      ['SeriesInstanceUID', ['1.2.3']],
    ]);
  });

  it('rejects unsafe path UIDs', () => {
    expect(problemsOf('series', {}, { studyInstanceUid: '../1.2' })).toEqual([
      'StudyInstanceUID: path UID is not a valid UID',
    ]);
  });
});

describe('helpers', () => {
  it.each([
    ['20240229', '20240229'],
    ['20230229', undefined],
    ['20241301', undefined],
    ['20240100', undefined],
    ['19000228', '19000228'],
    ['2024011', undefined],
  ])('parseDate(%j) = %j', (s, expected) => {
    expect(parseDate(s)).toBe(expected);
  });

  it.each([
    ['23', 'low', '230000.000000'],
    ['23', 'high', '235959.999999'],
    ['235960', 'low', '235960.000000'],
    ['1230', 'high', '123059.999999'],
    ['123045.123456', 'high', '123045.123456'],
    ['123045.1234567', 'low', undefined],
    ['1261', 'low', undefined],
    ['1', 'low', undefined],
  ] as const)('parseTime(%j, %s) = %j', (s, bound, expected) => {
    expect(parseTime(s, bound)).toBe(expected);
  });

  it.each([
    ['abc', 'abc'],
    ['a*b?c', 'a%b_c'],
    ['100%', '100\\%'],
    ['a_b*', 'a\\_b%'],
    ['c:\\x*', 'c:\\\\x%'],
  ])('wildcardToLike(%j) = %j', (s, expected) => {
    expect(wildcardToLike(s)).toBe(expected);
  });
});
