/** The pure parts of remote reading: canonical JSON, report content, templates, PIN key wrapping. */
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  canonicalReport,
  type ReportContent,
  sha256Hex,
} from '../../server/src/reading/canonical.js';
import { unwrapKey, WrongPinError, wrapKey } from '../../server/src/reading/signing/pin-keys.js';
import {
  missingToSign,
  normaliseFields,
  TEMPLATES,
  templateById,
  templatesFor,
} from '../../server/src/reading/templates.js';

describe('canonicalJson (RFC 8785)', () => {
  it.each([
    [{ b: 1, a: [true, null, 'x'] }, '{"a":[true,null,"x"],"b":1}'],
    [{ z: { y: 2, x: 1 } }, '{"z":{"x":1,"y":2}}'],
    [1e21, '1e+21'],
    [0.1 + 0.2, '0.30000000000000004'],
    [-0, '0'],
    ['Kết luận "x"\n', '"Kết luận \\"x\\"\\n"'],
    // Keys sort by UTF-16 code units: "€" (U+20AC) before "😀" (U+D83D...) before "ﬀ" (U+FB00).
    [{ ﬀ: 1, '😀': 2, '€': 3 }, '{"€":3,"😀":2,"ﬀ":1}'],
  ])('%j → %s', (value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it('refuses what JSON cannot carry instead of dropping it', () => {
    expect(() => canonicalJson({ a: undefined })).toThrow(/undefined/);
    expect(() => canonicalJson(Number.NaN)).toThrow(/non-finite/);
    expect(() => canonicalJson(new Date())).toThrow(/plain objects/);
  });

  it('gives the same bytes whatever the key order, and different bytes for NFC and NFD text', () => {
    const c: ReportContent = {
      reportId: 'r',
      requestId: 'q',
      studyUid: '1.2',
      accessionNumber: 'A',
      parentReportId: null,
      templateId: 'ct-head',
      language: 'vi',
      fields: { impression: 'Bình thường', haemorrhage: 'no' },
      freeText: 'Đặng',
      signer: { userId: 'u', name: 'BS' },
      signedAt: '2025-01-01T00:00:00.000Z',
    };
    const reordered = { ...c, fields: { haemorrhage: 'no', impression: 'Bình thường' } };
    expect(canonicalReport(c).equals(canonicalReport(reordered))).toBe(true);
    const nfd = { ...c, freeText: c.freeText.normalize('NFD') };
    expect(sha256Hex(canonicalReport(c))).not.toBe(sha256Hex(canonicalReport(nfd)));
  });
});

describe('templates', () => {
  it('every template has unique field keys, labels in both languages, options for choices', () => {
    for (const t of TEMPLATES) {
      const keys = t.fields.map((f) => f.key);
      expect(new Set(keys).size, t.id).toBe(keys.length);
      expect(t.title.vi && t.title.en).toBeTruthy();
      for (const f of t.fields) {
        expect(f.label.vi && f.label.en, `${t.id}.${f.key}`).toBeTruthy();
        if (f.kind === 'choice') expect(f.options?.length, `${t.id}.${f.key}`).toBeGreaterThan(0);
      }
    }
  });

  it('selects by modality, always offering the generic one', () => {
    expect(templatesFor('MR').map((t) => t.id)).toEqual(['mr-brain', 'generic']);
    expect(templatesFor('US').map((t) => t.id)).toEqual(['generic']);
  });

  it('normalises to NFC, drops empty values, refuses unknown fields and bad choices', () => {
    const t = templateById('ct-head')!;
    expect(normaliseFields(t, { impression: '  Bình thường'.normalize('NFD'), parenchyma: '  ' })).toEqual({
      impression: 'Bình thường',
    });
    expect(() => normaliseFields(t, { colour: 'x' })).toThrow(/no field "colour"/);
    expect(() => normaliseFields(t, { haemorrhage: 'maybe' })).toThrow(/one of: no, yes/);
    expect(missingToSign(t, { impression: 'x' })).toEqual(['haemorrhage']);
    expect(missingToSign(t, { impression: 'x', haemorrhage: 'no' })).toEqual([]);
  });
});

describe('PIN key wrapping', () => {
  const cheap = { N: 1024, r: 8, p: 1 };
  it('round-trips with the right PIN; a wrong PIN fails authentication, never yields a key', async () => {
    const secret = Buffer.from('private key bytes');
    const w = await wrapKey(secret, '246810', cheap);
    expect(JSON.stringify(w)).not.toContain('246810');
    expect((await unwrapKey(w, '246810')).equals(secret)).toBe(true);
    await expect(unwrapKey(w, '246811')).rejects.toBeInstanceOf(WrongPinError);
  });

  it('uses a fresh salt and IV each time and detects a modified ciphertext', async () => {
    const secret = Buffer.alloc(32, 7);
    const a = await wrapKey(secret, '123456', cheap);
    const b = await wrapKey(secret, '123456', cheap);
    expect(a.kdf.salt).not.toBe(b.kdf.salt);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    const ct = Buffer.from(a.ciphertext, 'base64url');
    ct[0] = ct[0]! ^ 1;
    await expect(unwrapKey({ ...a, ciphertext: ct.toString('base64url') }, '123456')).rejects.toBeInstanceOf(
      WrongPinError,
    );
  });
});
