/**
 * The DICOM JSON model (PS3.18 Annex F) of a STOW part, built from the gateway's own parse
 * (dicom-parser, already done by validation), so the index row of a stored instance needs no
 * second read of the object from Orthanc. The index must not depend on which path built it: the
 * result, after normaliseDicomJson, equals what Orthanc's DICOMweb plugin answers for the stored
 * instance (tests/integration/stow-own-parse.test.ts compares the two over the pydicom corpus and
 * the demo data).
 *
 * Invariant: `undefined` whenever this decode could differ from Orthanc's, and the caller then
 * asks Orthanc. Certain here means: little-endian, not deflated; one character set that is
 * absent / ISO_IR 6 (ASCII, or UTF-8 as Orthanc's DefaultEncoding reads it), ISO_IR 100 (Latin-1)
 * or ISO_IR 192 (UTF-8), with bytes valid in it; no code extensions (ISO 2022: Japanese, Korean,
 * Chinese escape sequences are Orthanc's to decode); every element's VR known (explicit, or an
 * unambiguous standard VR for implicit files); no binary, UN, 64-bit or private element inside a
 * sequence (Orthanc renders those as BulkDataURIs of its own); numbers that read as numbers.
 * Binary elements at the top level are left out, as normaliseDicomJson drops their BulkDataURI.
 */
import { createRequire } from 'node:module';
import type { DicomJson, DicomJsonAttribute } from '../index/dicom-json.js';
import type { DataSet, Element } from './dicom-parser.js';
import { TS } from './media-types.js';

/** dcmjs's copy of the PS3.6 data dictionary: the VR of each standard tag, for implicit-VR files. */
const dictionary = (
  createRequire(import.meta.url)('dcmjs') as {
    data: { DicomMetaDictionary: { dictionary: Record<string, { vr: string } | undefined> } };
  }
).data.DicomMetaDictionary.dictionary;

/** Thrown where this decode could differ from Orthanc's; the message says why (for tests). */
class Uncertain extends Error {}

/** VRs whose value is text, split on backslash into values (PS3.5 6.2). */
const MULTI_TEXT = new Set(['AE', 'AS', 'CS', 'DA', 'DT', 'LO', 'SH', 'TM', 'UC', 'UI']);
/** Text VRs with exactly one value (backslash is a character there). */
const SINGLE_TEXT = new Set(['LT', 'ST', 'UT', 'UR']);
/** Value fields left out at the top level (bulk data). */
const BINARY = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);
const BINARY_NUMBERS: Record<string, { size: number; read: (v: DataView, o: number) => number }> = {
  US: { size: 2, read: (v, o) => v.getUint16(o, true) },
  SS: { size: 2, read: (v, o) => v.getInt16(o, true) },
  UL: { size: 4, read: (v, o) => v.getUint32(o, true) },
  SL: { size: 4, read: (v, o) => v.getInt32(o, true) },
  FL: { size: 4, read: (v, o) => v.getFloat32(o, true) },
  FD: { size: 8, read: (v, o) => v.getFloat64(o, true) },
};
const NATIVE_LE = new Set<string>([TS.IMPLICIT_LE, TS.EXPLICIT_LE]);
const EXPLICIT_BIG_ENDIAN = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';

type Decoder = (bytes: Uint8Array) => string;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

function decoderFor(charset: string | undefined): Decoder {
  const cs = (charset ?? '').trim();
  if (cs === '' || cs === 'ISO_IR 192') {
    return (b) => {
      try {
        return utf8.decode(b);
      } catch {
        throw new Uncertain('text that is not UTF-8');
      }
    };
  }
  if (cs === 'ISO_IR 6') {
    return (b) => {
      for (const x of b) if (x > 0x7f) throw new Uncertain('non-ASCII text under ISO_IR 6');
      return latin1.decode(b);
    };
  }
  if (cs === 'ISO_IR 100') return (b) => latin1.decode(b);
  throw new Uncertain(`character set ${cs.slice(0, 20)}`);
}

function vrOf(el: Element, implicit: boolean): string {
  if (!implicit && el.vr) return el.vr;
  const t = el.tag.slice(1).toUpperCase();
  if (t.startsWith('7FE0') || Number.parseInt(t.slice(3, 4), 16) % 2 === 1)
    throw new Uncertain('implicit VR of a private or pixel element');
  const entry = dictionary[`(${t.slice(0, 4)},${t.slice(4)})`];
  // Lower-case entries (xs, ox, …) are context-dependent VRs: not certain without the context.
  if (!entry || !/^[A-Z]{2}$/.test(entry.vr)) throw new Uncertain(`implicit VR of ${t}`);
  if (el.items && entry.vr !== 'SQ') throw new Uncertain(`items under non-SQ ${t}`);
  return entry.vr;
}

function valueBytes(ds: DataSet, el: Element): Uint8Array {
  return ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
}

/** Numeric strings (IS, DS) as JSON numbers, empty values as null. */
function numberValue(s: string, integer: boolean): number | null {
  const v = s.trim();
  if (v === '') return null;
  const pattern = integer ? /^[+-]?[0-9]+$/ : /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
  if (!pattern.test(v)) throw new Uncertain('a number string that is not a number');
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isSafeInteger(n)))
    throw new Uncertain('a number out of range');
  // Orthanc writes negative zero as 0.
  return n === 0 ? 0 : n;
}

function attribute(
  ds: DataSet,
  el: Element,
  vr: string,
  decode: Decoder,
  nested: boolean,
  implicit: boolean,
) {
  if (vr === 'SQ') {
    const items = el.items ?? [];
    const out: DicomJsonAttribute = { vr };
    if (items.length > 0)
      out.Value = items.map((it) => {
        if (!it.dataSet) throw new Uncertain('an unparsed item');
        return convert(it.dataSet, decode, true, implicit);
      });
    return out;
  }
  if (BINARY.has(vr)) {
    if (nested) throw new Uncertain('binary data inside a sequence');
    return undefined;
  }
  // Orthanc leaves out empty binary numbers, and keeps empty text as an attribute without a value.
  if (el.length === 0) return vr === 'AT' || BINARY_NUMBERS[vr] ? undefined : { vr };
  if (vr === 'AT') {
    if (el.length % 4 !== 0) throw new Uncertain('an odd-sized AT');
    const v = new DataView(ds.byteArray.buffer, ds.byteArray.byteOffset + el.dataOffset, el.length);
    const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
    const values: string[] = [];
    for (let o = 0; o < el.length; o += 4)
      values.push(hex(v.getUint16(o, true)) + hex(v.getUint16(o + 2, true)));
    return { vr, Value: values };
  }
  const binary = BINARY_NUMBERS[vr];
  if (binary) {
    if (el.length % binary.size !== 0) throw new Uncertain(`an odd-sized ${vr}`);
    const v = new DataView(ds.byteArray.buffer, ds.byteArray.byteOffset + el.dataOffset, el.length);
    const values: number[] = [];
    for (let o = 0; o < el.length; o += binary.size) {
      const n = binary.read(v, o);
      // Orthanc prints floats so that they read back exactly, but flushes denormals to zero.
      if (!Number.isFinite(n)) throw new Uncertain(`a non-finite ${vr}`);
      if (n !== 0 && Math.abs(n) < (vr === 'FL' ? 2 ** -126 : vr === 'FD' ? 2 ** -1022 : 0))
        throw new Uncertain(`a denormal ${vr}`);
      values.push(n === 0 ? 0 : n);
    }
    return { vr, Value: values };
  }
  // UIDs may be NUL-padded; other text is space-padded (PS3.5 6.2).
  const raw = decode(valueBytes(ds, el)).replace(vr === 'UI' ? /[\0 ]+$/ : / +$/, '');
  if (raw.includes('\0') || raw.includes('\x1b')) throw new Uncertain('NUL or escape in text');
  if (raw === '') return { vr };
  if (SINGLE_TEXT.has(vr)) return { vr, Value: [raw] };
  const parts = raw.split('\\');
  if (vr === 'IS' || vr === 'DS') return { vr, Value: parts.map((p) => numberValue(p, vr === 'IS')) };
  if (vr === 'PN') {
    return {
      vr,
      Value: parts.map((p) => {
        const groups = p.split('=');
        if (groups.length > 3) throw new Uncertain('a PN with more than 3 groups');
        // Orthanc names every group present, an empty last one too ("A=B=" has Phonetic "").
        if (groups.slice(0, -1).some((g) => g === '')) throw new Uncertain('a PN with an empty inner group');
        const pn: Record<string, string> = {};
        const names = ['Alphabetic', 'Ideographic', 'Phonetic'] as const;
        groups.forEach((g, i) => {
          pn[names[i]!] = g;
        });
        return pn;
      }),
    };
  }
  if (!MULTI_TEXT.has(vr)) throw new Uncertain(`VR ${vr}`);
  // Orthanc trims the whole value only: padding inside a multi-valued element stays.
  return {
    vr,
    Value: parts.map((p) => {
      if (p !== '' && p.trim() === '') throw new Uncertain('a value of only spaces');
      return p === '' ? null : p;
    }),
  };
}

function convert(ds: DataSet, decode: Decoder, nested: boolean, implicit: boolean): DicomJson {
  const out: DicomJson = {};
  for (const el of Object.values(ds.elements)) {
    const tag = el.tag.slice(1).toUpperCase();
    if (tag.startsWith('0002') || tag.startsWith('FFFE')) continue;
    if (tag.endsWith('0000')) throw new Uncertain('a group length');
    if (nested && (tag === '00080005' || Number.parseInt(tag.slice(3, 4), 16) % 2 === 1))
      throw new Uncertain('a private element or character set inside a sequence');
    if (el.hadUndefinedLength && !el.items && !el.encapsulatedPixelData)
      throw new Uncertain('an undefined-length element that is not a sequence');
    const vr = vrOf(el, implicit);
    if (vr === 'SV' || vr === 'UV') throw new Uncertain('a 64-bit integer');
    const attr = attribute(ds, el, vr, decode, nested, implicit);
    if (attr) out[tag] = attr;
  }
  return out;
}

/**
 * The instance's DICOM JSON as Orthanc would answer it (binary elements left out), or undefined
 * when this decode is not certain to match Orthanc's (see the module comment).
 */
export function ownDicomJson(ds: DataSet, transferSyntaxUid: string): DicomJson | undefined {
  const r = ownDicomJsonOrReason(ds, transferSyntaxUid);
  return 'json' in r ? r.json : undefined;
}

/** ownDicomJson with the reason it is not certain (the comparison test reports the reasons). */
export function ownDicomJsonOrReason(
  ds: DataSet,
  transferSyntaxUid: string,
): { json: DicomJson } | { uncertain: string } {
  if (transferSyntaxUid === EXPLICIT_BIG_ENDIAN || transferSyntaxUid === DEFLATED)
    return { uncertain: `transfer syntax ${transferSyntaxUid}` };
  try {
    const charset = ds.elements.x00080005 ? ds.string('x00080005') : undefined;
    if (charset?.includes('\\')) throw new Uncertain('several character sets (ISO 2022)');
    // Orthanc (DCMTK) reports native YBR_FULL_422 as YBR_FULL, and the pixel description of
    // RLE objects as it decodes them (BitsAllocated 8 for 16-bit RLE, no NumberOfFrames).
    if (transferSyntaxUid === TS.RLE) throw new Uncertain('RLE');
    // Orthanc (DCMTK) reports native YBR_FULL_422 as YBR_FULL.
    if (ds.string('x00280004') === 'YBR_FULL_422' && NATIVE_LE.has(transferSyntaxUid))
      throw new Uncertain('native YBR_FULL_422');
    return { json: convert(ds, decoderFor(charset), false, transferSyntaxUid === TS.IMPLICIT_LE) };
  } catch (err) {
    if (err instanceof Uncertain) return { uncertain: err.message };
    // dicom-parser throws strings for values that run past the buffer.
    if (typeof err === 'string') return { uncertain: 'unreadable value' };
    throw err;
  }
}
