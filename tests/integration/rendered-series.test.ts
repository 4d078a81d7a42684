/**
 * WADO-RS rendered series (PS3.18 10.4.1.1.5): the series' instances rendered, one part each, in
 * series order, each part the same image as the instance's own rendered resource; a client that
 * accepts a single image only gets the series' representative (middle) image; window, quality and
 * viewport apply to every part; the answer is revalidated (ETag changes when the series grows);
 * access and input errors answer 404, 400 and 406 like the other rendered resources.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMultipartRelated } from '../../server/src/dicomweb/multipart.js';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { type MadeInstance, makeInstance, newUid } from '../helpers/dicom.js';
import { facilityUser, stow } from '../helpers/dicomweb.js';

let t: TestApp;
let tokA: string;
let tokB: string;
let made: MadeInstance[];
const studyUid = newUid();
const seriesUid = newUid();

beforeAll(async () => {
  t = await buildTestApp({ name: 'rendered-series' });
  tokA = await facilityUser(t, 'bv-render-a', 'render.a');
  tokB = await facilityUser(t, 'bv-render-b', 'render.b');
  made = [1, 2, 3].map((n) =>
    makeInstance({ studyUid, seriesUid, instanceNumber: n, seed: n * 31, rows: 40, columns: 32 }),
  );
  // Sent out of order: the answer follows InstanceNumber, not arrival.
  const res = await stow(t, tokA, [made[2]!.bytes, made[0]!.bytes, made[1]!.bytes]);
  expect(res.statusCode, res.body).toBe(200);
});
afterAll(async () => t?.close());

const SERIES = `/dicom-web/studies/${studyUid}/series/${seriesUid}/rendered`;
const instanceRendered = (m: MadeInstance) =>
  `/dicom-web/studies/${studyUid}/series/${seriesUid}/instances/${m.sopInstanceUid}/rendered`;

async function get(url: string, headers: Record<string, string> = {}, token = tokA) {
  return t.app.inject({ method: 'GET', url, headers: { ...bearer(token), ...headers } });
}

describe('rendered series', () => {
  it('answers multipart/related of every instance rendered, in series order, each equal to the instance rendered', async () => {
    const res = await get(SERIES);
    expect(res.statusCode, res.body).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^multipart\/related; type="image\/jpeg"; boundary=/);
    expect(res.headers['cache-control']).toBe('private, no-cache');
    expect(res.headers['content-encoding']).toBeUndefined();
    const parts = parseMultipartRelated(res.rawPayload, String(res.headers['content-type']));
    expect(parts).toHaveLength(3);
    for (const [i, part] of parts.entries()) {
      expect(part.headers['content-type']).toBe('image/jpeg');
      expect(part.headers['content-location']).toBe(instanceRendered(made[i]!));
      const single = await get(instanceRendered(made[i]!), { accept: 'image/jpeg' });
      expect(Buffer.from(part.body).equals(single.rawPayload)).toBe(true);
      const meta = await sharp(Buffer.from(part.body)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 32, 40]);
    }
    // The parts differ (different pixels per instance): the order is really the instances'.
    expect(Buffer.from(parts[0]!.body).equals(Buffer.from(parts[1]!.body))).toBe(false);
  });

  it('applies window and viewport to every part, and serves PNG parts on request', async () => {
    const q = '?window=2048,4096,linear&viewport=16,20';
    const res = await get(`${SERIES}${q}`, { accept: 'multipart/related; type="image/png"' });
    expect(res.statusCode, res.body).toBe(200);
    const parts = parseMultipartRelated(res.rawPayload, String(res.headers['content-type']));
    expect(parts).toHaveLength(3);
    for (const [i, part] of parts.entries()) {
      const single = await get(`${instanceRendered(made[i]!)}${q}`, { accept: 'image/png' });
      expect(Buffer.from(part.body).equals(single.rawPayload)).toBe(true);
      const meta = await sharp(Buffer.from(part.body)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 16, 20]);
    }
  });

  it('gives a client that accepts one image only the representative (middle) image', async () => {
    const res = await get(SERIES, { accept: 'image/png' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    const middle = await get(instanceRendered(made[1]!), { accept: 'image/png' });
    expect(res.rawPayload.equals(middle.rawPayload)).toBe(true);
  });

  it('revalidates: 304 for the current ETag, a new ETag once the series grows', async () => {
    const first = await get(SERIES);
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[0-9a-f]{40}"$/);
    expect((await get(SERIES, { 'if-none-match': etag })).statusCode).toBe(304);
    const fourth = makeInstance({ studyUid, seriesUid, instanceNumber: 4, seed: 7, rows: 40, columns: 32 });
    expect((await stow(t, tokA, [fourth.bytes])).statusCode).toBe(200);
    const grown = await get(SERIES, { 'if-none-match': etag });
    expect(grown.statusCode).toBe(200);
    expect(String(grown.headers.etag)).not.toBe(etag);
    expect(parseMultipartRelated(grown.rawPayload, String(grown.headers['content-type']))).toHaveLength(4);
  });

  it('answers 404 out of scope and for an unknown series, 400 for bad parameters, 406 for non-image types', async () => {
    const other = await get(SERIES, {}, tokB);
    expect(other.statusCode).toBe(404);
    expect(other.json()).toMatchObject({ code: 'RADLINK_NOT_FOUND' });
    expect((await get(`/dicom-web/studies/${studyUid}/series/${newUid()}/rendered`)).statusCode).toBe(404);
    expect((await get(`${SERIES}?window=abc`)).statusCode).toBe(400);
    expect((await get(`${SERIES}?quality=0`)).statusCode).toBe(400);
    expect((await get(SERIES, { accept: 'application/dicom' })).statusCode).toBe(406);
    expect((await get(`/dicom-web/studies/${studyUid}/series/1.2.x/rendered`)).statusCode).toBe(400);
  });
});
