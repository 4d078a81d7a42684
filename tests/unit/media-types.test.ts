import { describe, expect, it } from 'vitest';
import {
  AS_STORED,
  FORBIDDEN_TRANSFER_SYNTAXES,
  isForwardableTransferSyntax,
  isSafeUid,
  negotiateWado,
  negotiateWadoUri,
  parseAccept,
  partContentType,
  TS,
  type WadoNegotiation,
  type WadoResourceKind,
} from '../../server/src/dicomweb/media-types.js';

const MP_DICOM = 'multipart/related; type="application/dicom"';
const MP_OCTET = 'multipart/related; type="application/octet-stream"';

describe('isSafeUid', () => {
  it.each([
    ['1.2.840.10008.1.2.1', true],
    ['0', true],
    ['1.0.2', true],
    ['2.25.329800735698586629295641978511506172918', true],
    ['1'.repeat(64), true],
    ['1'.repeat(65), false],
    ['', false],
    ['1.02.3', false],
    ['01.2', false],
    ['1..2', false],
    ['1.2.', false],
    ['.1.2', false],
    ['1.2.3a', false],
    ['../../etc/passwd', false],
    ['1.2.3/../4', false],
    ['1.2.3%2F', false],
    ["1.2.3' OR '1'='1", false],
    ['1.2.3\u0000', false],
    [' 1.2.3', false],
    ['1.2.3 ', false],
    ['１.２', false], // full-width digits are not [0-9]
  ])('%j → %s', (uid, expected) => {
    expect(isSafeUid(uid)).toBe(expected);
  });
});

describe('parseAccept', () => {
  it('parses several ranges with parameters and q', () => {
    const { ranges, invalid } = parseAccept(
      `${MP_DICOM}; transfer-syntax=1.2.840.10008.1.2.4.70; q=0.9, application/dicom+json;q=0.5 , */*;q=0.1`,
    );
    expect(invalid).toBe(0);
    expect(ranges).toEqual([
      {
        type: 'multipart',
        subtype: 'related',
        params: { type: 'application/dicom', 'transfer-syntax': '1.2.840.10008.1.2.4.70' },
        q: 0.9,
        index: 0,
      },
      { type: 'application', subtype: 'dicom+json', params: {}, q: 0.5, index: 1 },
      { type: '*', subtype: '*', params: {}, q: 0.1, index: 2 },
    ]);
  });

  it('lifts parameters nested inside a quoted type parameter', () => {
    const { ranges } = parseAccept(
      'multipart/related;type="application/dicom;transfer-syntax=1.2.840.10008.1.2.5"',
    );
    expect(ranges[0]!.params).toEqual({
      type: 'application/dicom',
      'transfer-syntax': '1.2.840.10008.1.2.5',
    });
  });

  it('does not split on commas inside quotes and lower-cases names', () => {
    const { ranges } = parseAccept('Multipart/Related; TYPE="Application/DICOM"; Foo="a,b"');
    expect(ranges).toHaveLength(1);
    expect(ranges[0]!.params).toEqual({ type: 'application/dicom', foo: 'a,b' });
  });

  it.each([
    ['garbage', 1, 0],
    ['image/jpeg; q=2', 1, 0],
    ['image/jpeg; q=0.0001', 1, 0],
    ['*/jpeg', 1, 0],
    ['image/jpeg, nonsense, image/png', 1, 2],
    ['image/jpeg;;', 0, 1],
    [', ,image/png,', 0, 1],
    ['multipart/related; type="broken', 1, 0],
  ])('%j → invalid=%d, valid=%d', (header, invalid, valid) => {
    const r = parseAccept(header);
    expect(r.invalid).toBe(invalid);
    expect(r.ranges).toHaveLength(valid);
  });

  it('accepts an unquoted media type in the type parameter, as OHIF sends it', () => {
    const { ranges, invalid } = parseAccept(
      'multipart/related; type=application/octet-stream; transfer-syntax=*',
    );
    expect(invalid).toBe(0);
    expect(ranges[0]!.params).toEqual({ type: 'application/octet-stream', 'transfer-syntax': '*' });
    const neg = negotiateWado(
      'frames',
      'multipart/related; type=application/octet-stream; transfer-syntax=*',
    );
    expect(neg.ok).toBe(true);
    // Still refused: an unquoted value that is neither a token nor type/subtype.
    expect(parseAccept('multipart/related; type=application/octet stream').invalid).toBe(1);
  });

  it('ignores accept-ext parameters after q', () => {
    const { ranges } = parseAccept('image/png; q=0.5; transfer-syntax=1.2.3');
    expect(ranges[0]!.params).toEqual({});
    expect(ranges[0]!.q).toBe(0.5);
  });
});

type Expect =
  | { media: string; ts?: string; orthanc?: string; storedOnly?: boolean; multipart?: boolean }
  | { code: string };

function check(res: WadoNegotiation, exp: Expect): void {
  if ('code' in exp) {
    expect(res.ok).toBe(false);
    if (!res.ok) {
      expect(res.code).toBe(exp.code);
      expect(res.status).toBe(406);
    }
    return;
  }
  expect(res.ok, JSON.stringify(res)).toBe(true);
  if (!res.ok) return;
  const r = res.representation;
  expect(r.mediaType).toBe(exp.media);
  expect(r.transferSyntax).toBe(exp.ts);
  expect(r.orthancTransferSyntax).toBe(exp.orthanc ?? exp.ts);
  expect(r.storedOnly).toBe(exp.storedOnly ?? false);
  if (exp.multipart !== undefined) expect(r.multipart).toBe(exp.multipart);
}

describe('negotiateWado', () => {
  const cases: Array<[string, WadoResourceKind, string | undefined, Expect, string?]> = [
    // instance
    [
      'no Accept → default ELE',
      'instance',
      undefined,
      { media: 'application/dicom', ts: TS.EXPLICIT_LE, multipart: true },
    ],
    ['*/* → default ELE', 'instance', '*/*', { media: 'application/dicom', ts: TS.EXPLICIT_LE }],
    [
      'bare multipart/related → application/dicom',
      'instance',
      'multipart/related',
      { media: 'application/dicom', ts: TS.EXPLICIT_LE },
    ],
    [
      'as stored',
      'instance',
      `${MP_DICOM}; transfer-syntax=*`,
      { media: 'application/dicom', ts: AS_STORED },
    ],
    [
      'explicit JPEG lossless',
      'instance',
      `${MP_DICOM}; transfer-syntax=1.2.840.10008.1.2.4.70`,
      { media: 'application/dicom', ts: TS.JPEG_LOSSLESS_SV1 },
    ],
    [
      'implicit LE',
      'instance',
      `${MP_DICOM}; transfer-syntax=1.2.840.10008.1.2`,
      { media: 'application/dicom', ts: TS.IMPLICIT_LE },
    ],
    [
      'JPEG extended is not allowed',
      'instance',
      `${MP_DICOM}; transfer-syntax=1.2.840.10008.1.2.4.51`,
      { code: 'not-acceptable' },
    ],
    [
      'single-part application/dicom not offered',
      'instance',
      'application/dicom',
      { code: 'not-acceptable' },
    ],
    ['metadata type for instance', 'instance', 'application/dicom+json', { code: 'not-acceptable' }],
    [
      'higher q wins regardless of order',
      'instance',
      `${MP_DICOM}; transfer-syntax=1.2.840.10008.1.2.1; q=0.4, ${MP_DICOM}; transfer-syntax=1.2.840.10008.1.2.4.90; q=0.8`,
      { media: 'application/dicom', ts: TS.JPEG_2000_LOSSLESS },
    ],
    [
      'q=0 excludes the default; wildcard elsewhere does not revive it',
      'instance',
      `${MP_DICOM}; q=0, */*`,
      { code: 'not-acceptable' },
    ],
    [
      'q=0 on the default, as-stored still acceptable',
      'instance',
      `${MP_DICOM}; q=0, ${MP_DICOM}; transfer-syntax=*; q=0.5`,
      { media: 'application/dicom', ts: AS_STORED },
    ],
    // JPEG-LS never forwarded
    [
      'JPEG-LS alone, storage unknown → 406',
      'instance',
      `${MP_DICOM}; transfer-syntax=1.2.840.10008.1.2.4.80`,
      { code: 'jpeg-ls-not-stored' },
    ],
    [
      'JPEG-LS preferred but another acceptable → the other',
      'instance',
      `${MP_DICOM}; transfer-syntax=1.2.840.10008.1.2.4.80, ${MP_DICOM}; transfer-syntax=1.2.840.10008.1.2.1; q=0.2`,
      { media: 'application/dicom', ts: TS.EXPLICIT_LE },
    ],
    [
      'JPEG-LS near-lossless inside a list with as-stored',
      'instance',
      `${MP_DICOM}; transfer-syntax=1.2.840.10008.1.2.4.81, ${MP_DICOM}; transfer-syntax=*; q=0.9`,
      { media: 'application/dicom', ts: AS_STORED },
    ],
    // frames
    [
      'frames default',
      'frames',
      undefined,
      { media: 'application/octet-stream', ts: TS.EXPLICIT_LE, multipart: true },
    ],
    [
      'frames OHIF style',
      'frames',
      `${MP_OCTET}; transfer-syntax=*`,
      { media: 'application/octet-stream', ts: AS_STORED },
    ],
    [
      'frames image/jpeg default baseline',
      'frames',
      'multipart/related; type="image/jpeg"',
      { media: 'image/jpeg', ts: TS.JPEG_BASELINE },
    ],
    [
      'frames image/jpeg lossless',
      'frames',
      'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.57',
      { media: 'image/jpeg', ts: TS.JPEG_LOSSLESS_P14 },
    ],
    [
      'frames image/jp2',
      'frames',
      'multipart/related; type="image/jp2"',
      { media: 'image/jp2', ts: TS.JPEG_2000_LOSSLESS },
    ],
    [
      'frames RLE',
      'frames',
      'multipart/related; type="image/dicom-rle"',
      { media: 'image/dicom-rle', ts: TS.RLE },
    ],
    [
      'frames image/jls alone → 406',
      'frames',
      'multipart/related; type="image/jls"',
      { code: 'jpeg-ls-not-stored' },
    ],
    [
      'frames image/jls among others',
      'frames',
      'multipart/related; type="image/jls", multipart/related; type="image/jp2"; q=0.9, multipart/related; type="image/jpeg"; q=0.5',
      { media: 'image/jp2', ts: TS.JPEG_2000_LOSSLESS },
    ],
    [
      'frames image/jpeg wrong syntax pairing',
      'frames',
      'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.1',
      { code: 'not-acceptable' },
    ],
    [
      'frames octet-stream with JPEG syntax',
      'frames',
      `${MP_OCTET}; transfer-syntax=1.2.840.10008.1.2.4.50`,
      { code: 'not-acceptable' },
    ],
    [
      'frames image/* picks server preference (jpeg baseline)',
      'frames',
      'multipart/related; type="image/*"',
      { media: 'image/jpeg', ts: TS.JPEG_BASELINE },
    ],
    // bulkdata
    ['bulkdata default', 'bulkdata', undefined, { media: 'application/octet-stream', ts: TS.EXPLICIT_LE }],
    [
      'bulkdata as stored',
      'bulkdata',
      `${MP_OCTET}; transfer-syntax=*`,
      { media: 'application/octet-stream', ts: AS_STORED },
    ],
    [
      'bulkdata image/jpeg not offered',
      'bulkdata',
      'multipart/related; type="image/jpeg"',
      { code: 'not-acceptable' },
    ],
    // metadata
    ['metadata default', 'metadata', undefined, { media: 'application/dicom+json', multipart: false }],
    ['metadata application/json', 'metadata', 'application/json', { media: 'application/json' }],
    [
      'metadata prefers dicom+json for application/*',
      'metadata',
      'application/*',
      { media: 'application/dicom+json' },
    ],
    [
      'metadata xml not offered',
      'metadata',
      'multipart/related; type="application/dicom+xml"',
      { code: 'not-acceptable' },
    ],
    [
      'metadata dicom+json q=0',
      'metadata',
      'application/dicom+json;q=0, application/*;q=0.3',
      { media: 'application/json' },
    ],
    // rendered / thumbnail
    ['rendered default jpeg', 'rendered', undefined, { media: 'image/jpeg' }],
    ['rendered png preferred', 'rendered', 'image/jpeg;q=0.5, image/png', { media: 'image/png' }],
    ['rendered jpeg q=0', 'rendered', 'image/jpeg;q=0, image/*', { media: 'image/png' }],
    ['rendered image/jls not offered', 'rendered', 'image/jls', { code: 'not-acceptable' }],
    ['rendered gif not offered', 'rendered', 'image/gif', { code: 'not-acceptable' }],
    ['thumbnail image/*', 'thumbnail', 'image/*', { media: 'image/jpeg' }],
    ['malformed only', 'rendered', 'this is not a media type', { code: 'malformed-accept' }],
    ['malformed plus valid', 'rendered', 'garbage, image/png', { media: 'image/png' }],
  ];

  it.each(cases)('%s', (_name, kind, accept, exp) => {
    check(negotiateWado(kind, accept), exp);
  });

  describe('JPEG-LS stored-only pass-through', () => {
    const jlsAccept = `${MP_DICOM}; transfer-syntax=1.2.840.10008.1.2.4.80`;

    it('serves stored bytes when the stored syntax is the requested JPEG-LS', () => {
      check(negotiateWado('instance', jlsAccept, { storedTransferSyntax: TS.JPEG_LS_LOSSLESS }), {
        media: 'application/dicom',
        ts: TS.JPEG_LS_LOSSLESS,
        orthanc: AS_STORED,
        storedOnly: true,
      });
    });

    it('refuses when stored as the other JPEG-LS syntax', () => {
      const res = negotiateWado('instance', jlsAccept, { storedTransferSyntax: TS.JPEG_LS_NEAR_LOSSLESS });
      check(res, { code: 'jpeg-ls-not-stored' });
      if (!res.ok) expect(res.storedOnlyTransferSyntaxes).toEqual([TS.JPEG_LS_LOSSLESS]);
    });

    it('frames image/jls with near-lossless stored', () => {
      check(
        negotiateWado(
          'frames',
          'multipart/related; type="image/jls"; transfer-syntax=1.2.840.10008.1.2.4.81',
          {
            storedTransferSyntax: TS.JPEG_LS_NEAR_LOSSLESS,
          },
        ),
        { media: 'image/jls', ts: TS.JPEG_LS_NEAR_LOSSLESS, orthanc: AS_STORED, storedOnly: true },
      );
    });

    it('a stored JPEG-LS does not make */* choose JPEG-LS', () => {
      check(negotiateWado('instance', '*/*', { storedTransferSyntax: TS.JPEG_LS_LOSSLESS }), {
        media: 'application/dicom',
        ts: TS.EXPLICIT_LE,
      });
    });

    it('never returns a JPEG-LS orthancTransferSyntax over a sweep of Accept headers', () => {
      const syntaxes = ['*', ...Object.values(TS), '1.2.840.10008.1.2.4.51', '1.2.840.10008.1.2.4.201'];
      const inner = [
        'application/dicom',
        'application/octet-stream',
        'image/jpeg',
        'image/jls',
        'image/jp2',
        'image/*',
        '*/*',
      ];
      const kinds: WadoResourceKind[] = [
        'instance',
        'metadata',
        'frames',
        'bulkdata',
        'rendered',
        'thumbnail',
      ];
      let okCount = 0;
      for (const kind of kinds)
        for (const t of inner)
          for (const ts of syntaxes)
            for (const stored of [undefined, TS.JPEG_LS_LOSSLESS, TS.EXPLICIT_LE]) {
              const res = negotiateWado(
                kind,
                `multipart/related; type="${t}"; transfer-syntax=${ts}`,
                stored ? { storedTransferSyntax: stored } : {},
              );
              if (!res.ok) continue;
              okCount++;
              const o = res.representation.orthancTransferSyntax;
              if (o !== undefined) {
                expect(FORBIDDEN_TRANSFER_SYNTAXES.has(o)).toBe(false);
                expect(isForwardableTransferSyntax(o)).toBe(true);
              }
              if (
                res.representation.mediaType === 'image/jls' ||
                FORBIDDEN_TRANSFER_SYNTAXES.has(res.representation.transferSyntax ?? '')
              ) {
                expect(res.representation.storedOnly).toBe(true);
                expect(res.representation.transferSyntax).toBe(stored);
              }
            }
      expect(okCount).toBeGreaterThan(20); // the sweep really exercised successful negotiations
    });
  });
});

describe('negotiateWadoUri', () => {
  it.each([
    [{}, { ok: true, media: 'image/jpeg' }],
    [{ contentType: 'image/png' }, { ok: true, media: 'image/png' }],
    [{ contentType: 'image/gif' }, { ok: false, status: 406 }],
    [{ contentType: 'application/dicom' }, { ok: true, media: 'application/dicom', ts: TS.EXPLICIT_LE }],
    [
      { contentType: 'application/dicom', transferSyntax: TS.JPEG_BASELINE },
      { ok: true, media: 'application/dicom', ts: TS.JPEG_BASELINE },
    ],
    [
      { contentType: 'application/dicom', transferSyntax: TS.JPEG_LS_LOSSLESS },
      { ok: false, status: 406 },
    ],
    [
      { contentType: 'application/dicom', transferSyntax: '*' },
      { ok: false, status: 400 },
    ],
    [
      { contentType: 'application/dicom', transferSyntax: '1.2/../3' },
      { ok: false, status: 400 },
    ],
    [
      { contentType: 'image/jpeg', transferSyntax: TS.JPEG_BASELINE },
      { ok: false, status: 400 },
    ],
    [
      { contentType: 'image/png;q=0.4, application/dicom' },
      { ok: true, media: 'application/dicom', ts: TS.EXPLICIT_LE },
    ],
    [{ contentType: 'nonsense' }, { ok: false, status: 400 }],
  ] as const)('%j', (params, exp) => {
    const res = negotiateWadoUri(params);
    expect(res.ok).toBe(exp.ok);
    if (res.ok && exp.ok) {
      expect(res.representation.mediaType).toBe(exp.media);
      expect(res.representation.transferSyntax).toBe('ts' in exp ? exp.ts : undefined);
    } else if (!res.ok && !exp.ok) {
      expect(res.status).toBe(exp.status);
    }
  });

  it('JPEG-LS via WADO-URI only when stored as JPEG-LS, and never forwarded', () => {
    const res = negotiateWadoUri(
      { contentType: 'application/dicom', transferSyntax: TS.JPEG_LS_LOSSLESS },
      { storedTransferSyntax: TS.JPEG_LS_LOSSLESS },
    );
    expect(res).toEqual({
      ok: true,
      representation: {
        mediaType: 'application/dicom',
        transferSyntax: TS.JPEG_LS_LOSSLESS,
        orthancTransferSyntax: AS_STORED,
        storedOnly: true,
      },
    });
  });
});

describe('partContentType', () => {
  it('states the actual syntax for as-stored representations', () => {
    const res = negotiateWado('instance', `${MP_DICOM}; transfer-syntax=*`);
    if (!res.ok) throw new Error('expected ok');
    expect(partContentType(res.representation, TS.JPEG_2000)).toBe(
      `application/dicom; transfer-syntax=${TS.JPEG_2000}`,
    );
    expect(partContentType(res.representation)).toBe('application/dicom');
  });

  it('omits transfer-syntax for non-DICOM payloads', () => {
    const res = negotiateWado('rendered', 'image/png');
    if (!res.ok) throw new Error('expected ok');
    expect(partContentType(res.representation, TS.EXPLICIT_LE)).toBe('image/png');
  });
});
