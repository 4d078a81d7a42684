/**
 * Patient share links, pure parts: token and PIN generation, the birth year from the index,
 * what the patient's typed secret becomes before hashing, session credentials, link status, the
 * access-log wording, and the QR code and printable slip.
 */
import { createHash } from 'node:crypto';
import { PDFDict, PDFDocument, PDFName } from 'pdf-lib';
import QRCode from 'qrcode';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { scopeOf, studyScopeSql } from '../../server/src/access/study-access.js';
import { hashPassword, verifyPassword } from '../../server/src/identity/passwords.js';
import type { Principal } from '../../server/src/identity/principal.js';
import { actorKind, describeAction, roleText } from '../../server/src/share/access-log.js';
import { statusOf } from '../../server/src/share/links-repo.js';
import { sectionsOf } from '../../server/src/share/patient-view.js';
import {
  birthYearOf,
  isLinkToken,
  newLinkToken,
  newPin,
  newSessionSecret,
  parseSessionCredential,
  secretInput,
  sha256Hex,
} from '../../server/src/share/secrets.js';
import { qrCodes, SlipRenderer, vnDate } from '../../server/src/share/slip.js';

describe('link token', () => {
  it('is 256 random bits in base64url, never repeated', () => {
    const tokens = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const t = newLinkToken();
      expect(isLinkToken(t), t).toBe(true);
      expect(Buffer.from(t, 'base64url')).toHaveLength(32);
      tokens.add(t);
    }
    expect(tokens.size).toBe(2000);
  });

  it.each([
    ['', false],
    ['a'.repeat(42), false],
    ['a'.repeat(44), false],
    [`${'a'.repeat(42)}=`, false],
    [`${'a'.repeat(42)}/`, false],
    ['A-_'.repeat(14) + 'z', true],
  ])('isLinkToken(%j) = %s', (t, ok) => expect(isLinkToken(t)).toBe(ok));

  it('is stored as its SHA-256 only', () => {
    const t = newLinkToken();
    expect(sha256Hex(t)).toBe(createHash('sha256').update(t).digest('hex'));
    expect(sha256Hex(t)).not.toContain(t);
  });
});

describe('PIN', () => {
  it('has six digits, leading zeros kept, digits spread evenly', () => {
    const counts = new Array(10).fill(0) as number[];
    let leadingZero = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const pin = newPin();
      expect(pin).toMatch(/^\d{6}$/);
      counts[Number(pin[0])]!++;
      if (pin.startsWith('0')) leadingZero++;
    }
    expect(leadingZero).toBeGreaterThan(0);
    // Chi-square over the first digit, 9 degrees of freedom: 27.9 is p = 0.001.
    const expected = n / 10;
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(27.9);
  });

  it('is stored with scrypt: the hash does not contain it and only the right PIN verifies', async () => {
    const pin = '042731';
    const stored = await hashPassword(pin);
    expect(stored).toMatch(/^scrypt\$/);
    expect(stored).not.toContain(pin);
    expect(await verifyPassword(pin, stored)).toBe(true);
    expect(await verifyPassword('042732', stored)).toBe(false);
    expect(await verifyPassword('42731', stored)).toBe(false);
  });
});

describe('birth year from the index', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  it.each([
    ['19800101', 1980],
    ['1980.01.01', 1980],
    ['1980', 1980],
    [' 19451231 ', 1945],
    ['20260101', 2026],
    ['20270101', null],
    ['18790101', null],
    ['1980010', null],
    ['19800101x', null],
    ['', null],
    [null, null],
    [undefined, null],
  ])('%j → %s', (da, year) => expect(birthYearOf(da, now)).toBe(year));
});

describe('what the patient types', () => {
  it.each([
    ['pin', { pin: '123456' }, '123456'],
    ['pin', { pin: ' 123456 ' }, '123456'],
    ['pin', { pin: '12345' }, null],
    ['pin', { pin: '1234567' }, null],
    ['pin', { pin: '12a456' }, null],
    ['pin', { birthYear: 1980 }, null],
    ['pin', {}, null],
    ['birth-year', { birthYear: 1980 }, '1980'],
    ['birth-year', { birthYear: 80 }, null],
    ['birth-year', { birthYear: 19800 }, null],
    ['birth-year', { pin: '1980' }, null],
    ['birth-year', {}, null],
  ] as const)('%s %j → %j', (kind, given, out) => expect(secretInput(kind, given)).toBe(out));
});

describe('session credential', () => {
  it('round-trips as <uuid>.<secret>; only the secret hash is kept', () => {
    const { secret, hash } = newSessionSecret();
    expect(hash).toBe(sha256Hex(secret));
    const id = '0b7c2f4e-1d3a-4b5c-8d9e-0f1a2b3c4d5e';
    expect(parseSessionCredential(`${id}.${secret}`)).toEqual({ id, secretHash: hash });
  });
  it.each([
    'nodot',
    '0b7c2f4e-1d3a-4b5c-8d9e-0f1a2b3c4d5e.',
    '0b7c2f4e-1d3a-4b5c-8d9e-0f1a2b3c4d5e.short',
    `0B7C2F4E-1D3A-4B5C-8D9E-0F1A2B3C4D5E.${'a'.repeat(43)}`,
    `../etc.${'a'.repeat(43)}`,
  ])('refuses %j', (c) => expect(parseSessionCredential(c)).toBeNull());
});

describe('link status', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const later = new Date('2026-07-01T00:00:00Z');
  const earlier = new Date('2026-05-01T00:00:00Z');
  it.each([
    [{ revokedAt: null, expiresAt: later, lockedAt: null }, 'active'],
    [{ revokedAt: null, expiresAt: earlier, lockedAt: null }, 'expired'],
    [{ revokedAt: null, expiresAt: now, lockedAt: null }, 'expired'],
    [{ revokedAt: null, expiresAt: later, lockedAt: earlier }, 'locked'],
    [{ revokedAt: earlier, expiresAt: earlier, lockedAt: earlier }, 'revoked'],
    [{ revokedAt: null, expiresAt: earlier, lockedAt: earlier }, 'expired'],
  ])('%j → %s', (l, s) => expect(statusOf(l, now)).toBe(s));
});

describe('access-log wording', () => {
  it('names actions, most specific prefix first, with a fallback', () => {
    expect(describeAction('dicomweb.frames').en).toBe('Viewed images');
    expect(describeAction('dicomweb.stow').en).toBe('Stored images');
    expect(describeAction('reading.report.sign').vi).toBe('Ký số kết quả');
    expect(describeAction('reading.report.read').en).toBe('Viewed the report');
    expect(describeAction('share.link.create').en).toBe('Created a share link for you');
    expect(describeAction('share.open').en).toBe('Opened the share link');
    expect(describeAction('something.new').en).toBe('Accessed the study data');
  });
  it('tells the patient from staff and automatic services', () => {
    expect(actorKind('patient')).toBe('you');
    expect(actorKind('radiologist')).toBe('staff');
    expect(actorKind('service')).toBe('system');
    expect(actorKind(null)).toBe('unknown');
    expect(roleText('radiologist')?.vi).toBe('Bác sĩ chẩn đoán hình ảnh');
    expect(roleText(null)).toBeNull();
  });
});

describe('report sections for the patient', () => {
  it('lists filled template fields in template order, choice values by label, in the report language', () => {
    const r = {
      templateId: 'ct-head',
      language: 'vi' as const,
      fields: { impression: 'Xuất huyết nhu mô.', haemorrhage: 'yes' },
    };
    const { title, sections } = sectionsOf(r);
    expect(title.length).toBeGreaterThan(0);
    const labels = sections.map((s) => s.text);
    expect(labels).toContain('Xuất huyết nhu mô.');
    expect(labels).toContain('Có');
    expect(labels.indexOf('Có')).toBeLessThan(labels.indexOf('Xuất huyết nhu mô.'));
    expect(sectionsOf({ templateId: 'addendum', language: 'en', fields: {} })).toEqual({
      title: 'Report addendum',
      sections: [],
    });
  });
});

describe('QR code and slip', () => {
  const url = `https://radlink.example.vn/#/s/${newLinkToken()}`;

  it('the PNG is the QR code of the URL, module for module', async () => {
    const { png, svg } = await qrCodes(url);
    expect(svg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    const qr = QRCode.create(url, { errorCorrectionLevel: 'M' });
    const size = qr.modules.size;
    const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
    const margin = 2;
    const px = info.width / (size + 2 * margin);
    let mismatches = 0;
    for (let r = 0; r < size; r++)
      for (let c = 0; c < size; c++) {
        const x = Math.floor((c + margin + 0.5) * px);
        const y = Math.floor((r + margin + 0.5) * px);
        const dark = data[y * info.width + x]! < 128;
        if (dark !== Boolean(qr.modules.get(r, c))) mismatches++;
      }
    expect(mismatches).toBe(0);
  });

  it('renders a one-page A4 PDF with DejaVu embedded, with and without a printed PIN', async () => {
    const { png } = await qrCodes(url);
    const slips = new SlipRenderer();
    const base = {
      url,
      facilityName: 'Trung tâm Y tế Huyện Đắk Hà',
      studyDate: '20250101',
      studyDescription: 'CT sọ não',
      expiresAt: new Date('2026-12-24T20:00:00Z'),
    };
    for (const variant of [
      { secretKind: 'pin' as const, pin: '042731' },
      { secretKind: 'birth-year' as const, pin: null },
    ]) {
      const bytes = await slips.render({ ...base, ...variant }, png);
      expect(Buffer.from(bytes.subarray(0, 5)).toString()).toBe('%PDF-');
      const doc = await PDFDocument.load(bytes);
      expect(doc.getPageCount()).toBe(1);
      const { width, height } = doc.getPage(0).getSize();
      expect([Math.round(width), Math.round(height)]).toEqual([595, 842]);
      const fontNames = doc.context
        .enumerateIndirectObjects()
        .map(([, o]) => o)
        .filter(
          (o): o is PDFDict =>
            o instanceof PDFDict && o.get(PDFName.of('Type')) === PDFName.of('FontDescriptor'),
        )
        .map((d) => String(d.get(PDFName.of('FontName'))));
      expect(fontNames.some((n) => n.includes('DejaVuSans'))).toBe(true);
      expect(fontNames.some((n) => n.includes('DejaVuSans-Bold'))).toBe(true);
      expect(doc.getTitle()).toBe('Phiếu xem kết quả / Access slip');
    }
  });

  it('dates are calendar days in Vietnam', () => {
    // 20:00 UTC on the 24th is already the 25th in Hanoi (UTC+7).
    expect(vnDate(new Date('2026-12-24T20:00:00Z'))).toBe('25/12/2026');
  });
});

describe('grants model: a share holder sees one study', () => {
  const holder: Principal = {
    kind: 'share',
    userId: '0b7c2f4e-1d3a-4b5c-8d9e-0f1a2b3c4d5e',
    username: 'share-link',
    role: 'patient',
    facilityId: null,
    sessionId: '1b7c2f4e-1d3a-4b5c-8d9e-0f1a2b3c4d5e',
    via: 'bearer',
    shareStudyUid: '1.2.840.99.1',
  };
  it('scopes to exactly the link study, bound as a parameter', () => {
    expect(scopeOf(holder)).toEqual({ kind: 'study', studyUid: '1.2.840.99.1' });
    expect(studyScopeSql(scopeOf(holder), 's', 4)).toEqual({
      sql: 's.study_uid = $4::text',
      params: ['1.2.840.99.1'],
    });
  });
  it('a share principal without a study, or claiming a facility, still sees nothing else', () => {
    expect(scopeOf({ ...holder, shareStudyUid: undefined })).toEqual({ kind: 'none' });
    expect(scopeOf({ ...holder, facilityId: 'bv-a' })).toEqual({ kind: 'study', studyUid: '1.2.840.99.1' });
  });
});
