/**
 * Wire shapes of the key-image routes. Responses are declared so that nothing beyond these fields
 * (no patient data) leaves the server.
 */
import { type Static, Type } from '@sinclair/typebox';

/** A DICOM UID (PS3.5 9.1): digits and dots, at most 64 characters. */
export const Uid = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)*$', maxLength: 64 });

export const StudyParams = Type.Object({ studyUid: Uid });
export const InstanceParams = Type.Object({ studyUid: Uid, sopInstanceUid: Uid });
/** Frames are 1-based (PS3.3 Referenced Frame Number). */
export const FrameParams = Type.Object({
  studyUid: Uid,
  sopInstanceUid: Uid,
  frame: Type.Integer({ minimum: 1, maximum: 100000 }),
});

export const MAX_NOTE = 500;

export const KeyImageBody = Type.Object(
  {
    /** Why this image matters; empty or absent = no note. */
    note: Type.Optional(Type.Union([Type.String({ maxLength: MAX_NOTE }), Type.Null()])),
  },
  { additionalProperties: false },
);
export type KeyImageBody = Static<typeof KeyImageBody>;

export const KeyImage = Type.Object({
  sopInstanceUid: Type.String(),
  seriesUid: Type.String(),
  frame: Type.Integer(),
  note: Type.Union([Type.String(), Type.Null()]),
  markedBy: Type.Object({ userId: Type.Union([Type.String(), Type.Null()]), name: Type.String() }),
  markedAt: Type.String({ format: 'date-time' }),
});
export type KeyImage = Static<typeof KeyImage>;

/**
 * The study's Key Object Selection as published into the study (publish.ts): the current one's
 * SOP Instance UID (null when the list is empty), whether a publication is under way on this
 * gateway, and the last failure (cleared by the next success). Absent until the list first changed.
 */
export const KosPublication = Type.Object({
  sopInstanceUid: Type.Union([Type.String(), Type.Null()]),
  revision: Type.Integer(),
  publishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  pending: Type.Boolean(),
  lastError: Type.Union([
    Type.Object({ reason: Type.String(), at: Type.String({ format: 'date-time' }) }),
    Type.Null(),
  ]),
});
export type KosPublication = Static<typeof KosPublication>;

export const KeyImageList = Type.Object({
  studyUid: Type.String(),
  keyImages: Type.Array(KeyImage),
  publication: Type.Optional(KosPublication),
});
export type KeyImageList = Static<typeof KeyImageList>;
