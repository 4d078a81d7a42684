/**
 * The identifiers of a DICOM file, read in the browser (dicom-parser) from its header only: the
 * upload skips what the server already holds by SOP Instance UID, so a resumed upload re-sends
 * nothing that was stored.
 */
import { parseDicom } from 'dicom-parser';

export interface DicomIds {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
}

export type HeaderResult =
  | { ok: true; ids: DicomIds }
  | { ok: false; why: 'not-dicom' | 'dicomdir' | 'no-uids' };

const HEAD_BYTES = 256 * 1024;
const DICOMDIR_CLASS = '1.2.840.10008.1.3.10';

function isPart10(b: Uint8Array): boolean {
  return b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;
}

/** Parses the identifiers from bytes (the whole file or at least its header). */
export function idsFromBytes(bytes: Uint8Array): HeaderResult | 'need-more' {
  if (!isPart10(bytes)) return { ok: false, why: 'not-dicom' };
  let ds: ReturnType<typeof parseDicom>;
  try {
    ds = parseDicom(bytes, { untilTag: 'x7fe00010' });
  } catch {
    return 'need-more';
  }
  const sopClassUid = ds.string('x00080016') ?? ds.string('x00020002') ?? '';
  if (sopClassUid === DICOMDIR_CLASS || ds.string('x00020002') === DICOMDIR_CLASS)
    return { ok: false, why: 'dicomdir' };
  const studyUid = ds.string('x0020000d');
  const seriesUid = ds.string('x0020000e');
  const sopInstanceUid = ds.string('x00080018') ?? ds.string('x00020003');
  if (!studyUid || !seriesUid || !sopInstanceUid) return { ok: false, why: 'no-uids' };
  return { ok: true, ids: { studyUid, seriesUid, sopInstanceUid, sopClassUid } };
}

export async function readIds(blob: Blob): Promise<HeaderResult> {
  if (blob.size > HEAD_BYTES) {
    const head = idsFromBytes(new Uint8Array(await blob.slice(0, HEAD_BYTES).arrayBuffer()));
    if (head !== 'need-more') return head;
  }
  const all = idsFromBytes(new Uint8Array(await blob.arrayBuffer()));
  return all === 'need-more' ? { ok: false, why: 'not-dicom' } : all;
}
