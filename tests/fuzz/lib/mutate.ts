/**
 * Structure-aware mutations of real DICOM Part 10 files, for the hostile-input tier.
 *
 * Each seed is parsed once with dicom-parser (the original, valid file) to learn where its element
 * headers, lengths, VRs and values sit; mutations then damage those places in a copy, so they reach
 * the parsers' interesting paths (lengths, VRs, sequences, fragments, character sets, UIDs) instead
 * of only flipping bytes that nobody reads. Every mutation is deterministic for a given PRNG seed,
 * so a failure names the seed and the kind and can be replayed.
 *
 * Before mutating, the study, series and SOP instance UIDs are replaced in place by fresh UIDs of the
 * same length (the meta header's MediaStorageSOPInstanceUID too), so every mutant is a new instance
 * rather than a conflicting copy of its seed.
 */
import dicomParser from 'dicom-parser';

export type Rng = () => number;

/** mulberry32: small, fast, good enough for choosing mutations; seeded so runs replay. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

interface ElementInfo {
  tag: string;
  vr: string | undefined;
  /** Offset of the first value byte. */
  dataOffset: number;
  length: number;
  /** Offset and size of the length field (absent for undefined-length items we cannot place). */
  lengthOffset: number;
  lengthSize: 2 | 4;
  /** Offset of the two VR characters, for explicit-VR elements. */
  vrOffset: number | null;
  undefinedLength: boolean;
  fragments?: { offset: number; position: number; length: number }[];
}

export interface Seed {
  name: string;
  bytes: Buffer;
  transferSyntax: string;
  explicit: boolean;
  littleEndian: boolean;
  elements: ElementInfo[];
}

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/** Parses a valid Part 10 file into a seed; null for files without a Part 10 header. */
export function toSeed(name: string, bytes: Buffer): Seed | null {
  if (bytes.length < 132 || bytes.toString('latin1', 128, 132) !== 'DICM') return null;
  let ds: dicomParser.DataSet;
  try {
    ds = dicomParser.parseDicom(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch {
    return null;
  }
  const ts = (ds.string('x00020010') ?? '').trim();
  const explicit = ts !== '1.2.840.10008.1.2';
  const littleEndian = ts !== '1.2.840.10008.1.2.2';
  const elements: ElementInfo[] = [];
  const walk = (set: dicomParser.DataSet) => {
    for (const [tag, el] of Object.entries(set.elements)) {
      const inMeta = tag.startsWith('x0002');
      const elExplicit = inMeta || explicit;
      const vr = el.vr;
      const long = !elExplicit || (vr !== undefined && LONG_VRS.has(vr));
      const lengthSize: 2 | 4 = long ? 4 : 2;
      elements.push({
        tag,
        vr,
        dataOffset: el.dataOffset,
        length: el.length,
        lengthOffset: el.dataOffset - lengthSize,
        lengthSize,
        vrOffset: elExplicit && vr ? el.dataOffset - (long ? 8 : 4) : null,
        undefinedLength: Boolean(el.hadUndefinedLength),
        ...(el.fragments
          ? {
              fragments: el.fragments.map((f) => ({
                offset: f.offset,
                position: f.position,
                length: f.length,
              })),
            }
          : {}),
      });
      for (const item of el.items ?? []) if (item.dataSet) walk(item.dataSet);
    }
  };
  walk(ds);
  return { name, bytes, transferSyntax: ts, explicit, littleEndian, elements };
}

/** A fresh numeric UID of exactly `len` characters (`2.25.` + digits, no leading zero). */
function uidOfLength(r: Rng, len: number): string {
  let s = '2.25.';
  s += String(int(r, 1, 9));
  while (s.length < len) s += String(int(r, 0, 9));
  return s.slice(0, len);
}

/** Writes a fresh UID of the same value length into the element, keeping the length field. */
function replaceUid(out: Buffer, el: ElementInfo | undefined, uid: string) {
  if (!el) return;
  out.write(uid.padEnd(el.length, '\0'), el.dataOffset, el.length, 'latin1');
}

/** The seed's bytes with new study/series/SOP UIDs (same lengths), so the mutant is a new instance. */
export function freshCopy(seed: Seed, r: Rng): { bytes: Buffer; sopInstanceUid: string } {
  const out = Buffer.from(seed.bytes);
  const el = (tag: string) => seed.elements.find((e) => e.tag === tag);
  const uidLen = (e: ElementInfo | undefined) => {
    if (!e) return 0;
    const v = out.toString('latin1', e.dataOffset, e.dataOffset + e.length);
    return v.replace(/[\0 ]+$/, '').length;
  };
  const sop = el('x00080018');
  const sopUid = uidOfLength(r, Math.max(uidLen(sop), 8));
  replaceUid(out, sop, sopUid);
  const meta = el('x00020003');
  if (meta && uidLen(meta) === sopUid.length) replaceUid(out, meta, sopUid);
  replaceUid(out, el('x0020000d'), uidOfLength(r, Math.max(uidLen(el('x0020000d')), 8)));
  replaceUid(out, el('x0020000e'), uidOfLength(r, Math.max(uidLen(el('x0020000e')), 8)));
  return { bytes: out, sopInstanceUid: sopUid };
}

export const MUTATIONS = [
  'truncate',
  'bitflip',
  'huge-length',
  'wrong-length',
  'bad-vr',
  'deep-sequence',
  'broken-fragments',
  'bad-charset',
  'path-uid',
  'meta-length',
] as const;
export type MutationKind = (typeof MUTATIONS)[number];

function writeLength(out: Buffer, el: ElementInfo, value: number, le: boolean) {
  if (el.lengthOffset < 0 || el.lengthOffset + el.lengthSize > out.length) return;
  if (el.lengthSize === 2) {
    if (le) out.writeUInt16LE(value & 0xffff, el.lengthOffset);
    else out.writeUInt16BE(value & 0xffff, el.lengthOffset);
  } else if (le) out.writeUInt32LE(value >>> 0, el.lengthOffset);
  else out.writeUInt32BE(value >>> 0, el.lengthOffset);
}

/**
 * A sequence nested `depth` deep in explicit VR little endian, undefined lengths throughout, as an
 * element (0008,0006) Language Code Sequence: inserted where that tag belongs, so only the depth
 * is hostile.
 */
export function deepSequence(depth: number): Buffer {
  const open = Buffer.from([0x08, 0x00, 0x06, 0x00, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  const item = Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]);
  const itemEnd = Buffer.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0]);
  const seqEnd = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
  const parts: Buffer[] = [];
  for (let i = 0; i < depth; i++) parts.push(open, item);
  for (let i = 0; i < depth; i++) parts.push(itemEnd, seqEnd);
  return Buffer.concat(parts);
}

export interface Mutant {
  kind: MutationKind;
  bytes: Buffer;
  /** The SOP Instance UID written before mutating (may itself have been damaged since). */
  sopInstanceUid: string;
  note: string;
}

/** Applies one mutation of `kind` to a fresh copy of the seed. */
export function mutate(seed: Seed, kind: MutationKind, r: Rng): Mutant {
  const { bytes: out, sopInstanceUid } = freshCopy(seed, r);
  const le = seed.littleEndian;
  const body = seed.elements.filter((e) => !e.tag.startsWith('x0002'));
  const anyEl = () => pick(r, body.length ? body : seed.elements);
  switch (kind) {
    case 'truncate': {
      const at = int(r, 0, out.length - 1);
      return { kind, bytes: out.subarray(0, at), sopInstanceUid, note: `cut at ${at} of ${out.length}` };
    }
    case 'bitflip': {
      const n = int(r, 1, 16);
      for (let i = 0; i < n; i++) {
        const at = int(r, 132, out.length - 1);
        out[at] = (out[at] ?? 0) ^ (1 << int(r, 0, 7));
      }
      return { kind, bytes: out, sopInstanceUid, note: `${n} bits` };
    }
    case 'huge-length': {
      const el = anyEl();
      writeLength(out, el, el.lengthSize === 2 ? 0xfffe : pick(r, [0xfffffff0, 0x7ffffffe, 0x80000000]), le);
      return { kind, bytes: out, sopInstanceUid, note: el.tag };
    }
    case 'wrong-length': {
      const el = anyEl();
      const delta = pick(r, [-3, -2, -1, 1, 2, 3, 7, 64, 1001]);
      writeLength(out, el, Math.max(0, el.length + delta), le);
      return { kind, bytes: out, sopInstanceUid, note: `${el.tag} ${delta}` };
    }
    case 'bad-vr': {
      const withVr = seed.elements.filter((e) => e.vrOffset !== null);
      if (!withVr.length) return mutate(seed, 'bitflip', r);
      const el = pick(r, withVr);
      const vr = pick(r, ['ZZ', 'SQ', 'UN', 'OB', '\0\0', 'ab', 'US', 'DA', 'PN']);
      out.write(vr, el.vrOffset!, 2, 'latin1');
      return { kind, bytes: out, sopInstanceUid, note: `${el.tag} ${el.vr}→${JSON.stringify(vr)}` };
    }
    case 'deep-sequence': {
      // Only meaningful where the dataset is explicit VR little endian (the inserted bytes are).
      if (!seed.explicit || !le) return mutate(seed, 'wrong-length', r);
      const after = body.find((e) => e.tag > 'x00080006' && e.vrOffset !== null);
      if (!after || after.vrOffset === null) return mutate(seed, 'wrong-length', r);
      const at = after.vrOffset - 4;
      const depth = pick(r, [64, 500, 5000, 20000]);
      const bytes = Buffer.concat([out.subarray(0, at), deepSequence(depth), out.subarray(at)]);
      return { kind, bytes, sopInstanceUid, note: `depth ${depth}` };
    }
    case 'broken-fragments': {
      const px = seed.elements.find((e) => e.tag === 'x7fe00010' && e.fragments?.length);
      if (!px?.fragments) return mutate(seed, 'huge-length', r);
      const f = pick(r, px.fragments);
      // The item header sits 8 bytes before the fragment's data (dicom-parser's `position` is the
      // absolute offset of that data): tag FFFE,E000, then the 32-bit length.
      const header = f.position - 8;
      const how = int(r, 0, 2);
      if (how === 0) out.writeUInt32LE(0xdeadbeef, header);
      else if (how === 1) out.writeUInt32LE(f.length + int(r, 1, 1_000_000), header + 4);
      else out.writeUInt32LE(0xffffffff, px.dataOffset + 4);
      return { kind, bytes: out, sopInstanceUid, note: `fragment ${how}` };
    }
    case 'bad-charset': {
      const cs = seed.elements.find((e) => e.tag === 'x00080005');
      const pn = seed.elements.find((e) => e.tag === 'x00100010');
      if (cs && cs.length >= 2) {
        const v = pick(r, ['ISO_IR 999', '\\\\\\\\\\', 'ISO 2022 IR 6\\ISO 2022 IR 87', '\xff\xfe\xfd']);
        out.write(v.padEnd(cs.length, ' ').slice(0, cs.length), cs.dataOffset, cs.length, 'latin1');
      }
      if (pn && pn.length >= 2) {
        for (let i = 0; i < pn.length; i++) out[pn.dataOffset + i] = int(r, 0x80, 0xff);
      }
      return { kind, bytes: out, sopInstanceUid, note: cs ? 'charset+name' : 'name' };
    }
    case 'path-uid': {
      const targets = ['x00080018', 'x0020000d', 'x0020000e', 'x00020003']
        .map((t) => seed.elements.find((e) => e.tag === t))
        .filter((e): e is ElementInfo => e !== undefined && e.length >= 8);
      if (!targets.length) return mutate(seed, 'bitflip', r);
      const el = pick(r, targets);
      const v = pick(r, [
        '../../../../etc/passwd',
        '1.2.3/../../x',
        '..\\..\\windows',
        '1.2.%2e%2e/3',
        '/tmp/x',
      ]);
      out.write(v.padEnd(el.length, '\0').slice(0, el.length), el.dataOffset, el.length, 'latin1');
      return { kind, bytes: out, sopInstanceUid, note: el.tag };
    }
    case 'meta-length': {
      const gl = seed.elements.find((e) => e.tag === 'x00020000');
      if (!gl) return mutate(seed, 'truncate', r);
      out.writeUInt32LE(pick(r, [0, 1, 0xffffffff, gl.length * 1000, 200]), gl.dataOffset);
      return { kind, bytes: out, sopInstanceUid, note: 'group length' };
    }
  }
}
