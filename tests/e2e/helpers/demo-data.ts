/**
 * Demo-like data for browser tests, put in the way a site would: the demo facilities and users
 * through the admin API, then synthetic studies (scripts/demo/synth) STOWed through the gateway's
 * `POST /dicom-web/studies` by a user of the owning facility, so the index, the attribution and
 * the access scope are the real ones.
 *
 * Studies are smaller than the demo catalogue's (fewer slices): a browser test needs a real
 * CT stack, not 120 slices per study on 2 shared cores.
 */

import { DEMO_LOGINS, type DemoLogin } from '../../../scripts/demo/logins.js';
import { DEMO_FACILITIES, DEMO_PATIENTS, type DemoPatient } from '../../../scripts/demo/patients.js';
import {
  type GenerateStudyOptions,
  generateStudy,
  type SynthStudy,
} from '../../../scripts/demo/synth/study.js';
import { buildMultipartRelated } from '../../../server/src/dicomweb/multipart.js';
import { bearer, type TestApp } from '../../helpers/app.js';

/** Instances per STOW request: large enough to amortise the request, small enough for bodyLimit. */
const STOW_BATCH = 16;

export function demoPatient(key: string): DemoPatient {
  const p = DEMO_PATIENTS.find((x) => x.key === key);
  if (!p) throw new Error(`no demo patient "${key}"`);
  return p;
}

export function demoLogin(username: string): DemoLogin {
  const u = DEMO_LOGINS.find((x) => x.username === username);
  if (!u) throw new Error(`no demo login "${username}"`);
  return u;
}

/** Creates the demo facilities and the demo users (except admin, which the app creates). Idempotent. */
export async function createDemoOrganisation(t: TestApp): Promise<void> {
  const headers = bearer(await t.adminToken());
  for (const f of DEMO_FACILITIES) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/facilities',
      headers,
      payload: { id: f.id, name: f.name, tier: f.tier, parentId: null },
    });
    if (res.statusCode !== 201 && res.statusCode !== 409)
      throw new Error(`create facility ${f.id}: ${res.statusCode} ${res.body}`);
  }
  for (const u of DEMO_LOGINS) {
    if (u.username === 'admin') continue;
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/users',
      headers,
      payload: {
        username: u.username,
        displayName: u.displayName,
        role: u.role,
        facilityId: u.facilityId,
        password: u.password,
      },
    });
    if (res.statusCode !== 201 && res.statusCode !== 409)
      throw new Error(`create user ${u.username}: ${res.statusCode} ${res.body}`);
  }
}

/** A facility user able to upload (any demo login of that facility except the model manager). */
function uploaderOf(facilityId: string): DemoLogin {
  const u = DEMO_LOGINS.find((l) => l.facilityId === facilityId && l.role !== 'model_manager');
  if (!u) throw new Error(`no demo user at facility ${facilityId}`);
  return u;
}

/**
 * Generates a study and STOWs it as a user of the patient's facility; returns the study (its
 * instances stay available for ground truth). Every batch must be answered 200.
 */
export async function stowSynthStudy(t: TestApp, options: GenerateStudyOptions): Promise<SynthStudy> {
  const study = generateStudy(options);
  const u = uploaderOf(study.study.facilityId);
  const token = await t.login(u.username, u.password);
  for (const series of study.series) {
    for (let i = 0; i < series.instances.length; i += STOW_BATCH) {
      const { body, contentType } = buildMultipartRelated(
        series.instances.slice(i, i + STOW_BATCH).map((p) => ({ contentType: 'application/dicom', body: p })),
        'application/dicom',
      );
      const res = await t.app.inject({
        method: 'POST',
        url: '/dicom-web/studies',
        headers: { ...bearer(token), 'content-type': contentType, accept: 'application/dicom+json' },
        payload: body,
      });
      if (res.statusCode !== 200)
        throw new Error(`STOW ${series.description}: HTTP ${res.statusCode} ${res.body.slice(0, 500)}`);
    }
  }
  return study;
}
