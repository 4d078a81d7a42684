/**
 * STOW-RS warnings (PS3.4 B.2.3, PS3.18 10.5.3): objects the archive stores as received although
 * they contradict their SOP class get WarningReason 0xB007 in their ReferencedSOPSequence item and
 * make the answer 202; conforming objects, and objects whose class needs no pixels, get none.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { stowHttpStatus, stowResponseBody } from '../../server/src/dicomweb/stow-response.js';
import { validatePart10 } from '../../server/src/dicomweb/stow-validate.js';
import { CT_IMAGE_STORAGE, EXPLICIT_LE, makeInstance, newUid } from '../helpers/dicom.js';

interface DcmjsApi {
  data: {
    DicomDict: new (meta: unknown) => { dict: unknown; write(): ArrayBuffer };
    DicomMetaDictionary: { denaturalizeDataset(ds: Record<string, unknown>): unknown };
  };
}
const { DicomDict, DicomMetaDictionary } = (createRequire(import.meta.url)('dcmjs') as DcmjsApi).data;

const KEY_OBJECT_SELECTION = '1.2.840.10008.5.1.4.1.1.88.59';

/** A Part 10 file from a meta header and a data set, written as given (mismatches included). */
function part10(o: { metaClass: string; metaInstance: string; ds: Record<string, unknown> }): Buffer {
  const dict = new DicomDict(
    DicomMetaDictionary.denaturalizeDataset({
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
      MediaStorageSOPClassUID: o.metaClass,
      MediaStorageSOPInstanceUID: o.metaInstance,
      TransferSyntaxUID: EXPLICIT_LE,
      ImplementationClassUID: '2.25.1',
    }),
  );
  dict.dict = DicomMetaDictionary.denaturalizeDataset(o.ds);
  return Buffer.from(dict.write());
}

function dataset(sopClass: string, sop: string): Record<string, unknown> {
  return {
    SOPClassUID: sopClass,
    SOPInstanceUID: sop,
    StudyInstanceUID: newUid(),
    SeriesInstanceUID: newUid(),
    PatientID: 'W-1',
    Modality: sopClass === CT_IMAGE_STORAGE ? 'CT' : 'KO',
  };
}

const warningOf = (bytes: Buffer) => {
  const v = validatePart10(bytes, { maxBytes: 1 << 20 });
  if (!v.ok) throw new Error(`refused: ${v.comment}`);
  return v.instance.warning;
};

describe('STOW warnings (0xB007)', () => {
  const sop = newUid();
  it.each([
    ['a conforming CT image', makeInstance().bytes, undefined],
    [
      'a key object selection (no pixels by definition)',
      part10({ metaClass: KEY_OBJECT_SELECTION, metaInstance: sop, ds: dataset(KEY_OBJECT_SELECTION, sop) }),
      undefined,
    ],
    [
      'a CT image without Pixel Data',
      part10({ metaClass: CT_IMAGE_STORAGE, metaInstance: sop, ds: dataset(CT_IMAGE_STORAGE, sop) }),
      'An image storage SOP class without Pixel Data.',
    ],
    [
      'file meta naming another SOP class',
      part10({ metaClass: KEY_OBJECT_SELECTION, metaInstance: sop, ds: dataset(CT_IMAGE_STORAGE, sop) }),
      'The file meta names another SOP class than the data set.',
    ],
    [
      'file meta naming another SOP instance',
      part10({
        metaClass: KEY_OBJECT_SELECTION,
        metaInstance: newUid(),
        ds: dataset(KEY_OBJECT_SELECTION, sop),
      }),
      'The file meta names another SOP instance than the data set.',
    ],
    [
      'pixels without PhotometricInterpretation and BitsStored',
      makeInstance({ omit: ['PhotometricInterpretation', 'BitsStored'] }).bytes,
      'Image Pixel module lacks PhotometricInterpretation, BitsStored.',
    ],
  ])('%s', (_name, bytes, comment) => {
    const w = warningOf(bytes);
    if (comment === undefined) expect(w).toBeUndefined();
    else expect(w).toEqual({ reason: 0xb007, comment });
  });

  it('a warned instance makes the answer 202 and carries WarningReason and its comment', () => {
    const base = { studyUid: '1.2', seriesUid: '1.3', alreadyStored: false } as const;
    const outcomes = [
      { status: 'stored' as const, sopClassUid: '1.2.3', sopInstanceUid: '1.4', ...base },
      {
        status: 'stored' as const,
        sopClassUid: CT_IMAGE_STORAGE,
        sopInstanceUid: '1.5',
        ...base,
        warning: 0xb007,
        warningComment: 'An image storage SOP class without Pixel Data.',
      },
    ];
    expect(stowHttpStatus(outcomes)).toBe(202);
    expect(stowHttpStatus([outcomes[0]!])).toBe(200);
    const body = stowResponseBody(outcomes, (o) => `/x/${o.sopInstanceUid}`, undefined);
    const items = body['00081199']!.Value as Record<string, { Value: unknown[] }>[];
    expect(items[0]!['00081196']).toBeUndefined();
    expect(items[1]!['00081196']).toEqual({ vr: 'US', Value: [0xb007] });
    expect(items[1]!['00000902']!.Value[0]).toBe('An image storage SOP class without Pixel Data.');
    expect(body['00081198']).toBeUndefined();
  });
});
