/**
 * The own-parse DICOM JSON (server/src/dicomweb/own-dicom-json.ts), table-driven on objects built
 * byte by byte here: each rule it follows to match Orthanc's rendering (measured against Orthanc
 * by tests/integration/stow-own-parse.test.ts), and each case where it must defer to Orthanc.
 */
import { describe, expect, it } from 'vitest';
import { dicomParser } from '../../server/src/dicomweb/dicom-parser.js';
import { ownDicomJsonOrReason } from '../../server/src/dicomweb/own-dicom-json.js';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT']);

type El = [tag: string, vr: string, value: Buffer | string];

function element([tag, vr, value]: El): Buffer {
  let v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (v.length % 2 === 1) v = Buffer.concat([v, Buffer.from(vr === 'UI' ? [0] : [0x20])]);
  const head = Buffer.alloc(LONG_VRS.has(vr) ? 12 : 8);
  head.writeUInt16LE(Number.parseInt(tag.slice(0, 4), 16), 0);
  head.writeUInt16LE(Number.parseInt(tag.slice(4), 16), 2);
  head.write(vr, 4, 'latin1');
  if (LONG_VRS.has(vr)) head.writeUInt32LE(v.length, 8);
  else head.writeUInt16LE(v.length, 6);
  return Buffer.concat([head, v]);
}

/** A Part 10 file: meta group, then the given elements (sorted), Explicit VR Little Endian. */
function part10(elements: El[], ts = EXPLICIT_LE): Buffer {
  const meta = Buffer.concat([
    element(['00020001', 'OB', Buffer.from([0, 1])]),
    element(['00020002', 'UI', '1.2.840.10008.5.1.4.1.1.7']),
    element(['00020003', 'UI', '2.25.1']),
    element(['00020010', 'UI', ts]),
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(meta.length);
  const body = [...elements].sort((a, b) => a[0].localeCompare(b[0])).map(element);
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM'),
    element(['00020000', 'UL', length]),
    meta,
    ...body,
  ]);
}

function own(elements: El[], ts = EXPLICIT_LE) {
  return ownDicomJsonOrReason(dicomParser.parseDicom(part10(elements, ts)), ts);
}

const f32 = (x: number) => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(x);
  return b;
};
const u16 = (...xs: number[]) => {
  const b = Buffer.alloc(2 * xs.length);
  xs.forEach((x, i) => {
    b.writeUInt16LE(x, 2 * i);
  });
  return b;
};

describe('own-parse DICOM JSON: renderings that match Orthanc', () => {
  const cases: { name: string; els: El[]; tag: string; expected: unknown }[] = [
    {
      name: 'Vietnamese UTF-8 name',
      els: [
        ['00080005', 'CS', 'ISO_IR 192'],
        ['00100010', 'PN', 'Nguyễn^Thị Minh Khai'],
      ],
      tag: '00100010',
      expected: { vr: 'PN', Value: [{ Alphabetic: 'Nguyễn^Thị Minh Khai' }] },
    },
    {
      name: 'UTF-8 without a declared character set (Orthanc DefaultEncoding Utf8)',
      els: [['00100010', 'PN', 'Đặng^Văn']],
      tag: '00100010',
      expected: { vr: 'PN', Value: [{ Alphabetic: 'Đặng^Văn' }] },
    },
    {
      name: 'Latin-1',
      els: [
        ['00080005', 'CS', 'ISO_IR 100'],
        ['00100010', 'PN', Buffer.from('Buc^Jérôme', 'latin1')],
      ],
      tag: '00100010',
      expected: { vr: 'PN', Value: [{ Alphabetic: 'Buc^Jérôme' }] },
    },
    {
      name: 'PN with an empty last group',
      els: [
        ['00080005', 'CS', 'ISO_IR 192'],
        ['00100010', 'PN', 'Wang^XiaoDong=王^小東='],
      ],
      tag: '00100010',
      expected: { vr: 'PN', Value: [{ Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小東', Phonetic: '' }] },
    },
    {
      name: 'padding inside a multi-valued CS is kept',
      els: [['00080008', 'CS', 'DERIVED \\SECONDARY\\\\OTHER']],
      tag: '00080008',
      expected: { vr: 'CS', Value: ['DERIVED ', 'SECONDARY', null, 'OTHER'] },
    },
    {
      name: 'DS as numbers, negative zero as 0',
      els: [['00200037', 'DS', '1\\-0.000000\\0\\0\\1.5e2\\-1 ']],
      tag: '00200037',
      expected: { vr: 'DS', Value: [1, 0, 0, 0, 150, -1] },
    },
    {
      name: 'IS with an empty value',
      els: [['00200013', 'IS', '7\\']],
      tag: '00200013',
      expected: { vr: 'IS', Value: [7, null] },
    },
    {
      name: 'US values',
      els: [['00280010', 'US', u16(512)]],
      tag: '00280010',
      expected: { vr: 'US', Value: [512] },
    },
    {
      name: 'an empty US is left out',
      els: [['00280010', 'US', Buffer.alloc(0)]],
      tag: '00280010',
      expected: undefined,
    },
    {
      name: 'empty text keeps the attribute without a value',
      els: [['00080090', 'PN', '']],
      tag: '00080090',
      expected: { vr: 'PN' },
    },
    {
      name: 'FL read back exactly',
      els: [['00189306', 'FD', Buffer.from(new Float64Array([0.1]).buffer)]],
      tag: '00189306',
      expected: { vr: 'FD', Value: [0.1] },
    },
    {
      name: 'binary data at the top level is left out (Orthanc gives a BulkDataURI)',
      els: [['7FE00010', 'OW', u16(1, 2, 3, 4)]],
      tag: '7FE00010',
      expected: undefined,
    },
    {
      name: 'AT as tag strings',
      els: [['00209165', 'AT', u16(0x0020, 0x9111)]],
      tag: '00209165',
      expected: { vr: 'AT', Value: ['00209111'] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = own(c.els);
      if (!('json' in r)) throw new Error(`uncertain: ${r.uncertain}`);
      expect(r.json[c.tag]).toEqual(c.expected);
      expect(Object.keys(r.json).some((k) => k.startsWith('0002'))).toBe(false);
    });
  }
});

describe('own-parse DICOM JSON: defers to Orthanc where its decode could differ', () => {
  const cases: { name: string; els: El[]; ts?: string; reason: RegExp }[] = [
    {
      name: 'ISO 2022 code extensions',
      els: [
        ['00080005', 'CS', '\\ISO 2022 IR 87'],
        ['00100010', 'PN', 'Yamada'],
      ],
      reason: /ISO 2022/,
    },
    {
      name: 'another single character set',
      els: [['00080005', 'CS', 'ISO_IR 144']],
      reason: /character set/,
    },
    {
      name: 'bytes that are not UTF-8 under ISO_IR 192',
      els: [
        ['00080005', 'CS', 'ISO_IR 192'],
        ['00100010', 'PN', Buffer.from([0x41, 0xff, 0x42, 0x20])],
      ],
      reason: /not UTF-8/,
    },
    { name: 'a PN with an empty inner group', els: [['00100010', 'PN', 'A==C']], reason: /inner group/ },
    {
      name: 'a denormal FL (Orthanc flushes it to 0)',
      els: [['00451002', 'FL', f32(1.4e-45)]],
      reason: /denormal/,
    },
    { name: 'a DS that is not a number', els: [['00101030', 'DS', '81,5']], reason: /not a number/ },
    {
      name: 'big endian',
      els: [['00100020', 'LO', 'X']],
      ts: '1.2.840.10008.1.2.2',
      reason: /transfer syntax/,
    },
    {
      name: 'deflate',
      els: [['00100020', 'LO', 'X']],
      ts: '1.2.840.10008.1.2.1.99',
      reason: /transfer syntax/,
    },
    {
      name: 'RLE (Orthanc reports the decoded pixel description)',
      els: [['00100020', 'LO', 'X']],
      ts: '1.2.840.10008.1.2.5',
      reason: /RLE/,
    },
    {
      name: 'native YBR_FULL_422 (Orthanc reports YBR_FULL)',
      els: [['00280004', 'CS', 'YBR_FULL_422']],
      reason: /YBR_FULL_422/,
    },
    { name: 'a group length', els: [['00080000', 'UL', Buffer.from([4, 0, 0, 0])]], reason: /group length/ },
    { name: 'a 64-bit integer', els: [['00101234', 'UV', Buffer.alloc(8)]], reason: /64-bit/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = c.ts
        ? ownDicomJsonOrReason(dicomParser.parseDicom(part10(c.els, EXPLICIT_LE)), c.ts)
        : own(c.els);
      expect('uncertain' in r ? r.uncertain : 'certain').toMatch(c.reason);
    });
  }
});
