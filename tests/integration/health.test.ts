/**
 * /healthz, /readyz and /metrics against the real services, and readiness naming the failing
 * component when a service is unreachable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/services/ports.js';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ name: 'health', env: { RADLINK_METRICS_TOKEN: 'metrics-token-for-prometheus' } });
});
afterAll(async () => t?.close());

describe('health', () => {
  it('/healthz answers without credentials', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz is 200 with every component ok, including the supervised services', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as { status: string; components: Record<string, string> };
    expect(body.status).toBe('ok');
    expect(body.components).toMatchObject({ orthanc: 'ok', redis: 'ok', database: 'ok', storage: 'ok' });
  });

  it('/readyz is 503 naming Orthanc when it cannot be reached, and the rest stays ok', async () => {
    const dead = await freePort();
    const broken = await buildTestApp({
      name: 'health-broken',
      env: { ORTHANC_URL: `http://127.0.0.1:${dead}` },
    });
    try {
      const res = await broken.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      const body = res.json() as { failing: string[]; components: Record<string, string> };
      expect(body.failing).toEqual(['orthanc']);
      expect(body.components.orthanc).toMatch(/unavailable/i);
      expect(body.components.database).toBe('ok');
      // QIDO is answered from the gateway's own index, so searching keeps working while Orthanc
      // is down (retrievals answer 503 with a reason; see the WADO tests).
      const token = await broken.adminToken();
      const qido = await broken.app.inject({
        method: 'GET',
        url: '/dicom-web/studies',
        headers: bearer(token),
      });
      expect(qido.statusCode).toBe(200);
    } finally {
      await broken.close();
    }
  });

  it('/metrics needs the admin or the metrics token, and exposes request and service metrics', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect(
      (await t.app.inject({ method: 'GET', url: '/metrics', headers: bearer('wrong-token') })).statusCode,
    ).toBe(401);
    const viaToken = await t.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: bearer('metrics-token-for-prometheus'),
    });
    expect(viaToken.statusCode).toBe(200);
    const text = viaToken.body;
    expect(text).toMatch(/radlink_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(text).toMatch(/radlink_service_restarts\{service="orthanc"\} \d+/);
    expect(text).toContain('radlink_gateway_process_resident_memory_bytes');
    const viaAdmin = await t.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: bearer(await t.adminToken()),
    });
    expect(viaAdmin.statusCode).toBe(200);
  });

  it('serves the OpenAPI document generated from the route schemas', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths['/api/auth/login']?.post).toBeDefined();
    expect(doc.paths['/api/users/{userId}']?.patch).toBeDefined();
    expect((await t.app.inject({ method: 'GET', url: '/api/docs' })).statusCode).toBeLessThan(400);
  });
});
