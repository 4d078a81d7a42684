/**
 * Attachments on a read request, on the real app (PGlite) with the real S3 (s3rver): a district
 * doctor attaches a photographed referral paper; both facilities of the request list and
 * download it (right type, Content-Disposition with the Vietnamese name, the stored SHA-256);
 * a third facility gets 404; only JPEG, PNG and PDF pass (by content), within the size limit;
 * only the uploader deletes, and only before the claim; every call is audited.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { api, insertStudy, type ReadingWorld, setupWorld } from './reading-helpers.js';

let t: TestApp;
let w: ReadingWorld;
const MAX = 64 * 1024;

beforeAll(async () => {
  t = await buildTestApp({ name: 'reading-attachments', env: { RADLINK_ATTACHMENT_MAX_BYTES: String(MAX) } });
  w = await setupWorld(t, 'att');
});
afterAll(async () => t?.close());

const JPEG = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]),
  Buffer.from('JFIF\0 referral'),
  Buffer.alloc(3000, 7),
]);
const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.alloc(500, 1),
]);
const PDF = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n', 'latin1');
const GIF = Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1');

function form(
  parts: { name: string; filename?: string; type?: string; body: Buffer }[],
  boundary = '----RadLinkTestBoundary7MA4YWxkTrZu0gW',
) {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disp = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    // Browsers send the file name's UTF-8 bytes as they are.
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: ${disp}\r\nContent-Type: ${p.type ?? 'application/octet-stream'}\r\n\r\n`,
        'utf8',
      ),
      p.body,
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

async function upload(token: string, requestId: string, f: { payload: Buffer; contentType: string }) {
  return t.app.inject({
    method: 'POST',
    url: `/api/requests/${requestId}/attachments`,
    headers: { ...bearer(token), 'content-type': f.contentType },
    payload: f.payload,
  });
}

async function newRequest() {
  const studyUid = await insertStudy(t, w.district);
  const res = await api(t, w.tokens.doctor, 'POST', '/api/requests', {
    studyUid,
    targetFacilityId: w.central,
    priority: 'urgent',
    clinicalInfo: 'Đau bụng hạ sườn phải',
    question: 'Sỏi túi mật?',
  });
  expect(res.statusCode, res.body).toBe(201);
  return { id: res.json().id as string, studyUid };
}

describe('attachments', () => {
  let req: { id: string; studyUid: string };
  let jpegId: string;

  it('the requester uploads a JPEG, a PNG and a PDF; each is stored in S3 under a flat key with its SHA-256', async () => {
    req = await newRequest();
    const name = 'Giấy chuyển viện Nguyễn.jpg';
    const res = await upload(
      w.tokens.doctor,
      req.id,
      form([{ name: 'file', filename: name, type: 'image/jpeg', body: JPEG }]),
    );
    expect(res.statusCode, res.body).toBe(201);
    const a = res.json();
    jpegId = a.id;
    expect(a).toMatchObject({
      requestId: req.id,
      filename: name,
      contentType: 'image/jpeg',
      sizeBytes: JPEG.length,
      sha256: createHash('sha256').update(JPEG).digest('hex'),
      uploadedBy: { id: w.ids.doctor },
    });
    const [row] = await t.db.query<{ s3_key: string }>(
      'SELECT s3_key FROM request_attachments WHERE id = $1',
      [a.id],
    );
    expect(row!.s3_key).toMatch(/^reading-attachments\/[0-9a-f-]{36}$/);
    const stored = await t.app.s3.client.getObject(t.app.s3.bucket, row!.s3_key);
    const bytes: Buffer[] = [];
    for await (const c of stored) bytes.push(c as Buffer);
    expect(Buffer.concat(bytes).equals(JPEG)).toBe(true);

    // The declared type does not matter: the content does (a PNG sent as JPEG is a PNG).
    const png = await upload(
      w.tokens.doctor,
      req.id,
      form([{ name: 'file', filename: 'scan.jpeg', type: 'image/jpeg', body: PNG }]),
    );
    expect(png.statusCode, png.body).toBe(201);
    expect(png.json()).toMatchObject({ contentType: 'image/png', filename: 'scan.png' });
    const pdf = await upload(
      w.tokens.doctor,
      req.id,
      form([{ name: 'file', filename: '../../etc/kết quả.pdf', body: PDF }]),
    );
    expect(pdf.statusCode, pdf.body).toBe(201);
    expect(pdf.json()).toMatchObject({ contentType: 'application/pdf', filename: 'kết quả.pdf' });
  });

  it('refuses other types, oversize files, malformed forms and extra fields with a 4xx and a reason', async () => {
    const cases: [{ payload: Buffer; contentType: string }, number, RegExp][] = [
      [form([{ name: 'file', filename: 'x.gif', type: 'image/gif', body: GIF }]), 415, /JPEG, PNG and PDF/],
      [
        form([
          { name: 'file', filename: 'x.pdf', type: 'application/pdf', body: Buffer.from('not a pdf at all') },
        ]),
        415,
        /by their content/,
      ],
      [
        form([{ name: 'file', filename: 'big.jpg', body: Buffer.concat([JPEG, Buffer.alloc(MAX)]) }]),
        413,
        /larger than 65536 bytes/,
      ],
      [form([{ name: 'file', filename: 'empty.jpg', body: Buffer.alloc(0) }]), 400, /empty/],
      [form([{ name: 'photo', filename: 'x.jpg', body: JPEG }]), 400, /"file"/],
      [
        form([
          { name: 'file', filename: 'a.jpg', body: JPEG },
          { name: 'file', filename: 'b.jpg', body: JPEG },
        ]),
        400,
        /exactly one/,
      ],
      [
        {
          payload: Buffer.from('--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nxx'),
          contentType: 'multipart/form-data; boundary=b',
        },
        400,
        /Malformed multipart body/,
      ],
      [{ payload: JPEG, contentType: 'multipart/form-data' }, 415, /boundary/],
    ];
    for (const [f, status, reason] of cases) {
      const res = await upload(w.tokens.doctor, req.id, f);
      expect(res.statusCode, res.body).toBe(status);
      expect(res.json().message).toMatch(reason);
    }
    const json = await api(t, w.tokens.doctor, 'POST', `/api/requests/${req.id}/attachments`, { file: 'x' });
    expect(json.statusCode).toBe(415);
    const list = (await api(t, w.tokens.doctor, 'GET', `/api/requests/${req.id}/attachments`)).json();
    expect(list).toHaveLength(3);
  });

  it('both facilities list and download them with the real type and the name; a third facility gets 404', async () => {
    for (const token of [w.tokens.doctor, w.tokens.rad1, w.tokens.centralAdmin]) {
      const list = await api(t, token, 'GET', `/api/requests/${req.id}/attachments`);
      expect(list.statusCode).toBe(200);
      expect(list.json().map((a: { contentType: string }) => a.contentType)).toEqual([
        'image/jpeg',
        'image/png',
        'application/pdf',
      ]);
    }
    const dl = await api(t, w.tokens.rad1, 'GET', `/api/requests/${req.id}/attachments/${jpegId}`);
    expect(dl.statusCode).toBe(200);
    expect(dl.headers['content-type']).toBe('image/jpeg');
    expect(dl.headers['x-content-type-options']).toBe('nosniff');
    expect(dl.headers['content-disposition']).toBe(
      `attachment; filename="Giay chuyen vien Nguyen.jpg"; filename*=UTF-8''${encodeURIComponent('Giấy chuyển viện Nguyễn.jpg')}`,
    );
    expect(dl.rawPayload.equals(JPEG)).toBe(true);
    const etag = dl.headers.etag as string;
    const again = await t.app.inject({
      method: 'GET',
      url: `/api/requests/${req.id}/attachments/${jpegId}?disposition=inline`,
      headers: { ...bearer(w.tokens.rad1), 'if-none-match': etag },
    });
    expect(again.statusCode).toBe(304);
    const inline = await api(
      t,
      w.tokens.doctor,
      'GET',
      `/api/requests/${req.id}/attachments/${jpegId}?disposition=inline`,
    );
    expect(inline.headers['content-disposition']).toMatch(/^inline; /);

    for (const token of [w.tokens.otherRad, w.tokens.otherDoctor]) {
      expect((await api(t, token, 'GET', `/api/requests/${req.id}/attachments`)).statusCode).toBe(404);
      expect((await api(t, token, 'GET', `/api/requests/${req.id}/attachments/${jpegId}`)).statusCode).toBe(
        404,
      );
      expect(
        (await upload(token, req.id, form([{ name: 'file', filename: 'x.jpg', body: JPEG }]))).statusCode,
      ).toBe(404);
    }
    // The reading side sees them but does not add to the requester's file.
    const byReader = await upload(
      w.tokens.rad1,
      req.id,
      form([{ name: 'file', filename: 'x.jpg', body: JPEG }]),
    );
    expect(byReader.statusCode).toBe(403);
    // An attachment of another request is not reachable through this one.
    const other = await newRequest();
    expect(
      (await api(t, w.tokens.doctor, 'GET', `/api/requests/${other.id}/attachments/${jpegId}`)).statusCode,
    ).toBe(404);
  });

  it('only the uploader deletes, and only before the claim; the S3 object goes with the row', async () => {
    const pngId = (await api(t, w.tokens.doctor, 'GET', `/api/requests/${req.id}/attachments`)).json()[1].id;
    const [row] = await t.db.query<{ s3_key: string }>(
      'SELECT s3_key FROM request_attachments WHERE id = $1',
      [pngId],
    );
    const notMine = await t.app.inject({
      method: 'DELETE',
      url: `/api/requests/${req.id}/attachments/${pngId}`,
      headers: bearer(w.tokens.centralAdmin),
    });
    expect(notMine.statusCode).toBe(403);
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/requests/${req.id}/attachments/${pngId}`,
      headers: bearer(w.tokens.doctor),
    });
    expect(del.statusCode, del.body).toBe(204);
    await expect(t.app.s3.client.statObject(t.app.s3.bucket, row!.s3_key)).rejects.toThrow();
    expect(
      (await api(t, w.tokens.doctor, 'GET', `/api/requests/${req.id}/attachments/${pngId}`)).statusCode,
    ).toBe(404);

    expect((await api(t, w.tokens.rad1, 'POST', `/api/requests/${req.id}/claim`)).statusCode).toBe(200);
    const late = await t.app.inject({
      method: 'DELETE',
      url: `/api/requests/${req.id}/attachments/${jpegId}`,
      headers: bearer(w.tokens.doctor),
    });
    expect(late.statusCode).toBe(409);
    expect(late.json().message).toMatch(/claimed/);
    expect((await api(t, w.tokens.doctor, 'GET', `/api/requests/${req.id}/attachments`)).json()).toHaveLength(
      2,
    );
  });

  it('every attachment call is in the audit trail with the study, including refusals', async () => {
    const rows = await t.db.query<{ action: string; outcome: string; study_uid: string | null; n: number }>(
      `SELECT action, outcome, study_uid, count(*)::int AS n FROM audit_events
        WHERE action LIKE 'reading.attachment.%' GROUP BY action, outcome, study_uid`,
    );
    const find = (action: string, outcome: string) =>
      rows.find((r) => r.action === action && r.outcome === outcome && r.study_uid === req.studyUid);
    expect(find('reading.attachment.upload', 'success')?.n).toBe(3);
    expect(find('reading.attachment.download', 'success')?.n).toBeGreaterThanOrEqual(3);
    expect(find('reading.attachment.delete', 'success')?.n).toBe(1);
    expect(find('reading.attachment.delete', 'denied')?.n).toBe(1);
    expect(rows.some((r) => r.action === 'reading.attachment.list' && r.outcome === 'not-found')).toBe(true);
    // No file name (it may carry a patient's name) in the audit details.
    const details = await t.db.query<{ detail: unknown }>(
      "SELECT detail FROM audit_events WHERE action LIKE 'reading.attachment.%' AND detail IS NOT NULL",
    );
    expect(JSON.stringify(details)).not.toMatch(/Nguy|kết|Giấy/);
  });
});
