/**
 * Objects the gateway derives into a study (the signed report's Encapsulated PDF and SR, the key
 * images' Key Object Selection): storing them in Orthanc and indexing them like any instance (the
 * index offers each to the archive), reading the patient/study attributes they copy, and removing
 * one that a newer object supersedes.
 *
 * Invariant: Orthanc keeps the first object stored under a SOP Instance UID (OverwriteInstances
 * is false), so a store is accepted only when Orthanc then holds exactly the bytes given; callers
 * give every changed object a UID of its own.
 */
import { createHash } from 'node:crypto';
import type { Queryable } from '../../db/client.js';
import { orthancInstancesOf, storedSha256 } from '../../dicomweb/orthanc-files.js';
import type { Indexer } from '../../index/indexer.js';
import type { OrthancClient } from '../../plugins/orthanc.js';

/** Orthanc holds a different object under the UID: retrying the same bytes cannot succeed. */
export class DerivedUidConflict extends Error {
  constructor(what: string) {
    super(`Orthanc holds a different object under the UID of the ${what}`);
    this.name = 'DerivedUidConflict';
  }
}

export interface DerivedStoreDeps {
  orthanc: OrthancClient;
  indexer: Indexer;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Stores one derived object in Orthanc and indexes it (source 'derived'); returns the file's
 * SHA-256. "AlreadyStored" after an earlier run is fine only if Orthanc holds exactly these bytes.
 * `what` names the object in errors (no patient data).
 */
export async function storeDerivedInstance(
  d: DerivedStoreDeps,
  file: Buffer,
  facilityId: string | null,
  what: string,
): Promise<string> {
  const fileSha = sha256(file);
  const res = await d.orthanc.request('POST', '/instances', {
    headers: { 'content-type': 'application/dicom' },
    body: file,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`Orthanc answered ${res.statusCode} storing the ${what}`);
  const stored = JSON.parse(text) as { ID: string; Status: string };
  if ((await storedSha256(d.orthanc, stored.ID)) !== fileSha) throw new DerivedUidConflict(what);
  await d.indexer.indexOrthancInstance(stored.ID, {
    facilityId,
    source: 'derived',
    sha256: fileSha,
    sizeBytes: file.length,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
  });
  return fileSha;
}

/**
 * Removes a derived instance from Orthanc and from the index (the change feed's later `Deleted`
 * event then finds nothing left to remove). An instance Orthanc no longer has counts as removed.
 * Its archive copy, if one was made, stays: archive objects are content-addressed and written
 * once, and an archive job still in flight for it ends on its own when Orthanc no longer has it.
 */
export async function removeDerivedInstance(
  d: DerivedStoreDeps & { db: Queryable },
  sopInstanceUid: string,
): Promise<void> {
  const rows = await d.db.query<{ orthanc_id: string | null }>(
    'SELECT orthanc_id FROM instances WHERE sop_instance_uid = $1',
    [sopInstanceUid],
  );
  const ids = new Set<string>(rows.flatMap((r) => (r.orthanc_id ? [r.orthanc_id] : [])));
  for (const id of await orthancInstancesOf(d.orthanc, sopInstanceUid)) ids.add(id);
  for (const id of ids) {
    const res = await d.orthanc.request('DELETE', `/instances/${id}`);
    await res.body.text();
    if (res.statusCode !== 200 && res.statusCode !== 404)
      throw new Error(`Orthanc answered ${res.statusCode} to the deletion of a derived instance`);
    await d.indexer.removeOrthancResource('Instance', id);
  }
  // A row whose Orthanc id was unknown (or stale) goes too: the instance exists nowhere now.
  await d.db.query('DELETE FROM instances WHERE sop_instance_uid = $1', [sopInstanceUid]);
}

/** The patient and study attributes the index holds for a study, as DICOM keywords. */
export interface IndexedStudyAttributes {
  patient_id: string | null;
  issuer_of_patient_id: string | null;
  patient_name: string | null;
  patient_sex: string | null;
  patient_birth_date: string | null;
  study_date: string | null;
  study_time: string | null;
  accession_number: string | null;
  study_id: string | null;
  study_description: string | null;
  referring_physician_name: string | null;
}

/**
 * Patient and study attributes as Orthanc files the study (falls back to the index). Orthanc's
 * own values win: its study and patient ids hash PatientID exactly as it holds it, so the derived
 * object is filed under the same patient and study.
 */
export async function studyAttributesForDerived(
  orthanc: OrthancClient,
  studyUid: string,
  study: IndexedStudyAttributes,
): Promise<Record<string, string>> {
  const fromIndex: Record<string, string> = {
    PatientName: study.patient_name ?? '',
    PatientID: study.patient_id ?? '',
    IssuerOfPatientID: study.issuer_of_patient_id ?? '',
    PatientBirthDate: study.patient_birth_date ?? '',
    PatientSex: study.patient_sex ?? '',
    StudyDate: study.study_date ?? '',
    StudyTime: (study.study_time ?? '').replace(/[^0-9.]/g, ''),
    AccessionNumber: study.accession_number ?? '',
    StudyID: study.study_id ?? '',
    ReferringPhysicianName: study.referring_physician_name ?? '',
    StudyDescription: study.study_description ?? '',
  };
  const res = await orthanc.request('POST', '/tools/lookup', { body: studyUid });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`Orthanc answered ${res.statusCode} to a study lookup`);
  const found = (JSON.parse(text) as { ID: string; Type: string }[]).find((f) => f.Type === 'Study');
  if (!found) return fromIndex;
  const s = await orthanc.json<{
    MainDicomTags: Record<string, string>;
    PatientMainDicomTags: Record<string, string>;
  }>('GET', `/studies/${found.ID}`);
  return { ...fromIndex, ...s.PatientMainDicomTags, ...s.MainDicomTags };
}
