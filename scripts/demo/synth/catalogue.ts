/**
 * The demo studies the demo loader installs: spread over the patients and the four facility
 * tiers, with several dates so priors exist (one patient has two CT studies at the same
 * facility, another a CT and a later MR). Seeds are fixed, so the catalogue is the same on
 * every machine.
 */
import { DEMO_PATIENTS, type DemoPatient, findPatient } from '../patients.js';
import type { GenerateStudyOptions } from './study.js';

export interface CatalogueEntry {
  /** Stable short name, used for output folders. */
  name: string;
  /** Options for generateStudy (the patient object is resolved from patientKey). */
  options: GenerateStudyOptions;
  patientKey: string;
  /** Why this study is in the demo. */
  purpose: string;
}

function entry(
  name: string,
  patientKey: string,
  purpose: string,
  rest: Omit<GenerateStudyOptions, 'patient'>,
): CatalogueEntry {
  const patient: DemoPatient = findPatient(patientKey);
  return { name, patientKey, purpose, options: { ...rest, patient } };
}

export function demoCatalogue(): CatalogueEntry[] {
  const list: CatalogueEntry[] = [
    entry('khai-ct-2024', 'khai', 'prior CT, central hospital', {
      seed: 1001,
      anatomySeed: 1001,
      modality: 'CT',
      rows: 256,
      slices: 120,
      lesions: 2,
      studyDate: '20240315',
      studyTime: '091520',
    }),
    entry(
      'khai-ct-2025',
      'khai',
      'follow-up CT at the same facility: same anatomy and first two lesions as the prior, one new lesion',
      {
        seed: 1002,
        anatomySeed: 1001,
        modality: 'CT',
        rows: 256,
        slices: 120,
        lesions: 3,
        studyDate: '20250310',
        studyTime: '101205',
      },
    ),
    entry('hung-ct-huyen', 'hung', 'district CT (HUYEN_CT) sent up for a remote read', {
      seed: 1003,
      modality: 'CT',
      rows: 256,
      slices: 100,
      lesions: 1,
      studyDate: '20250402',
      studyTime: '143000',
    }),
    entry('anh-mr-liver', 'anh', 'provincial MR abdomen, T2 + T2 fat-sat', {
      seed: 1004,
      modality: 'MR',
      region: 'abdomen',
      rows: 256,
      slices: 30,
      lesions: 2,
      studyDate: '20250211',
      studyTime: '083045',
    }),
    entry('duc-ct-512', 'duc', 'one full-resolution 512×512 CT', {
      seed: 1005,
      modality: 'CT',
      rows: 512,
      slices: 120,
      lesions: 2,
      studyDate: '20250120',
      studyTime: '160510',
    }),
    entry('chau-mr-pelvis', 'chau', 'MR pelvis with a rectal-wall lesion', {
      seed: 1006,
      modality: 'MR',
      region: 'pelvis',
      rows: 256,
      slices: 28,
      lesions: 1,
      studyDate: '20250505',
      studyTime: '111500',
    }),
    entry('huong-ct-huyen', 'huong', 'district CT, signed 16-bit pixels', {
      seed: 1007,
      modality: 'CT',
      rows: 256,
      slices: 110,
      lesions: 2,
      ctPixelRepresentation: 1,
      studyDate: '20250418',
      studyTime: '075900',
    }),
    entry('tien-ct-2023', 'tien', 'older prior for the elderly patient', {
      seed: 1008,
      modality: 'CT',
      rows: 256,
      slices: 120,
      lesions: 1,
      studyDate: '20231102',
      studyTime: '132010',
    }),
    entry('tien-mr-2025', 'tien', 'later MR for the same patient (prior of another modality)', {
      seed: 1009,
      modality: 'MR',
      region: 'abdomen',
      rows: 256,
      slices: 30,
      lesions: 2,
      studyDate: '20250602',
      studyTime: '094500',
    }),
  ];
  // Invariant: every catalogue patient exists and belongs to a known facility.
  for (const e of list)
    if (!DEMO_PATIENTS.includes(e.options.patient)) throw new Error(`bad catalogue patient ${e.patientKey}`);
  return list;
}
