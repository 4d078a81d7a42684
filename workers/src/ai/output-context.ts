/**
 * What the SEG and the SR of a run share: the patient and study modules copied from a source
 * image (so Orthanc files both under the same patient and study), the series they derive from,
 * and the model's identity as IHE AI Results (AIR) asks for it — Contributing Equipment with
 * purpose "Processing Equipment" naming the model (manufacturer = creator, model name, version)
 * and the "not for clinical use" label until the model is cleared.
 */
import type { ModelManifest } from '../../../contracts/model-manifest.js';
import type { Dataset } from './dcmjs.js';
import type { RunOutputUids } from './uids.js';
import type { Geometry } from './volume.js';

export interface OutputContext {
  manifest: ModelManifest;
  /** Header of one source image (naturalized). */
  source: Dataset;
  /** Source SOP Instance UIDs in slice order k (the volume's D axis). */
  sourceSops: string[];
  sopClassUid: string;
  seriesUid: string;
  frameOfReferenceUid: string;
  geometry: Geometry;
  uids: RunOutputUids;
  /** When the run produced its results. */
  at: Date;
}

const PATIENT_STUDY_KEYS = [
  'SpecificCharacterSet',
  'PatientName',
  'PatientID',
  'IssuerOfPatientID',
  'PatientBirthDate',
  'PatientSex',
  'OtherPatientIDsSequence',
  'StudyInstanceUID',
  'StudyDate',
  'StudyTime',
  'ReferringPhysicianName',
  'StudyID',
  'AccessionNumber',
  'StudyDescription',
];

export function patientStudyModules(source: Dataset): Dataset {
  const out: Dataset = {};
  for (const k of PATIENT_STUDY_KEYS) if (source[k] !== undefined) out[k] = source[k];
  return out;
}

export const da = (d: Date) => d.toISOString().slice(0, 10).replace(/-/g, '');
export const tm = (d: Date) => d.toISOString().slice(11, 19).replace(/:/g, '');

export const code = (value: string, scheme: string, meaning: string) => ({
  CodeValue: value,
  CodingSchemeDesignator: scheme,
  CodeMeaning: meaning,
});

export function contributingEquipment(m: ModelManifest, at: Date): Dataset[] {
  return [
    {
      Manufacturer: m.creator.name.slice(0, 64),
      ManufacturerModelName: m.name.slice(0, 64),
      SoftwareVersions: `${m.id} ${m.version}`.slice(0, 64),
      DeviceSerialNumber: m.sha256.slice(0, 64),
      InstitutionName: 'RadLink',
      PurposeOfReferenceCodeSequence: [code('109102', 'DCM', 'Processing Equipment')],
      ContributionDateTime: `${da(at)}${tm(at)}`,
      ContributionDescription: `${m.label}: ${m.id} ${m.version}`.slice(0, 64),
    },
  ];
}

/** Equipment and general-series attributes of an AI output object. */
export function seriesAndEquipment(
  ctx: OutputContext,
  o: { modality: 'SEG' | 'SR'; seriesUid: string; seriesNumber: number; description: string },
): Dataset {
  const m = ctx.manifest;
  return {
    Modality: o.modality,
    SeriesInstanceUID: o.seriesUid,
    SeriesNumber: o.seriesNumber,
    // The label first: the description is cut at 64 characters and the label must survive.
    SeriesDescription: `${m.label} — ${o.description}`.slice(0, 64),
    SeriesDate: da(ctx.at),
    SeriesTime: tm(ctx.at),
    Manufacturer: m.creator.name.slice(0, 64),
    ManufacturerModelName: m.name.slice(0, 64),
    SoftwareVersions: m.version,
    DeviceSerialNumber: m.sha256.slice(0, 64),
    ContributingEquipmentSequence: contributingEquipment(m, ctx.at),
    InstanceCreationDate: da(ctx.at),
    InstanceCreationTime: tm(ctx.at),
    ContentDate: da(ctx.at),
    ContentTime: tm(ctx.at),
  };
}
