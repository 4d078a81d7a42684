/** The index's DICOM JSON helpers: level split, NFC, time/date normalisation, Orthanc ids. */
import { describe, expect, it } from 'vitest';
import { parseOrthancDate } from '../../server/src/index/change-feed.js';
import {
  levelOfTag,
  normaliseDate,
  normaliseDicomJson,
  normaliseTime,
  splitByLevel,
  str,
} from '../../server/src/index/dicom-json.js';
import { nameWords, orthancIdsOf } from '../../server/src/index/indexer.js';

describe('normaliseTime', () => {
  it.each([
    ['101530', '101530.000000'],
    ['1015', '101500.000000'],
    ['10', '100000.000000'],
    ['101530.5', '101530.500000'],
    ['10:15:30', '101530.000000'],
    [' 235959.999999 ', '235959.999999'],
    ['25x', null],
    ['', null],
    [null, null],
  ])('%s → %s', (input, expected) => expect(normaliseTime(input)).toBe(expected));
});

describe('normaliseDate', () => {
  it.each([
    ['20240115', '20240115'],
    ['2024.01.15', '20240115'],
    ['2024', null],
    [null, null],
  ])('%s → %s', (input, expected) => expect(normaliseDate(input)).toBe(expected));
});

describe('DICOM JSON normalisation', () => {
  it('stores text in NFC, drops bulk data, splits by level', () => {
    const ds = normaliseDicomJson({
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Đặng^Văn Lâm'.normalize('NFD') }] },
      '00080060': { vr: 'CS', Value: ['CT'] },
      '00280010': { vr: 'US', Value: [512] },
      '7fe00010': { vr: 'OW', BulkDataURI: 'http://x/bulk' },
    });
    expect(str(ds, '00100010')).toBe('Đặng^Văn Lâm'.normalize('NFC'));
    expect(ds['7FE00010']).toBeUndefined();
    const parts = splitByLevel(ds);
    expect(Object.keys(parts.study)).toEqual(['00100010']);
    expect(Object.keys(parts.series)).toEqual(['00080060']);
    expect(Object.keys(parts.instance)).toEqual(['00280010']);
    expect(levelOfTag('0020000D')).toBe('study');
  });
});

describe('helpers', () => {
  it('computes Orthanc ids as Orthanc does (SHA-1 of the UIDs)', () => {
    // Values observed from Orthanc 1.10 for an instance stored in the test stack.
    expect(
      orthancIdsOf(
        'PID-7eeee18c',
        '2.25.31945189784062656391306128580187118988',
        '2.25.20401457207367987286229681898088830867',
      ),
    ).toEqual({
      study: '77771436-ac0fee13-ca7a85a6-9526025a-7d9dc0cb',
      series: '0f5b6eae-f9ed4d04-6032c36b-8f86e67f-3982659e',
    });
  });

  it('splits folded names into unique words', () => {
    expect(nameWords('nguyen thi thi khai')).toEqual(['nguyen', 'thi', 'khai']);
    expect(nameWords(null)).toEqual([]);
  });

  it('parses Orthanc change dates as local time', () => {
    expect(parseOrthancDate('20261124T055131')).toBe(new Date(2026, 10, 24, 5, 51, 31).getTime());
    expect(parseOrthancDate('bogus')).toBeNull();
  });
});
