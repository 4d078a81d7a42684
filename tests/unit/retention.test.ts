/** Retention periods (table-driven): which period applies to a study, and the cut-off date. */
import { describe, expect, it } from 'vitest';
import { cutoffDate, keepYearsFor, type RetentionPolicy } from '../../server/src/ops/retention.js';

const policy = (p: Partial<RetentionPolicy>): RetentionPolicy => ({
  facilityId: 'f',
  defaultYears: null,
  modalityYears: {},
  archiveCopy: 'keep',
  ...p,
});

describe('keepYearsFor', () => {
  it.each([
    ['overall only', { defaultYears: 10 }, ['CT'], 10],
    ['modality override', { defaultYears: 10, modalityYears: { CT: 5 } }, ['CT'], 5],
    [
      'the longest of several modalities',
      { defaultYears: 10, modalityYears: { CT: 5, US: 3 } },
      ['CT', 'US'],
      5,
    ],
    [
      'a modality without override falls back to overall',
      { defaultYears: 10, modalityYears: { CT: 5 } },
      ['CT', 'MR'],
      10,
    ],
    ['no overall period and no override: kept forever', { modalityYears: { CT: 5 } }, ['MR'], null],
    ['one modality kept forever keeps the study', { modalityYears: { CT: 5 } }, ['CT', 'MR'], null],
    ['no modality recorded: overall', { defaultYears: 7 }, [], 7],
    ['no modality and no overall: kept', { modalityYears: { CT: 5 } }, [], null],
    ['modality case does not matter', { modalityYears: { CT: 5 } }, ['ct'], 5],
  ] as const)('%s', (_name, p, modalities, want) => {
    expect(keepYearsFor(policy(p as Partial<RetentionPolicy>), modalities)).toBe(want);
  });
});

describe('cutoffDate', () => {
  it.each([
    [5, '2026-11-24T10:00:00Z', '20211124'],
    [1, '2024-02-29T00:00:00Z', '20230301'], // 29 Feb minus a year rolls to 1 March
    [20, '2026-01-01T23:59:59Z', '20060101'],
  ])('%i years before %s is %s', (years, today, want) => {
    expect(cutoffDate(years, new Date(today))).toBe(want);
  });
});
