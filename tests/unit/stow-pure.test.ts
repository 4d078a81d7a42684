/** STOW-RS pure parts: part validation (FailureReason per defect) and the response status rules. */
import { describe, expect, it } from 'vitest';
import {
  type InstanceOutcome,
  stowHttpStatus,
  stowResponseBody,
} from '../../server/src/dicomweb/stow-response.js';
import { expectedNativePixelBytes, validatePart10 } from '../../server/src/dicomweb/stow-validate.js';
import { makeInstance, newUid } from '../helpers/dicom.js';

const MAX = 1 << 20;

describe('validatePart10', () => {
  const good = makeInstance();
  it.each([
    ['a valid instance', good.bytes, {}, null],
    ['not Part 10', Buffer.from('hello'), {}, 0xc000],
    [
      'no DICM prefix',
      Buffer.concat([Buffer.alloc(128), Buffer.from('DICX'), good.bytes.subarray(132)]),
      {},
      0xc000,
    ],
    ['truncated', good.bytes.subarray(0, 400), {}, 0xc000],
    ['missing SOPInstanceUID', makeInstance({ omit: ['SOPInstanceUID'] }).bytes, {}, 0xc000],
    ['missing SeriesInstanceUID', makeInstance({ omit: ['SeriesInstanceUID'] }).bytes, {}, 0xc000],
    ['malformed study UID', makeInstance({ studyUid: '1.02.3' }).bytes, {}, 0xc000],
    ['study differs from URL', good.bytes, { studyUid: newUid() }, 0xa900],
    ['pixel data too short', makeInstance({ rows: 8, columns: 8, pixelBytes: 64 }).bytes, {}, 0xa900],
    [
      'frames do not fit',
      makeInstance({ rows: 8, columns: 8, frames: 2, pixelBytes: 128 }).bytes,
      {},
      0xa900,
    ],
    ['unknown transfer syntax', makeInstance({ transferSyntaxUid: '1.2.3.4.5' }).bytes, {}, 0xc122],
    ['not a storage SOP class', makeInstance({ sopClassUid: '1.2.840.10008.1.3.10' }).bytes, {}, 0x0122],
    ['over the size limit', good.bytes, { maxBytes: 100 }, 0xa700],
  ])('%s', (_name, bytes, opts, reason) => {
    const v = validatePart10(bytes, { maxBytes: MAX, ...opts });
    if (reason === null)
      expect(v).toMatchObject({
        ok: true,
        instance: { sopInstanceUid: good.sopInstanceUid, transferSyntaxUid: '1.2.840.10008.1.2.1' },
      });
    else expect(v).toMatchObject({ ok: false, reason });
  });

  it('keeps the UIDs it could read in a failure, for the FailedSOPSequence', () => {
    const m = makeInstance({ rows: 8, columns: 8, pixelBytes: 10 });
    expect(validatePart10(m.bytes, { maxBytes: MAX })).toMatchObject({
      ok: false,
      sopInstanceUid: m.sopInstanceUid,
      sopClassUid: m.sopClassUid,
    });
  });

  it('computes native sizes for 1-bit, 4:2:2 and multi-frame data', () => {
    expect(
      expectedNativePixelBytes({ rows: 3, columns: 3, samplesPerPixel: 1, bitsAllocated: 1, frames: 1 }),
    ).toBe(2);
    expect(
      expectedNativePixelBytes({
        rows: 2,
        columns: 2,
        samplesPerPixel: 3,
        bitsAllocated: 8,
        frames: 1,
        photometric: 'YBR_FULL_422',
      }),
    ).toBe(8);
    expect(
      expectedNativePixelBytes({ rows: 4, columns: 4, samplesPerPixel: 1, bitsAllocated: 16, frames: 3 }),
    ).toBe(96);
  });
});

describe('STOW response', () => {
  const ok: InstanceOutcome = {
    status: 'stored',
    sopClassUid: '1.2',
    sopInstanceUid: '1.2.3',
    studyUid: '1',
    seriesUid: '2',
    alreadyStored: false,
  };
  const warn: InstanceOutcome = { ...ok, warning: 0xb000 } as InstanceOutcome;
  const bad: InstanceOutcome = { status: 'failed', reason: 0xc000, comment: 'no' };
  it.each([
    [[ok], 200],
    [[ok, ok], 200],
    [[ok, bad], 202],
    [[warn], 202],
    [[bad], 409],
    [[bad, bad], 409],
  ] as const)('%j → %i', (outcomes, status) => {
    expect(stowHttpStatus([...outcomes])).toBe(status);
  });

  it('lists references with RetrieveURLs and failures with reasons and comments', () => {
    const body = stowResponseBody([ok, bad], (o) => `u/${o.sopInstanceUid}`, 'u/study');
    expect(body['00081190']).toEqual({ vr: 'UR', Value: ['u/study'] });
    expect(body['00081199']!.Value![0]).toMatchObject({
      '00081155': { vr: 'UI', Value: ['1.2.3'] },
      '00081190': { vr: 'UR', Value: ['u/1.2.3'] },
    });
    expect(body['00081198']!.Value![0]).toMatchObject({
      '00081197': { vr: 'US', Value: [0xc000] },
      '00000902': { Value: ['no'] },
    });
  });
});
