/**
 * Loads the demo data into a running gateway, through its API only (the gateway alone opens
 * the database): facilities with their tiers and AE titles, the demo users, then every study
 * of the demo catalogue, STOWed by a user of the owning facility so it is attributed as a real
 * upload would be. Idempotent: re-running skips what exists (STOW of identical instances is a
 * no-op), so an interrupted load can simply be run again.
 *
 *   RADLINK_URL=http://127.0.0.1:8080 RADLINK_ADMIN_PASSWORD=... tsx scripts/demo/load.ts
 */
import { buildMultipartRelated } from '../../server/src/dicomweb/multipart.js';
import { DEMO_LOGINS } from './logins.js';
import { DEMO_FACILITIES } from './patients.js';
import { demoCatalogue } from './synth/catalogue.js';
import { generateStudy } from './synth/study.js';

const PARENT: Record<string, string | null> = {
  'bv-trung-uong': null,
  'bv-tinh-demo': 'bv-trung-uong',
  'ttyt-huyen-demo': 'bv-tinh-demo',
  'tram-xa-demo': 'ttyt-huyen-demo',
};
const STOW_BATCH = 24;

class Api {
  constructor(
    readonly base: string,
    private token = '',
  ) {}

  static async login(base: string, username: string, password: string): Promise<Api> {
    const api = new Api(base);
    const res = await api.call('POST', '/api/auth/login', { username, password }, [200]);
    api.token = (res as { token: string }).token;
    return api;
  }

  async call(method: string, path: string, body: unknown, ok: number[]): Promise<unknown> {
    const res = await fetchRetrying(`${this.base}${path}`, {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!ok.includes(res.status))
      throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : null;
  }

  async stow(parts: Uint8Array[]): Promise<number> {
    const { body, contentType } = buildMultipartRelated(
      parts.map((p) => ({ contentType: 'application/dicom', body: p })),
      'application/dicom',
    );
    const res = await fetchRetrying(`${this.base}/dicom-web/studies`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${this.token}`,
        'content-type': contentType,
        accept: 'application/dicom+json',
      },
      body,
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`STOW: HTTP ${res.status}`);
    return parts.length;
  }
}

/**
 * fetch, sent again when the connection failed before any answer. Generating a 512² CT keeps this
 * process busy for tens of seconds; meanwhile the gateway may close the idle kept-alive socket,
 * and the next request on it fails with "fetch failed" without having been processed. Every
 * request here is safe to repeat: STOW of identical instances is idempotent, and the set-up calls
 * accept 409 for what already exists.
 */
async function fetchRetrying(url: string, init: RequestInit, attempts = 3): Promise<Response> {
  for (let i = 1; ; i++) {
    try {
      return await fetch(url, init);
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 500 * i));
    }
  }
}

export async function loadDemo(
  base: string,
  adminPassword: string,
  log: (s: string) => void = console.log,
): Promise<void> {
  const admin = await Api.login(base, 'admin', adminPassword);
  for (const f of DEMO_FACILITIES) {
    await admin.call(
      'POST',
      '/api/facilities',
      { id: f.id, name: f.name, tier: f.tier, parentId: null },
      [201, 409],
    );
  }
  for (const f of DEMO_FACILITIES) {
    await admin.call('PATCH', `/api/facilities/${f.id}`, { parentId: PARENT[f.id] ?? null }, [200]);
    await admin.call(
      'PUT',
      `/api/facilities/${f.id}/ae-titles`,
      [{ aeTitle: f.aeTitle, host: null, port: null }],
      [200],
    );
  }
  log(`facilities: ${DEMO_FACILITIES.length}`);
  for (const u of DEMO_LOGINS) {
    if (u.username === 'admin') continue;
    await admin.call(
      'POST',
      '/api/users',
      {
        username: u.username,
        displayName: u.displayName,
        role: u.role,
        facilityId: u.facilityId,
        password: u.password,
      },
      [201, 409],
    );
  }
  log(`users: ${DEMO_LOGINS.length}`);

  const uploaders = new Map<string, Api>();
  for (const entry of demoCatalogue()) {
    const facilityId = entry.options.patient.facilityId;
    let api = uploaders.get(facilityId);
    if (!api) {
      const u = DEMO_LOGINS.find((l) => l.facilityId === facilityId && l.role !== 'model_manager');
      if (!u) throw new Error(`no demo user at facility ${facilityId} to upload with`);
      api = await Api.login(base, u.username, u.password);
      uploaders.set(facilityId, api);
    }
    const study = generateStudy(entry.options);
    let stored = 0;
    for (const series of study.series) {
      for (let i = 0; i < series.instances.length; i += STOW_BATCH) {
        stored += await api.stow(series.instances.slice(i, i + STOW_BATCH));
      }
    }
    log(`study ${entry.name}: ${stored} instances (${entry.purpose})`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const base = process.env.RADLINK_URL ?? 'http://127.0.0.1:8080';
  const password = process.env.RADLINK_ADMIN_PASSWORD;
  if (!password) {
    process.stderr.write('RADLINK_ADMIN_PASSWORD is required\n');
    process.exit(2);
  }
  loadDemo(base, password).catch((err) => {
    process.stderr.write(`demo load failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
