/** WADO pure parts: VOI windowing (PS3.3 C.11.2.1.2), rendered parameters, frame lists, BulkDataURI rewriting, ETags. */
import { describe, expect, it } from 'vitest';
import { frameMediaTypeOf, parseFrameList } from '../../server/src/dicomweb/frames.js';
import { strongEtag } from '../../server/src/dicomweb/http-cache.js';
import { rewriteBulkDataUris } from '../../server/src/dicomweb/metadata.js';
import { parsePam16 } from '../../server/src/dicomweb/render.js';
import {
  applyWindow,
  minMaxWindow,
  parseQuality,
  parseViewport,
  parseWindowParam,
} from '../../server/src/dicomweb/windowing.js';

describe('applyWindow', () => {
  it.each([
    // LINEAR c=40 w=400: below c-0.5-(w-1)/2 = -160 → 0; above 239 → 255; centre ≈ 127.8
    ['LINEAR', 40, 400, [-1000, -160, 40, 239, 240, 3000], [0, 0, 128, 255, 255, 255]],
    ['LINEAR_EXACT', 0, 100, [-50, -25, 0, 25, 50, 51], [0, 64, 128, 191, 255, 255]],
    ['SIGMOID', 0, 100, [-1000, 0, 1000], [0, 128, 255]],
  ] as const)('%s', (fn, center, width, input, expected) => {
    expect([...applyWindow([...input], { center, width, fn })]).toEqual([...expected]);
  });
  it('inverts MONOCHROME1 and spans min..max when no window is given', () => {
    expect([...applyWindow([0, 10], minMaxWindow([0, 10]), true)]).toEqual([255, 0]);
  });
});

describe('rendered parameters (PS3.18 8.3.5.1)', () => {
  it('parses window, viewport and quality', () => {
    expect(parseWindowParam('40,400')).toEqual({ center: 40, width: 400, fn: 'LINEAR' });
    expect(parseWindowParam('-600,1500,sigmoid')).toEqual({ center: -600, width: 1500, fn: 'SIGMOID' });
    expect(parseViewport('256,256')).toEqual({ width: 256, height: 256 });
    expect(parseViewport('64,64,10,10,100,100').region).toEqual({
      left: 10,
      top: 10,
      width: 100,
      height: 100,
    });
    expect(parseQuality('75')).toBe(75);
  });
  it.each(['40', '40,0', 'a,b', '40,400,cubic', '1,2,linear,4'])('refuses window=%s', (w) => {
    expect(() => parseWindowParam(w)).toThrow(RangeError);
  });
  it.each(['0,10', '10', '1.5,2', '5000,10'])('refuses viewport=%s', (v) =>
    expect(() => parseViewport(v)).toThrow(RangeError),
  );
  it.each(['0', '101', '5.5'])('refuses quality=%s', (q) =>
    expect(() => parseQuality(q)).toThrow(RangeError),
  );
});

describe('frames', () => {
  it('parses frame lists and refuses bad ones', () => {
    expect(parseFrameList('3,1,2', 3)).toEqual([3, 1, 2]);
    expect(() => parseFrameList('0', 3)).toThrow(/comma-separated/);
    expect(() => parseFrameList('1,,2', 3)).toThrow(/comma-separated/);
    expect(() => parseFrameList('4', 3)).toThrow(/No such frame/);
  });
  it('names the media type of stored syntaxes', () => {
    expect(frameMediaTypeOf('1.2.840.10008.1.2.4.80')).toBe('image/jls');
    expect(frameMediaTypeOf('1.2.840.10008.1.2.4.90')).toBe('image/jp2');
    expect(frameMediaTypeOf('1.2.840.10008.1.2.5')).toBe('image/dicom-rle');
    expect(frameMediaTypeOf('1.2.840.10008.1.2.4.50')).toBe('image/jpeg');
    expect(frameMediaTypeOf('1.2.840.10008.1.2.1')).toBe('application/octet-stream');
  });
});

describe('metadata BulkDataURIs', () => {
  it('point at the gateway: pixel data at the frames, other bulk data at /bulk with a dotted path', () => {
    const o = 'http://127.0.0.1/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4';
    const ds: Record<string, unknown> = {
      '7FE00010': { vr: 'OW', BulkDataURI: `${o}/bulk/7fe00010` },
      '00420011': { vr: 'OB', BulkDataURI: `${o}/bulk/00420011` },
      '0040A730': {
        vr: 'SQ',
        Value: [{ '00420011': { vr: 'OB', BulkDataURI: `${o}/bulk/0040a730/0/00420011` } }],
      },
      '00091001': { vr: 'OB', BulkDataURI: 'http://elsewhere/x' },
    };
    rewriteBulkDataUris(ds, 'https://pacs.example', () => 3);
    const g = 'https://pacs.example/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4';
    expect(ds['7FE00010']).toEqual({ vr: 'OW', BulkDataURI: `${g}/frames/1,2,3` });
    expect(ds['00420011']).toEqual({ vr: 'OB', BulkDataURI: `${g}/bulk/00420011` });
    expect((ds['0040A730'] as { Value: Record<string, unknown>[] }).Value[0]!['00420011']).toEqual({
      vr: 'OB',
      BulkDataURI: `${g}/bulk/0040a730.0.00420011`,
    });
    expect(ds['00091001']).toEqual({ vr: 'OB' });
  });
});

describe('misc', () => {
  it('ETags are strong, stable and distinct per representation', () => {
    expect(strongEtag('a', 1)).toMatch(/^"[0-9a-f]{40}"$/);
    expect(strongEtag('a', 1)).toBe(strongEtag('a', 1));
    expect(strongEtag('a', 1)).not.toBe(strongEtag('a', 2));
  });
  it('parses 16-bit PAM, signed and unsigned', () => {
    const head = Buffer.from(
      'P7\nWIDTH 2\nHEIGHT 1\nDEPTH 1\nMAXVAL 65535\nTUPLTYPE GRAYSCALE\nENDHDR\n',
      'latin1',
    );
    const pam = Buffer.concat([head, Buffer.from([0xff, 0xff, 0x00, 0x10])]);
    expect([...parsePam16(pam, true).values]).toEqual([-1, 16]);
    expect([...parsePam16(pam, false).values]).toEqual([65535, 16]);
  });
});
