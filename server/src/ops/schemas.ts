/** Schemas shared by the operations routes (retention, holds, break-glass). */
import { Type } from '@sinclair/typebox';

/** A DICOM UID (PS3.5 9.1): digits and dots, at most 64 characters. */
export const DicomUid = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)*$', maxLength: 64 });
export const StudyParams = Type.Object({ studyUid: DicomUid }, { additionalProperties: false });
export const FacilityParams = Type.Object(
  { facilityId: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{1,62}$' }) },
  { additionalProperties: false },
);
export const Uuid = Type.String({ format: 'uuid' });
export const Timestamp = Type.String({ description: 'ISO 8601 timestamp' });
