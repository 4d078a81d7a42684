/**
 * Live events (`GET /api/events`, server-sent events) over real HTTP on two gateways sharing a
 * PostgreSQL and a Redis: what happens on one gateway reaches streams held on the other
 * (Redis pub/sub fan-out); each user receives only the events of requests they may see (a
 * third facility nothing) and STAT alerts only when addressed; payloads carry ids and statuses,
 * no patient data; the browser's session cookie works as well as a bearer token; heartbeats
 * flow; Last-Event-ID replays what a reconnecting client missed, without duplicates; a revoked
 * session ends its stream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../scripts/services/postgres.js';
import { bearer, buildTestApp, stack, type TestApp } from '../helpers/app.js';
import { api, insertStudy, PASSWORD, PIN, type ReadingWorld, setupWorld } from './reading-helpers.js';

interface Sse {
  id: string;
  event: string;
  data: Record<string, unknown>;
  raw: string;
}

/** A minimal EventSource over fetch (Node has no EventSource): enough to see what a browser would. */
class SseClient {
  readonly events: Sse[] = [];
  comments = 0;
  status = 0;
  contentType = '';
  ended = false;
  private readonly abort = new AbortController();

  static async open(url: string, headers: Record<string, string>): Promise<SseClient> {
    const c = new SseClient();
    const res = await fetch(url, { headers, signal: c.abort.signal });
    c.status = res.status;
    c.contentType = res.headers.get('content-type') ?? '';
    if (res.status !== 200) {
      await res.arrayBuffer();
      c.ended = true;
      return c;
    }
    void c.read(res.body!);
    return c;
  }

  private async read(body: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += decoder.decode(chunk, { stream: true });
        let at = buf.indexOf('\n\n');
        while (at >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) this.comments++;
            const m = /^(id|event|data): (.*)$/.exec(line);
            if (m) fields[m[1]!] = m[2]!;
          }
          if (fields.event && fields.data)
            this.events.push({
              id: fields.id!,
              event: fields.event,
              data: JSON.parse(fields.data),
              raw: block,
            });
          at = buf.indexOf('\n\n');
        }
      }
    } catch {
      /* aborted */
    }
    this.ended = true;
  }

  of(requestId: string) {
    return this.events.filter((e) => e.data.requestId === requestId);
  }

  async waitFor<T>(what: string, fn: () => T | undefined | false, ms = 10_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = fn();
      if (v) return v;
      if (Date.now() > end)
        throw new Error(
          `timed out waiting for ${what}; got ${JSON.stringify(this.events.map((e) => e.event))}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close() {
    this.abort.abort();
  }
}

let a: TestApp;
let b: TestApp;
let w: ReadingWorld;
let urlA: string;
let urlB: string;
const clients: SseClient[] = [];
const env = { RADLINK_SSE_HEARTBEAT_SECONDS: '1', RADLINK_QUEUE_PREFIX: `ev-${process.pid}` };

beforeAll(async () => {
  const db = await createDatabase(stack().postgresUrl);
  a = await buildTestApp({ name: 'reading-events-a', databaseUrl: db, env });
  b = await buildTestApp({ name: 'reading-events-b', databaseUrl: db, env });
  w = await setupWorld(a, 'ev');
  urlA = await a.app.listen({ port: 0, host: '127.0.0.1' });
  urlB = await b.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.allSettled([a?.close(), b?.close()]);
});

async function open(base: string, headers: Record<string, string>) {
  const c = await SseClient.open(`${base}/api/events`, headers);
  clients.push(c);
  return c;
}

async function cookieOf(t: TestApp, username: string) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username, password: PASSWORD },
  });
  expect(res.statusCode).toBe(200);
  return String(res.headers['set-cookie']).split(';')[0]!;
}

const quiet = () => new Promise((r) => setTimeout(r, 600));

describe('GET /api/events', () => {
  let doctor: SseClient;
  let rad1: SseClient;
  let otherRad: SseClient;
  let otherDoctor: SseClient;
  let requestId: string;
  let studyUid: string;

  it('needs a login and a well-formed Last-Event-ID; answers text/event-stream to a cookie or a bearer', async () => {
    // Bodies are read: an unread answer holds its connection, and the server's close, open.
    const anonymous = await fetch(`${urlA}/api/events`);
    expect(anonymous.status).toBe(401);
    await anonymous.arrayBuffer();
    const bad = await fetch(`${urlA}/api/events`, {
      headers: { ...bearer(w.tokens.rad1), 'last-event-id': 'x1' },
    });
    expect(bad.status).toBe(400);
    await bad.arrayBuffer();
    doctor = await open(urlB, { cookie: await cookieOf(b, 'doctor.ev') });
    rad1 = await open(urlA, bearer(w.tokens.rad1));
    otherRad = await open(urlA, bearer(w.tokens.otherRad));
    otherDoctor = await open(urlB, bearer(w.tokens.otherDoctor));
    for (const c of [doctor, rad1, otherRad, otherDoctor]) {
      expect(c.status).toBe(200);
      expect(c.contentType).toBe('text/event-stream; charset=utf-8');
    }
  });

  it('a request created on one gateway reaches both facilities on either gateway, and nobody else', async () => {
    studyUid = await insertStudy(a, w.district);
    const res = await api(a, w.tokens.doctor, 'POST', '/api/requests', {
      studyUid,
      targetFacilityId: w.central,
      priority: 'urgent',
      clinicalInfo: 'Ho ra máu, sốt kéo dài',
      question: 'Lao phổi?',
    });
    requestId = res.json().id;
    const onB = await doctor.waitFor('request.created on B', () => doctor.of(requestId)[0]);
    expect(onB.event).toBe('request.created');
    expect(onB.data).toEqual({
      requestId,
      studyUid,
      status: 'requested',
      priority: 'urgent',
      specialtyPool: null,
      requestingFacilityId: w.district,
      targetFacilityId: w.central,
      claimedById: null,
    });
    await rad1.waitFor('request.created on A', () => rad1.of(requestId)[0]);
    await quiet();
    expect(otherRad.of(requestId)).toEqual([]);
    expect(otherDoctor.of(requestId)).toEqual([]);
  });

  it('claim, message, release, draft (status change) and signature arrive in order with ids and statuses only', async () => {
    expect((await api(b, w.tokens.rad1, 'POST', `/api/requests/${requestId}/claim`)).statusCode).toBe(200);
    const msg = await api(a, w.tokens.doctor, 'POST', `/api/requests/${requestId}/messages`, {
      body: 'Bệnh nhân Trần Thị Thử ho nhiều hơn',
    });
    expect(msg.statusCode).toBe(201);
    expect((await api(b, w.tokens.rad1, 'POST', `/api/requests/${requestId}/release`)).statusCode).toBe(200);
    expect((await api(a, w.tokens.rad1, 'POST', `/api/requests/${requestId}/claim`)).statusCode).toBe(200);
    const draft = await api(a, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, {
      templateId: 'ct-head',
      language: 'vi',
      fields: { haemorrhage: 'no', impression: 'Không thấy bất thường.' },
      freeText: '',
    });
    expect(draft.statusCode, draft.body).toBe(200);
    expect((await api(a, w.tokens.rad1, 'POST', '/api/signing/enrol', { pin: PIN })).statusCode).toBe(201);
    const signed = await api(b, w.tokens.rad1, 'POST', `/api/reports/${draft.json().id}/sign`, { pin: PIN });
    expect(signed.statusCode, signed.body).toBe(200);

    const expected = [
      ['request.created', 'requested'],
      ['request.claimed', 'claimed'],
      ['message.posted', 'claimed'],
      ['request.released', 'requested'],
      ['request.claimed', 'claimed'],
      ['request.status-changed', 'reported'],
      ['report.signed', 'signed'],
    ];
    for (const c of [doctor, rad1]) {
      await c.waitFor('report.signed', () => c.of(requestId).some((e) => e.event === 'report.signed'));
      const seen = c.of(requestId);
      expect(seen.map((e) => [e.event, e.data.status])).toEqual(expected);
      const ids = seen.map((e) => BigInt(e.id));
      expect(ids).toEqual([...ids].sort((x, y) => (x < y ? -1 : 1)));
    }
    const ev = rad1.of(requestId);
    expect(ev[1]!.data.claimedById).toBe(w.ids.rad1);
    expect(ev[2]!.data).toMatchObject({ messageId: msg.json().id, authorId: w.ids.doctor });
    expect(ev[3]!.data).toMatchObject({ previousStatus: 'claimed', claimedById: null });
    expect(ev[5]!.data).toMatchObject({ previousStatus: 'claimed' });
    expect(ev[6]!.data).toMatchObject({ reportId: draft.json().id, addendum: false });
    // No patient data: not the name, the patient id, the clinical text or the message.
    const everything = [...doctor.events, ...rad1.events].map((e) => e.raw).join('\n');
    const [patient] = await a.db.query<{ patient_id: string }>(
      'SELECT patient_id FROM studies WHERE study_uid = $1',
      [studyUid],
    );
    for (const phi of [
      'Trần',
      'Tran',
      'Thử',
      patient!.patient_id,
      '1970',
      'Ho ra máu',
      'Lao phổi',
      'ho nhiều',
    ])
      expect(everything).not.toContain(phi);
    await quiet();
    expect(otherRad.of(requestId)).toEqual([]);
    expect(otherDoctor.of(requestId)).toEqual([]);
  });

  it('STAT alerts go to the addressed radiologists only', async () => {
    const rad2 = await open(urlB, bearer(w.tokens.rad2));
    const res = await api(b, w.tokens.doctor, 'POST', '/api/requests', {
      studyUid: await insertStudy(b, w.district),
      targetFacilityId: w.central,
      priority: 'stat',
      clinicalInfo: 'Chấn thương đầu',
      question: 'Máu tụ?',
    });
    const id = res.json().id;
    for (const c of [rad1, rad2]) {
      const stat = await c.waitFor('stat.new', () => c.of(id).find((e) => e.event === 'stat.new'));
      expect(stat.data).toMatchObject({ priority: 'stat', level: 0, audience: 'radiologists' });
      expect((stat.data.recipients as string[]).sort()).toEqual([w.ids.rad1, w.ids.rad2].sort());
    }
    await doctor.waitFor('request.created', () => doctor.of(id).length > 0);
    await quiet();
    // The requester sees the request's events, not the alert addressed to the readers.
    expect(doctor.of(id).map((e) => e.event)).toEqual(['request.created']);
    expect(otherRad.of(id)).toEqual([]);
    await api(a, w.tokens.rad2, 'POST', `/api/requests/${id}/acknowledge`);
    rad2.close();
  });

  it('Last-Event-ID replays what a reconnecting client missed, in order and without duplicates', async () => {
    const lastSeen = rad1.events.at(-1)!.id;
    rad1.close();
    const res = await api(a, w.tokens.doctor, 'POST', '/api/requests', {
      studyUid: await insertStudy(a, w.district),
      targetFacilityId: w.central,
      priority: 'routine',
      clinicalInfo: 'Đau lưng',
      question: 'Thoát vị?',
    });
    const id = res.json().id;
    await api(b, w.tokens.rad2, 'POST', `/api/requests/${id}/claim`);
    await doctor.waitFor('claim', () => doctor.of(id).length === 2);
    const back = await open(urlB, { ...bearer(w.tokens.rad1), 'last-event-id': lastSeen });
    await back.waitFor('replay', () => back.of(id).length === 2);
    expect(back.of(id).map((e) => e.event)).toEqual(['request.created', 'request.claimed']);
    // Events after the replay come live on the same stream.
    await api(b, w.tokens.rad2, 'POST', `/api/requests/${id}/release`);
    await back.waitFor('live release', () => back.of(id).length === 3);
    const ids = back.events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(back.events.every((e) => BigInt(e.id) > BigInt(lastSeen))).toBe(true);
    // The same replay from the start shows a third facility nothing of these.
    const outsider = await open(urlA, { ...bearer(w.tokens.otherRad), 'last-event-id': '0' });
    await quiet();
    expect(outsider.events).toEqual([]);
    const fromStart = await open(urlA, { ...bearer(w.tokens.doctor), 'last-event-id': '0' });
    await fromStart.waitFor('full replay', () => fromStart.of(requestId).length === 7);
    back.close();
  });

  it('heartbeats flow; a revoked session ends its stream', async () => {
    await doctor.waitFor('heartbeats', () => doctor.comments >= 3, 5000);
    const admin = await a.adminToken();
    const kill = await a.app.inject({
      method: 'DELETE',
      url: `/api/users/${w.ids.doctor}/sessions`,
      headers: bearer(admin),
    });
    expect(kill.statusCode, kill.body).toBeLessThan(300);
    await doctor.waitFor('the stream to end', () => doctor.ended, 5000);
    expect(otherDoctor.ended).toBe(false);
    // The subscription is in the audit trail, written when the stream ended.
    const end = Date.now() + 5000;
    let rows: { outcome: string; via: string }[] = [];
    while (rows.length === 0 && Date.now() < end) {
      rows = await a.db.query(
        `SELECT outcome, resource AS via FROM audit_events WHERE action = 'reading.events.subscribe' AND user_id = $1`,
        [w.ids.doctor],
      );
      if (rows.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(rows).toContainEqual({ outcome: 'success', via: 'GET /api/events' });
  });
});
