/** Demo patients, facilities, log-forbidden identifiers and the demo catalogue. */
import { describe, expect, it } from 'vitest';
import {
  DEMO_FACILITIES,
  DEMO_PATIENTS,
  demoIdentifiers,
  findFacility,
  foldDiacritics,
} from '../../scripts/demo/patients.js';
import { demoCatalogue } from '../../scripts/demo/synth/catalogue.js';

describe('demo patients', () => {
  it('are well-formed Vietnamese PN values with all identifiers and issuers', () => {
    expect(DEMO_PATIENTS.length).toBeGreaterThanOrEqual(8);
    const ids = new Set<string>();
    for (const p of DEMO_PATIENTS) {
      expect(p.name).toBe(p.name.normalize('NFC'));
      expect(p.name).toMatch(/^[^^]+\^[^^]+$/); // family^given
      expect(p.bhxh).toMatch(/^\d{10}$/);
      expect(p.cccd).toMatch(/^\d{12}$/);
      expect(p.cccd.slice(4, 6)).toBe(p.birthDate.slice(2, 4));
      expect(p.birthDate).toMatch(/^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$/);
      expect(['M', 'F']).toContain(p.sex);
      expect(findFacility(p.facilityId).patientIdIssuer).toBe(p.issuerOfPatientId);
      for (const id of [p.patientId, p.bhxh, p.cccd]) {
        expect(ids.has(id)).toBe(false);
        ids.add(id);
      }
    }
    expect(DEMO_PATIENTS.some((p) => p.name.startsWith('Đ'))).toBe(true);
  });

  it('facilities cover the four tiers with valid AE titles', () => {
    expect(new Set(DEMO_FACILITIES.map((f) => f.tier))).toEqual(
      new Set(['central', 'provincial', 'district', 'commune']),
    );
    for (const f of DEMO_FACILITIES) expect(f.aeTitle).toMatch(/^[A-Z0-9_]{1,16}$/);
    expect(findFacility('ttyt-huyen-demo').aeTitle).toBe('HUYEN_CT');
    expect(findFacility('bv-trung-uong').name).toBe('Bệnh viện Trung ương Demo');
  });

  it('folds diacritics including đ/Đ', () => {
    expect(foldDiacritics('Đặng^Văn Hùng')).toBe('Dang^Van Hung');
    expect(foldDiacritics('Trương^Thị Thu Hường')).toBe('Truong^Thi Thu Huong');
    expect(foldDiacritics('Nguyễn'.normalize('NFD'))).toBe('Nguyen');
    expect(foldDiacritics('đường')).toBe('duong');
  });

  it('demoIdentifiers lists every form a leak could take', () => {
    const ids = demoIdentifiers();
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of DEMO_PATIENTS) {
      expect(ids).toContain(p.name);
      expect(ids).toContain(p.name.normalize('NFD'));
      expect(ids).toContain(foldDiacritics(p.name));
      expect(ids).toContain(p.patientId);
      expect(ids).toContain(p.bhxh);
      expect(ids).toContain(p.cccd);
      expect(ids).toContain(p.birthDate);
      expect(ids).toContain(`${p.birthDate.slice(0, 4)}-${p.birthDate.slice(4, 6)}-${p.birthDate.slice(6)}`);
    }
    expect(ids).toContain('Dang^Van Hung');
    expect(ids).toContain('Đặng Văn Hùng');
    expect(ids).toContain('Dang Van Hung');
    // NFD really differs from NFC for names with diacritics.
    expect(ids).toContain('Đặng^Văn Hùng'.normalize('NFD'));
    expect('Đặng^Văn Hùng'.normalize('NFD')).not.toBe('Đặng^Văn Hùng');
    // No identifier so short that it would match innocent log text.
    for (const id of ids) expect(id.length).toBeGreaterThanOrEqual(8);
  });
});

describe('demo catalogue', () => {
  it('spreads studies over patients, facilities and dates with priors', () => {
    const cat = demoCatalogue();
    expect(cat.length).toBeGreaterThanOrEqual(6);
    expect(cat.length).toBeLessThanOrEqual(10);
    expect(new Set(cat.map((e) => e.options.seed)).size).toBe(cat.length);
    expect(new Set(cat.map((e) => e.name)).size).toBe(cat.length);
    expect(cat.some((e) => e.options.modality === 'MR')).toBe(true);
    expect(cat.some((e) => e.options.rows === 512)).toBe(true);
    const facilities = new Set(cat.map((e) => e.options.patient.facilityId));
    expect(facilities.size).toBeGreaterThanOrEqual(3);
    // One patient with two studies at the same facility, on different dates.
    const byPatient = new Map<string, string[]>();
    for (const e of cat)
      byPatient.set(e.patientKey, [...(byPatient.get(e.patientKey) ?? []), e.options.studyDate ?? '']);
    const withPrior = [...byPatient.values()].filter(
      (dates) => dates.length >= 2 && new Set(dates).size === dates.length,
    );
    expect(withPrior.length).toBeGreaterThanOrEqual(1);
  });
});
