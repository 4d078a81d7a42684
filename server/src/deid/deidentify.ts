/**
 * De-identifies one DICOM Part 10 object by the basic profile (profile.ts): every data element,
 * at every sequence depth, goes through the action table and the profile's general rules; pixel
 * data and every attribute the table does not touch are copied as read. The result is a new
 * Part 10 object (UTF-8, `ISO_IR 192`: dcmjs decodes every character set on read and writes
 * UTF-8) or a refusal with a reason.
 *
 * Refused, never exported: objects that declare burned-in annotation or recognisable visual
 * features (BurnedInAnnotation / RecognizableVisualFeatures = YES): the basic profile does not
 * clean pixels, so the identity may be in the image. Flagged (exported, listed for review):
 * secondary capture, ultrasound and other classes where text is commonly burned in, when the
 * object does not say either way.
 */
import { createRequire } from 'node:module';
import { BASIC_PROFILE, BASIC_PROFILE_CODE, DUMMY_BY_VR } from './profile.js';
import type { UidMapper } from './uid-map.js';

interface Element {
  vr: string;
  Value?: unknown[];
  _rawValue?: unknown;
  InlineBinary?: unknown;
}
type Dataset = Record<string, Element>;
interface DicomDictLike {
  meta: Dataset;
  dict: Dataset;
  write(options?: Record<string, unknown>): ArrayBuffer;
}
interface DcmjsApi {
  data: {
    DicomMessage: { readFile(buf: ArrayBuffer, opts?: Record<string, unknown>): DicomDictLike };
    DicomMetaDictionary: {
      dictionary: Record<string, { name: string; vr: string } | undefined>;
      punctuateTag(tag: string): string;
    };
  };
}
const dcmjs = createRequire(import.meta.url)('dcmjs') as DcmjsApi;

/**
 * Strict parsing: a file dcmjs cannot read to the end is refused, because what was not parsed
 * cannot be checked. (ignoreErrors would silently drop or misread the tail.)
 */
const READ_OPTIONS = { ignoreErrors: false };

/** RadLink's implementation class UID in exported files (a fixed 2.25 UID, PS3.5 B.2). */
export const DEID_IMPLEMENTATION_CLASS_UID = '2.25.163946216301093364455208392624911880194';
export const DEID_METHOD = 'RadLink: PS3.15 E.1 Basic Profile';

/** SOP classes that often carry burned-in text: secondary capture, ultrasound, XA/RF, endoscopy video. */
const BURN_IN_PRONE = [
  '1.2.840.10008.5.1.4.1.1.7', // Secondary Capture family (…7, 7.1 – 7.4)
  '1.2.840.10008.5.1.4.1.1.6', // Ultrasound
  '1.2.840.10008.5.1.4.1.1.3', // Ultrasound multi-frame
  '1.2.840.10008.5.1.4.1.1.12', // XA / RF
  '1.2.840.10008.5.1.4.1.1.77', // VL (endoscopy, photographs)
];

export type DeidOutcome =
  | {
      ok: true;
      bytes: Buffer;
      studyUid: string;
      seriesUid: string;
      sopInstanceUid: string;
      /** Exported but to be reviewed (e.g. burned-in text possible and not declared). */
      flag?: string;
    }
  | {
      ok: false;
      reason: 'unreadable' | 'missing-uids' | 'burned-in-annotation' | 'recognizable-visual-features';
    };

export interface DeidOptions {
  uids: UidMapper;
}

const str = (e: Element | undefined): string | undefined => {
  const v = e?.Value?.[0];
  return typeof v === 'string' ? v.replace(/[\0 ]+$/, '').trim() : undefined;
};

/** Keeps the class of what is referenced: class and transfer syntax UIDs are not instance identity. */
function keepsUid(tag: string): boolean {
  const name =
    dcmjs.data.DicomMetaDictionary.dictionary[dcmjs.data.DicomMetaDictionary.punctuateTag(tag)]?.name;
  if (!name) return false;
  return /ClassUIDs?$|ClassesInStudy$|^TransferSyntaxUID$|^CodingSchemeUID$|^MappingResourceUID$/.test(name);
}

function setValue(el: Element, value: unknown[]): void {
  el.Value = value;
  delete el._rawValue;
  delete el.InlineBinary;
}

class Cleaner {
  constructor(
    private readonly uids: UidMapper,
    private readonly patientPseudonym: string,
  ) {}

  dataset(ds: Dataset): void {
    for (const tag of Object.keys(ds)) {
      const el = ds[tag]!;
      const group = Number.parseInt(tag.slice(0, 4), 16);
      const element = tag.slice(4).toUpperCase();
      // General rules: private attributes, curves, overlay data and comments.
      if (group % 2 === 1) {
        delete ds[tag];
        continue;
      }
      if ((group & 0xff00) === 0x5000) {
        delete ds[tag];
        continue;
      }
      if ((group & 0xff00) === 0x6000 && (element === '3000' || element === '4000')) {
        delete ds[tag];
        continue;
      }
      const entry = BASIC_PROFILE.get(tag.toUpperCase());
      if (entry) {
        this.apply(ds, tag, el, entry.action, entry.keyword);
        continue;
      }
      this.generic(ds, tag, el);
    }
  }

  private apply(ds: Dataset, tag: string, el: Element, action: string, keyword: string): void {
    switch (action) {
      case 'X':
        delete ds[tag];
        return;
      case 'Z':
        if (keyword === 'PatientID') setValue(el, [this.patientPseudonym]);
        else if (keyword === 'PatientName') setValue(el, [{ Alphabetic: this.patientPseudonym }]);
        else setValue(el, []);
        return;
      case 'D':
        if (el.vr === 'SQ') this.items(el);
        else if (el.vr === 'PN') setValue(el, [{ Alphabetic: DUMMY_BY_VR.PN }]);
        else if (DUMMY_BY_VR[el.vr] !== undefined) setValue(el, [DUMMY_BY_VR[el.vr]]);
        else delete ds[tag];
        return;
      case 'U':
        if (el.vr === 'SQ') this.items(el);
        else this.remap(el);
        return;
      default:
        if (el.vr === 'SQ') this.items(el);
    }
  }

  /** Attributes the table does not name. */
  private generic(ds: Dataset, tag: string, el: Element): void {
    switch (el.vr) {
      case 'SQ':
        this.items(el);
        return;
      case 'PN':
        setValue(el, []);
        return;
      case 'DA':
      case 'DT':
      case 'TM':
      // UN: bytes whose meaning is unknown (an unknown attribute or a sequence read as bytes) may
      // hold anything, names included; nothing unexamined is exported.
      case 'UN':
        delete ds[tag];
        return;
      case 'UI':
        if (!keepsUid(tag)) this.remap(el);
        return;
      default:
    }
  }

  private items(el: Element): void {
    for (const item of (el.Value ?? []) as Dataset[])
      if (item && typeof item === 'object') this.dataset(item);
  }

  private remap(el: Element): void {
    const values = (el.Value ?? []).map((v) => (typeof v === 'string' ? this.uids.map(v) : v));
    setValue(el, values);
  }
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

export function deidentify(bytes: Buffer, opts: DeidOptions): DeidOutcome {
  let file: DicomDictLike;
  try {
    file = dcmjs.data.DicomMessage.readFile(toArrayBuffer(bytes), READ_OPTIONS);
  } catch {
    return { ok: false, reason: 'unreadable' };
  }
  const ds = file.dict;
  if (str(ds['00280301'])?.toUpperCase() === 'YES') return { ok: false, reason: 'burned-in-annotation' };
  if (str(ds['00280302'])?.toUpperCase() === 'YES')
    return { ok: false, reason: 'recognizable-visual-features' };
  const sopClass = str(ds['00080016']) ?? '';
  const studyUid = str(ds['0020000D']);
  const seriesUid = str(ds['0020000E']);
  const sopUid = str(ds['00080018']);
  if (!studyUid || !seriesUid || !sopUid) return { ok: false, reason: 'missing-uids' };
  const flag =
    ds['00280301'] === undefined && BURN_IN_PRONE.some((p) => sopClass === p || sopClass.startsWith(`${p}.`))
      ? 'burned-in annotation not declared for a class that often carries it: review the pixels'
      : undefined;

  const pid = `${str(ds['00100020']) ?? ''}|${str(ds['00100021']) ?? ''}`;
  const cleaner = new Cleaner(opts.uids, opts.uids.pseudonym('patient', pid));
  try {
    cleaner.dataset(ds);
  } catch {
    return { ok: false, reason: 'unreadable' };
  }
  // Attributes that say what was done (PS3.15 E.1.1, PS3.3 C.12.1.1.7).
  ds['00080005'] = { vr: 'CS', Value: ['ISO_IR 192'] };
  ds['00120062'] = { vr: 'CS', Value: ['YES'] };
  ds['00120063'] = { vr: 'LO', Value: [DEID_METHOD] };
  ds['00120064'] = {
    vr: 'SQ',
    Value: [
      {
        '00080100': { vr: 'SH', Value: [BASIC_PROFILE_CODE.CodeValue] },
        '00080102': { vr: 'SH', Value: [BASIC_PROFILE_CODE.CodingSchemeDesignator] },
        '00080104': { vr: 'LO', Value: [BASIC_PROFILE_CODE.CodeMeaning] },
      },
    ],
  };
  ds['00280303'] = { vr: 'CS', Value: ['REMOVED'] };

  // File meta information: the instance UID follows the data set; nothing about the source remains.
  const meta = file.meta;
  for (const tag of Object.keys(meta)) {
    if (!['00020001', '00020002', '00020003', '00020010'].includes(tag)) delete meta[tag];
  }
  // A deflated input was inflated on read and is written inflated: say so (Explicit VR LE).
  if (str(meta['00020010']) === '1.2.840.10008.1.2.1.99')
    meta['00020010'] = { vr: 'UI', Value: ['1.2.840.10008.1.2.1'] };
  const newSop = opts.uids.map(sopUid);
  meta['00020003'] = { vr: 'UI', Value: [newSop] };
  meta['00020012'] = { vr: 'UI', Value: [DEID_IMPLEMENTATION_CLASS_UID] };
  meta['00020013'] = { vr: 'SH', Value: ['RADLINK_DEID'] };
  let out: Buffer;
  try {
    out = Buffer.from(file.write());
  } catch {
    return { ok: false, reason: 'unreadable' };
  }
  return {
    ok: true,
    bytes: out,
    studyUid: opts.uids.map(studyUid),
    seriesUid: opts.uids.map(seriesUid),
    sopInstanceUid: newSop,
    ...(flag ? { flag } : {}),
  };
}
