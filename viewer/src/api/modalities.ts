/**
 * Series without pixels to show: reports (Encapsulated PDF, SR), key object selections (KO, the
 * key images RadLink publishes into the study), presentation states, segmentations and RT
 * objects. No thumbnail, no slice browsing; the study viewer and the patient pages share this
 * list. Pure (no DOM), so unit tests import it.
 */
export const NON_IMAGE_MODALITIES: ReadonlySet<string> = new Set([
  'DOC',
  'SR',
  'KO',
  'PR',
  'SEG',
  'RTSTRUCT',
  'RTPLAN',
  'REG',
  'FID',
]);

export const isImageModality = (modality: string | null | undefined) =>
  !NON_IMAGE_MODALITIES.has(modality ?? '');
