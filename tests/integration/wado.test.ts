/**
 * WADO-RS and WADO-URI against the real stack: byte-identical retrieval with transfer-syntax=*,
 * frames equal to the stored pixel data (checked with an independent parser, dicom-parser), the
 * JPEG-LS guard (406, and Orthanc still alive), rendered JPEG/PNG decoded by sharp, metadata with
 * BulkDataURIs pointing at the gateway, thumbnails cached in S3 with ETag/304, immutable caching
 * headers, scope (404) and bad UIDs (400), and the real dicomweb-client.
 */
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dicomParser } from '../../server/src/dicomweb/dicom-parser.js';
import { parseMultipartRelated } from '../../server/src/dicomweb/multipart.js';
import { thumbnailKey } from '../../server/src/dicomweb/thumbnails.js';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { type MadeInstance, makeInstance } from '../helpers/dicom.js';
import { dicomwebClient, facilityUser, stow } from '../helpers/dicomweb.js';

let t: TestApp;
let tokA: string;
let tokB: string;
let base: string;
let ct: MadeInstance; // 3 frames, 32x24
let second: MadeInstance; // same series

beforeAll(async () => {
  t = await buildTestApp({ name: 'wado' });
  tokA = await facilityUser(t, 'bv-wado-a', 'wado.a');
  tokB = await facilityUser(t, 'bv-wado-b', 'wado.b');
  ct = makeInstance({ rows: 24, columns: 32, frames: 3, patientName: 'Trần^Văn Bình' });
  second = makeInstance({
    studyUid: ct.studyUid,
    seriesUid: ct.seriesUid,
    instanceNumber: 2,
    rows: 24,
    columns: 32,
  });
  const res = await stow(t, tokA, [ct.bytes, second.bytes]);
  expect(res.statusCode, res.body).toBe(200);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => t?.close());

const I = (m: MadeInstance) =>
  `/dicom-web/studies/${m.studyUid}/series/${m.seriesUid}/instances/${m.sopInstanceUid}`;
const get = (url: string, headers: Record<string, string> = {}, token = tokA) =>
  t.app.inject({ method: 'GET', url, headers: { ...bearer(token), ...headers } });
const parts = (res: { rawPayload: Buffer; headers: Record<string, unknown> }) =>
  parseMultipartRelated(res.rawPayload, String(res.headers['content-type']));

describe('WADO-RS instances', () => {
  it('returns the stored bytes with transfer-syntax=*, immutable, with a strong ETag and 304', async () => {
    const res = await get(I(ct), {
      accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^multipart\/related; type="application\/dicom"/);
    const [p] = parts(res);
    expect(p!.body.equals(ct.bytes)).toBe(true);
    expect(p!.headers['content-type']).toBe('application/dicom; transfer-syntax=1.2.840.10008.1.2.1');
    expect(res.headers['cache-control']).toBe('private, max-age=31536000, immutable');
    const etag = String(res.headers.etag);
    expect(etag).toMatch(/^"[0-9a-f]{40}"$/);
    expect(res.headers['content-encoding']).toBeUndefined();
    // Same representation → same bytes (the boundary derives from the ETag).
    const again = await get(I(ct), {
      accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
    });
    expect(again.rawPayload.equals(res.rawPayload)).toBe(true);
    const cached = await get(I(ct), {
      accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
      'if-none-match': etag,
    });
    expect(cached.statusCode).toBe(304);
    expect(cached.rawPayload.length).toBe(0);
  });

  it('returns a series and a study as multipart, each part byte-identical', async () => {
    for (const url of [
      `/dicom-web/studies/${ct.studyUid}/series/${ct.seriesUid}`,
      `/dicom-web/studies/${ct.studyUid}`,
    ]) {
      const res = await get(url, {
        accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
      });
      expect(res.statusCode, res.body).toBe(200);
      const bodies = parts(res).map((p) => p.body);
      expect(bodies).toHaveLength(2);
      expect(bodies[0]!.equals(ct.bytes)).toBe(true);
      expect(bodies[1]!.equals(second.bytes)).toBe(true);
      expect(res.headers['cache-control']).toBe('private, no-cache');
    }
  });

  it('WADO-URI application/dicom without a transfer syntax returns the stored bytes', async () => {
    const res = await get(
      `/wado?requestType=WADO&studyUID=${ct.studyUid}&seriesUID=${ct.seriesUid}&objectUID=${ct.sopInstanceUid}&contentType=application%2Fdicom`,
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('application/dicom');
    expect(res.rawPayload.equals(ct.bytes)).toBe(true);
    const jpeg = await get(
      `/wado?requestType=WADO&studyUID=${ct.studyUid}&seriesUID=${ct.seriesUid}&objectUID=${ct.sopInstanceUid}`,
    );
    expect(jpeg.statusCode).toBe(200);
    expect((await sharp(jpeg.rawPayload).metadata()).format).toBe('jpeg');
    const bad = await get(
      `/wado?requestType=WADO&studyUID=${ct.studyUid}&seriesUID=${ct.seriesUid}&objectUID=${ct.sopInstanceUid}&contentType=application%2Fdicom&transferSyntax=1.2.840.10008.1.2.4.80`,
    );
    expect(bad.statusCode).toBe(406);
  });
});

describe('WADO-RS frames', () => {
  /** The stored frames, extracted by dicom-parser from the file we sent. */
  function storedFrames(m: MadeInstance): Buffer[] {
    const ds = dicomParser.parseDicom(m.bytes);
    const el = ds.elements['x7fe00010']!;
    const pixels = Buffer.from(m.bytes.buffer, m.bytes.byteOffset + el.dataOffset, el.length);
    const size = m.rows * m.columns * 2;
    return [0, 1, 2].map((i) => pixels.subarray(i * size, (i + 1) * size));
  }

  it('transfer-syntax=* returns the stored frame bytes, in the order asked, never compressed', async () => {
    const res = await get(`${I(ct)}/frames/3,1`, {
      accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*',
      'accept-encoding': 'gzip, br',
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
    const [f3, f1] = parts(res);
    const expected = storedFrames(ct);
    expect(f3!.body.equals(expected[2]!)).toBe(true);
    expect(f1!.body.equals(expected[0]!)).toBe(true);
    expect(f1!.headers['content-type']).toBe('application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1');
    expect(res.headers['cache-control']).toBe('private, max-age=31536000, immutable');
  });

  it('answers 406 for JPEG-LS of an object not stored as JPEG-LS, and Orthanc is still alive', async () => {
    for (const accept of [
      'multipart/related; type="image/jls"',
      'multipart/related; type="image/jls"; transfer-syntax=1.2.840.10008.1.2.4.81',
    ]) {
      const res = await get(`${I(ct)}/frames/1`, { accept });
      expect(res.statusCode, accept).toBe(406);
      expect(res.json().code).toBe('RADLINK_NOT_ACCEPTABLE');
    }
    const inst = await get(I(ct), {
      accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80',
    });
    expect(inst.statusCode).toBe(406);
    const system = await t.app.orthanc.json<{ Version: string }>('GET', '/system');
    expect(system.Version).toBe('1.10.1');
  });

  it('400 for a malformed frame list, 404 for a frame the instance does not have', async () => {
    expect((await get(`${I(ct)}/frames/0`)).statusCode).toBe(400);
    expect((await get(`${I(ct)}/frames/1,x`)).statusCode).toBe(400);
    expect((await get(`${I(ct)}/frames/4`)).statusCode).toBe(404);
  });

  it("answers a single-frame object's frame whole, with a Content-Length and its caching headers, over a socket", async () => {
    const headers = {
      ...bearer(tokA),
      accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*',
    };
    const res = await fetch(`${base}${I(second)}/frames/1`, { headers });
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get('content-length')).toBe(String(body.length));
    expect(res.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    const [p] = parseMultipartRelated(body, res.headers.get('content-type')!);
    expect(p!.body.equals(second.pixels)).toBe(true);
    expect(p!.headers['content-type']).toBe('application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1');
    const again = await fetch(`${base}${I(second)}/frames/1`, {
      headers: { ...headers, 'if-none-match': res.headers.get('etag')! },
    });
    expect(again.status).toBe(304);
  });

  it('streams a single frame larger than the in-memory bound (8 MiB) instead of holding it', async () => {
    const big = makeInstance({ rows: 2048, columns: 2050, seed: 5 }); // 8,396,800 pixel bytes
    expect(big.pixels.length).toBeGreaterThan(8 * 1024 * 1024);
    expect((await stow(t, tokA, [big.bytes])).statusCode).toBe(200);
    const res = await fetch(`${base}${I(big)}/frames/1`, {
      headers: {
        ...bearer(tokA),
        accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*',
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBeNull();
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    const [p] = parseMultipartRelated(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type')!);
    expect(p!.body.equals(big.pixels)).toBe(true);
  });

  it('dicomweb-client retrieveInstanceFrames gets the stored frames; retrieveInstance gets the stored file', async () => {
    const client = dicomwebClient(base, tokA);
    const frames = await client.retrieveInstanceFrames({
      studyInstanceUID: ct.studyUid,
      seriesInstanceUID: ct.seriesUid,
      sopInstanceUID: ct.sopInstanceUid,
      frameNumbers: [2],
      mediaTypes: [{ mediaType: 'application/octet-stream', transferSyntaxUID: '*' }],
    });
    expect(Buffer.from(frames[0]!).equals(storedFrames(ct)[1]!)).toBe(true);
    const file = await client.retrieveInstance({
      studyInstanceUID: ct.studyUid,
      seriesInstanceUID: ct.seriesUid,
      sopInstanceUID: ct.sopInstanceUid,
    });
    expect(Buffer.from(file).equals(ct.bytes)).toBe(true);
  });
});

describe('metadata', () => {
  it('is DICOM JSON with the Vietnamese name intact and BulkDataURIs pointing at the gateway', async () => {
    const res = await get(`${I(ct)}/metadata`, { 'accept-encoding': 'gzip' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/dicom\+json/);
    const [ds] = JSON.parse(
      res.headers['content-encoding'] === 'gzip'
        ? (await import('node:zlib')).gunzipSync(res.rawPayload).toString()
        : res.body,
    ) as Record<string, { Value?: unknown[]; BulkDataURI?: string }>[];
    expect((ds!['00100010']!.Value![0] as { Alphabetic: string }).Alphabetic).toBe('Trần^Văn Bình');
    const uri = ds!['7FE00010']!.BulkDataURI!;
    expect(uri).toMatch(/^http:\/\/localhost(:\d+)?\/dicom-web\/studies\//);
    expect(uri.endsWith(`${I(ct)}/frames/1,2,3`)).toBe(true);
    const frames = await get(new URL(uri).pathname, {
      accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*',
    });
    expect(parts(frames)).toHaveLength(3);
    const series = await get(`/dicom-web/studies/${ct.studyUid}/series/${ct.seriesUid}/metadata`);
    expect(series.statusCode, series.body).toBe(200);
    expect(JSON.parse(series.body)).toHaveLength(2);
  });
});

describe('rendered', () => {
  it('renders JPEG by default and PNG on request, at the right size, with window and viewport', async () => {
    const jpeg = await get(`${I(ct)}/rendered`);
    expect(jpeg.statusCode, jpeg.body).toBe(200);
    expect(jpeg.headers['content-type']).toBe('image/jpeg');
    expect(await sharp(jpeg.rawPayload).metadata()).toMatchObject({ format: 'jpeg', width: 32, height: 24 });
    const png = await get(`${I(ct)}/frames/2/rendered?window=2048,4096,linear&viewport=16,16`, {
      accept: 'image/png',
    });
    expect(png.statusCode, png.body).toBe(200);
    expect(await sharp(png.rawPayload).metadata()).toMatchObject({ format: 'png', width: 16, height: 12 });
    // A narrow window saturates: mostly black or white pixels.
    const narrow = await get(`${I(ct)}/rendered?window=2000.5,1,linear-exact`, { accept: 'image/png' });
    const { data } = await sharp(narrow.rawPayload).raw().toBuffer({ resolveWithObject: true });
    expect([...data].every((v) => v === 0 || v === 255)).toBe(true);
    expect((await get(`${I(ct)}/rendered?window=abc`)).statusCode).toBe(400);
    expect((await get(`${I(ct)}/rendered?quality=101`)).statusCode).toBe(400);
  });
});

describe('thumbnails', () => {
  it('renders once, caches in S3 under a flat key, then serves from S3 with the same ETag and 304', async () => {
    const url = `/dicom-web/studies/${ct.studyUid}/series/${ct.seriesUid}/thumbnail`;
    const first = await get(url);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.headers['x-radlink-cache']).toBe('miss');
    const meta = await sharp(first.rawPayload).metadata();
    expect(meta.format).toBe('jpeg');
    expect(Math.max(meta.width!, meta.height!)).toBe(t.config.RADLINK_THUMBNAIL_SIZE);
    const key = thumbnailKey(ct.seriesUid, t.config.RADLINK_THUMBNAIL_SIZE);
    const st = await t.app.s3.client.statObject(t.app.s3.bucket, key);
    expect(st.size).toBe(first.rawPayload.length);
    const second = await get(url);
    expect(second.headers['x-radlink-cache']).toBe('hit');
    expect(second.rawPayload.equals(first.rawPayload)).toBe(true);
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(second.headers['cache-control']).toBe('private, max-age=31536000, immutable');
    const notModified = await get(url, { 'if-none-match': String(first.headers.etag) });
    expect(notModified.statusCode).toBe(304);
    for (const u of [
      `/dicom-web/studies/${ct.studyUid}/thumbnail`,
      `${I(ct)}/thumbnail`,
      `${I(ct)}/frames/3/thumbnail`,
    ]) {
      const r = await get(u);
      expect(r.statusCode, u).toBe(200);
      expect((await sharp(r.rawPayload).metadata()).format).toBe('jpeg');
    }
  });
});

describe('scope and input', () => {
  it('answers 404 for a study out of scope or unknown, on every route', async () => {
    const urls = [
      `/dicom-web/studies/${ct.studyUid}`,
      I(ct),
      `${I(ct)}/metadata`,
      `${I(ct)}/frames/1`,
      `${I(ct)}/rendered`,
      `${I(ct)}/thumbnail`,
      `/wado?requestType=WADO&studyUID=${ct.studyUid}&seriesUID=${ct.seriesUid}&objectUID=${ct.sopInstanceUid}&contentType=application%2Fdicom`,
    ];
    for (const url of urls) {
      const res = await get(url, {}, tokB);
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain('Trần');
    }
    expect((await get(`/dicom-web/studies/1.2.3.4.5.6.7/metadata`)).statusCode).toBe(404);
    const audit = await t.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_events WHERE study_uid = $1 AND outcome = 'not-found' AND username = 'wado.b'",
      [ct.studyUid],
    );
    expect(audit[0]!.n).toBeGreaterThanOrEqual(urls.length);
  });

  it('answers 400 for a UID parameter that is not a UID', async () => {
    for (const url of [
      '/dicom-web/studies/1.2.abc',
      `/dicom-web/studies/${ct.studyUid}/series/01.2/metadata`,
      `/dicom-web/studies/${ct.studyUid}/series/..%2F..%2Fsystem`,
    ]) {
      expect((await get(url)).statusCode, url).toBe(400);
    }
  });

  it('CORS is off by default and allows only the configured origins', async () => {
    const pre = {
      origin: 'https://viewer.example',
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'authorization',
    };
    const off = await t.app.inject({ method: 'OPTIONS', url: I(ct), headers: pre });
    expect(off.headers['access-control-allow-origin']).toBeUndefined();
    const c = await buildTestApp({
      name: 'wado-cors',
      env: { RADLINK_CORS_ORIGINS: 'https://viewer.example' },
    });
    try {
      const ok = await c.app.inject({ method: 'OPTIONS', url: I(ct), headers: pre });
      expect(ok.statusCode).toBe(204);
      expect(ok.headers['access-control-allow-origin']).toBe('https://viewer.example');
      const other = await c.app.inject({
        method: 'OPTIONS',
        url: I(ct),
        headers: { ...pre, origin: 'https://evil.example' },
      });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await c.close();
    }
  });
});
