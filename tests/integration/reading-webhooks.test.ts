/**
 * Per-facility webhooks against a local HTTP receiver started here: the facility admin sets the
 * URL and secret (write-only); reading events are POSTed as JSON with an HMAC-SHA256 signature
 * over "<timestamp>.<body>" that the receiver verifies; a 500 is retried with backoff through
 * BullMQ until it succeeds; a 410 fails at once; exhausted retries fail; the delivery log shows
 * each outcome to that facility's admin only; STAT alerts go to the reading facility only; event
 * type filters and disabling hold; no payload carries patient data.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { api, insertStudy, type ReadingWorld, setupWorld } from './reading-helpers.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: { id: string; type: string; at: string; facilityId: string; data: Record<string, unknown> };
  answered: number;
}

let t: TestApp;
let w: ReadingWorld;
let receiver: Server;
let base: string;
const received: Received[] = [];
/** Per path, the statuses to answer next (then 200). */
const script = new Map<string, number[]>();
const SECRETS = {
  central: 'central-webhook-secret-0123456789',
  district: 'district-webhook-secret-abcdefgh',
};

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '';
      const status = script.get(path)?.shift() ?? 200;
      received.push({ path, headers: req.headers, raw, body: JSON.parse(raw), answered: status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  t = await buildTestApp({
    name: 'reading-webhooks',
    env: {
      RADLINK_QUEUE_PREFIX: `wh-${process.pid}`,
      RADLINK_WEBHOOK_ALLOW_LOOPBACK: 'true',
      RADLINK_WEBHOOK_RETRY_BASE_MS: '200',
      RADLINK_WEBHOOK_ATTEMPTS: '4',
    },
  });
  w = await setupWorld(t, 'wh');
});
afterAll(async () => {
  await t?.close();
  await new Promise((r) => receiver?.close(r));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 15_000,
) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function verify(r: Received, secret: string): boolean {
  const ts = String(r.headers['x-radlink-timestamp']);
  const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${r.raw}`).digest('hex')}`;
  const got = String(r.headers['x-radlink-signature']);
  return got.length === expected.length && timingSafeEqual(Buffer.from(got), Buffer.from(expected));
}

async function createRequest(priority = 'urgent') {
  const studyUid = await insertStudy(t, w.district);
  const res = await api(t, w.tokens.doctor, 'POST', '/api/requests', {
    studyUid,
    targetFacilityId: w.central,
    priority,
    clinicalInfo: 'Sốt cao, đau hạ sườn phải',
    question: 'Áp xe gan?',
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id as string;
}

const put = (token: string, facilityId: string, payload: object) =>
  t.app.inject({
    method: 'PUT',
    url: `/api/facilities/${facilityId}/webhook`,
    headers: bearer(token),
    payload,
  });
const deliveries = async (token: string, facilityId: string, q = '') =>
  t.app.inject({
    method: 'GET',
    url: `/api/facilities/${facilityId}/webhook/deliveries${q}`,
    headers: bearer(token),
  });

describe('webhooks', () => {
  it('the facility admin sets a webhook; the secret is never returned; bad input gets 4xx with a reason', async () => {
    const res = await put(w.tokens.centralAdmin, w.central, {
      url: `${base}/central`,
      secret: SECRETS.central,
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      facilityId: w.central,
      url: `${base}/central`,
      enabled: true,
      eventTypes: null,
      secretHint: '6789',
    });
    expect(res.body).not.toContain(SECRETS.central);
    const [row] = await t.db.query<{ s: string }>(
      'SELECT encrypted_secret::text AS s FROM facility_webhooks WHERE facility_id = $1',
      [w.central],
    );
    expect(row!.s).not.toContain(SECRETS.central);
    // A system admin sets the district's.
    const admin = await t.adminToken();
    expect(
      (await put(admin, w.district, { url: `${base}/district`, secret: SECRETS.district })).statusCode,
    ).toBe(200);
    expect(
      (await put(w.tokens.rad1, w.central, { url: `${base}/x`, secret: SECRETS.central })).statusCode,
    ).toBe(403);
    expect(
      (await put(w.tokens.centralAdmin, w.district, { url: `${base}/x`, secret: SECRETS.central }))
        .statusCode,
    ).toBe(403);
    for (const [payload, reason] of [
      [{ url: 'ftp://example.org/x', secret: SECRETS.central }, /url/],
      [{ url: 'http://user:pw@example.org/x', secret: SECRETS.central }, /credentials/],
      [{ url: `${base}/x`, secret: 'short' }, /secret/],
      [{ url: `${base}/x`, secret: SECRETS.central, eventTypes: ['request.exploded'] }, /eventTypes/],
    ] as const) {
      const bad = await put(w.tokens.centralAdmin, w.central, payload);
      expect(bad.statusCode, bad.body).toBe(400);
      expect(bad.json().message).toMatch(reason);
    }
    const noSecret = await put(admin, w.other, { url: `${base}/other` });
    expect(noSecret.statusCode).toBe(400);
    expect(noSecret.json().message).toMatch(/secret is required/);
    // Without RADLINK_WEBHOOK_ALLOW_LOOPBACK (the default), loopback and link-local targets are refused.
    const strict = await buildTestApp({
      name: 'reading-webhooks-strict',
      env: { RADLINK_QUEUE_PREFIX: `whs-${process.pid}` },
    });
    try {
      const root = await strict.adminToken();
      await strict.app.inject({
        method: 'POST',
        url: '/api/facilities',
        headers: bearer(root),
        payload: { id: 'strict-fac', name: 'Strict', tier: 'central', parentId: null },
      });
      for (const target of [
        'http://127.0.0.1:8042/tools',
        'http://localhost:6379/',
        'http://[::1]/x',
        'http://169.254.169.254/latest',
      ]) {
        const res = await strict.app.inject({
          method: 'PUT',
          url: '/api/facilities/strict-fac/webhook',
          headers: bearer(root),
          payload: { url: target, secret: SECRETS.central },
        });
        expect(res.statusCode, target).toBe(400);
        expect(res.json().message).toMatch(/loopback or link-local/);
      }
      const lan = await strict.app.inject({
        method: 'PUT',
        url: '/api/facilities/strict-fac/webhook',
        headers: bearer(root),
        payload: { url: 'http://10.20.30.40/sms', secret: SECRETS.central },
      });
      expect(lan.statusCode).toBe(200);
    } finally {
      await strict.close();
    }
    const got = await t.app.inject({
      method: 'GET',
      url: `/api/facilities/${w.central}/webhook`,
      headers: bearer(w.tokens.centralAdmin),
    });
    expect(got.json()).toMatchObject({ url: `${base}/central`, secretHint: '6789' });
  });

  it('events reach both facilities signed; a 500 is retried until delivered; the log shows it', async () => {
    script.set('/central', [500]);
    const id = await createRequest();
    const central = await waitFor('central delivered', () => {
      const got = received.filter((r) => r.path === '/central' && r.body.data.requestId === id);
      return got.length >= 2 && got;
    });
    expect(central.map((r) => r.answered)).toEqual([500, 200]);
    const district = await waitFor('district delivered', () =>
      received.find((r) => r.path === '/district' && r.body.data.requestId === id),
    );
    for (const [r, secret, facilityId] of [
      [central[0]!, SECRETS.central, w.central],
      [central[1]!, SECRETS.central, w.central],
      [district, SECRETS.district, w.district],
    ] as const) {
      expect(verify(r, secret)).toBe(true);
      expect(verify(r, secret === SECRETS.central ? SECRETS.district : SECRETS.central)).toBe(false);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(r.headers['x-radlink-event']).toBe('request.created');
      expect(Math.abs(Number(r.headers['x-radlink-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
      expect(r.body).toMatchObject({
        type: 'request.created',
        facilityId,
        data: { requestId: id, status: 'requested', priority: 'urgent' },
      });
    }
    // The same delivery and event, retried: receivers can deduplicate on the ids.
    expect(central[1]!.headers['x-radlink-delivery']).toBe(central[0]!.headers['x-radlink-delivery']);
    expect(central[1]!.body.id).toBe(central[0]!.body.id);
    const log = await waitFor('log says delivered', async () => {
      const rows = (await deliveries(w.tokens.centralAdmin, w.central)).json().deliveries as {
        eventId: string;
        status: string;
      }[];
      const mine = rows.find((d) => d.eventId === central[0]!.body.id);
      return mine?.status === 'delivered' && mine;
    });
    expect(log).toMatchObject({
      eventType: 'request.created',
      attempts: 2,
      lastStatusCode: 200,
      lastError: null,
    });
    expect((log as unknown as { deliveredAt: string }).deliveredAt).toBeTruthy();
  });

  it('STAT alerts go to the reading facility only; no payload carries patient data', async () => {
    const id = await createRequest('stat');
    const stat = await waitFor('stat.new at central', () =>
      received.find(
        (r) => r.path === '/central' && r.body.type === 'stat.new' && r.body.data.requestId === id,
      ),
    );
    expect(stat.body.data).toMatchObject({ level: 0, audience: 'radiologists' });
    expect((stat.body.data.recipients as string[]).sort()).toEqual([w.ids.rad1, w.ids.rad2].sort());
    await waitFor('district created', () =>
      received.find((r) => r.path === '/district' && r.body.data.requestId === id),
    );
    await sleep(500);
    expect(received.filter((r) => r.path === '/district' && r.body.type.startsWith('stat.'))).toEqual([]);
    await api(t, w.tokens.rad1, 'POST', `/api/requests/${id}/acknowledge`);
    const all = received.map((r) => r.raw).join('\n');
    const patients = await t.db.query<{ patient_id: string }>('SELECT patient_id FROM studies');
    for (const phi of [
      'Trần',
      'Thử',
      'tran thi',
      '19700101',
      'Sốt cao',
      'Áp xe',
      ...patients.map((p) => p.patient_id),
    ])
      expect(all).not.toContain(phi);
  });

  it('a 410 fails at once; endless 503s fail after the configured attempts; only the facility admin reads the log', async () => {
    // The scripted 410 answers the next delivery to /district, whichever event that is: a late
    // delivery from an earlier step may take it before this request's own. What is checked is that
    // the event answered 410 was given up at once: one attempt, never sent again.
    script.set('/district', [410]);
    await createRequest();
    const hit = await waitFor('a 410 answered', async () =>
      received.find((r) => r.path === '/district' && r.answered === 410),
    );
    const failed = await waitFor('410 recorded', async () => {
      const rows = (await deliveries(await t.adminToken(), w.district, '?status=failed')).json()
        .deliveries as {
        eventType: string;
        attempts: number;
        lastStatusCode: number;
        lastError: string;
      }[];
      return rows.find((d) => d.lastStatusCode === 410);
    });
    expect(failed).toMatchObject({ attempts: 1, lastError: 'The endpoint answered HTTP 410.' });
    expect(failed.eventType).toBe(hit.body.type);
    // Several retry intervals (RADLINK_WEBHOOK_RETRY_BASE_MS is 200 here) pass without a resend.
    await new Promise((r) => setTimeout(r, 2000));
    expect(received.filter((r) => r.path === '/district' && r.body.id === hit.body.id)).toHaveLength(1);

    script.set('/central', [503, 503, 503, 503, 503]);
    const busy = await createRequest();
    const exhausted = await waitFor('retries exhausted', async () => {
      const rows = (await deliveries(w.tokens.centralAdmin, w.central, '?status=failed')).json()
        .deliveries as {
        attempts: number;
        lastStatusCode: number;
      }[];
      return rows.find((d) => d.lastStatusCode === 503);
    });
    expect(exhausted.attempts).toBe(4);
    expect(
      received.filter((r) => r.path === '/central' && r.body.data.requestId === busy).map((r) => r.answered),
    ).toEqual([503, 503, 503, 503]);
    script.delete('/central');

    expect((await deliveries(w.tokens.rad1, w.central)).statusCode).toBe(403);
    expect((await deliveries(w.tokens.centralAdmin, w.district)).statusCode).toBe(403);
    expect((await deliveries(w.tokens.otherRad, w.central)).statusCode).toBe(403);
  });

  it('event type filters and disabling are honoured; removing the webhook stops deliveries', async () => {
    const narrowed = await put(w.tokens.centralAdmin, w.central, {
      url: `${base}/central`,
      eventTypes: ['request.claimed'],
    });
    expect(narrowed.statusCode, narrowed.body).toBe(200);
    expect(narrowed.json()).toMatchObject({ eventTypes: ['request.claimed'], secretHint: '6789' });
    const disabled = await put(await t.adminToken(), w.district, { url: `${base}/district`, enabled: false });
    expect(disabled.json().enabled).toBe(false);
    const id = await createRequest();
    await api(t, w.tokens.rad1, 'POST', `/api/requests/${id}/claim`);
    const claimed = await waitFor('claimed at central', () =>
      received.find((r) => r.path === '/central' && r.body.data.requestId === id),
    );
    expect(claimed.body.type).toBe('request.claimed');
    // The key was kept: the signature still verifies with the first secret.
    expect(verify(claimed, SECRETS.central)).toBe(true);
    await sleep(500);
    expect(
      received.filter((r) => r.body.data.requestId === id).map((r) => `${r.path} ${r.body.type}`),
    ).toEqual(['/central request.claimed']);
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/facilities/${w.central}/webhook`,
      headers: bearer(w.tokens.centralAdmin),
    });
    expect(del.statusCode).toBe(204);
    await api(t, w.tokens.rad1, 'POST', `/api/requests/${id}/release`);
    await sleep(500);
    expect(received.filter((r) => r.body.data.requestId === id)).toHaveLength(1);
    expect(
      (
        await t.app.inject({
          method: 'GET',
          url: `/api/facilities/${w.central}/webhook`,
          headers: bearer(w.tokens.centralAdmin),
        })
      ).statusCode,
    ).toBe(404);
  });
});
