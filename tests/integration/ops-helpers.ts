/**
 * Instances for the operations tests: tests/helpers/dicom.ts makeInstance with the study date and
 * modality set (retention needs backdated studies), re-encoded with dcmjs.
 */
import { createRequire } from 'node:module';
import type { OrthancClient } from '../../server/src/plugins/orthanc.js';
import { type InstanceOptions, type MadeInstance, makeInstance } from '../helpers/dicom.js';

type Ds = Record<string, { vr: string; Value?: unknown[] }>;
const dcmjs = createRequire(import.meta.url)('dcmjs') as {
  data: { DicomMessage: { readFile(b: ArrayBuffer): { dict: Ds; write(): ArrayBuffer } } };
};

export function datedInstance(
  o: InstanceOptions & { studyDate: string; modality?: string; extra?: Ds },
): MadeInstance {
  const m = makeInstance(o);
  const f = dcmjs.data.DicomMessage.readFile(
    m.bytes.buffer.slice(m.bytes.byteOffset, m.bytes.byteOffset + m.bytes.length) as ArrayBuffer,
  );
  f.dict['00080020'] = { vr: 'DA', Value: [o.studyDate] };
  if (o.modality) f.dict['00080060'] = { vr: 'CS', Value: [o.modality] };
  Object.assign(f.dict, o.extra ?? {});
  return { ...m, bytes: Buffer.from(f.write()) };
}

/** YYYYMMDD of today minus `years` (UTC), shifted by `days`. */
export function yearsAgo(years: number, days = 0): string {
  const now = new Date();
  const d = new Date(Date.UTC(now.getUTCFullYear() - years, now.getUTCMonth(), now.getUTCDate() + days));
  return d.toISOString().slice(0, 10).replace(/-/g, '');
}

/** Whether Orthanc holds anything under this UID (its /tools/lookup takes the bare UID as body). */
export async function orthancHas(orthanc: OrthancClient, uid: string): Promise<boolean> {
  const res = await orthanc.request('POST', '/tools/lookup', { body: uid });
  const found = JSON.parse(await res.body.text()) as unknown[];
  return found.length > 0;
}
