/** Public surface of the synthetic study generator. */
export { type Anatomy, buildAnatomy, tissueAt } from './anatomy.js';
export { type CatalogueEntry, demoCatalogue } from './catalogue.js';
export {
  CT_IMAGE_STORAGE,
  EXPLICIT_VR_LITTLE_ENDIAN,
  MR_IMAGE_STORAGE,
  writePart10,
} from './dicom-writer.js';
export {
  patientToVoxel,
  slicePosition,
  type Vec3,
  type VolumeGeometry,
  voxelToPatient,
  voxelVolume,
} from './geometry.js';
export type { LesionOrgan, LesionSpec } from './lesions.js';
export {
  type BodyRegion,
  type GenerateStudyOptions,
  type GroundTruth,
  type GroundTruthLesion,
  generateStudy,
  type Modality,
  type SynthSeries,
  type SynthStudy,
  type SynthStudyInfo,
} from './study.js';
export { type SeriesKind, Tissue, tissueTable } from './tissues.js';
export { uidFor } from './uids.js';
