/**
 * Disk-full behaviour: with the free-space threshold set above the free space of the watched
 * volumes (the disk is not actually filled), STOW-RS refuses before reading or writing anything —
 * 503 with Retry-After, a Warning naming RADLINK_STORAGE_FULL, and a Store Instances Response whose
 * FailedSOPSequence carries FailureReason A700 (Out of Resources) — and nothing reaches Orthanc or
 * the index. With room again, the same instance is stored normally.
 */
import { statfsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskGuard } from '../../server/src/ops/disk-guard.js';
import { bearer, buildTestApp, stack, type TestApp } from '../helpers/app.js';
import { makeInstance } from '../helpers/dicom.js';
import { facilityUser, stow } from '../helpers/dicomweb.js';
import { orthancHas } from './ops-helpers.js';

let full: TestApp;
beforeAll(async () => {
  const s = statfsSync(stack().dataDir);
  const freeMb = Math.floor((Number(s.bavail) * Number(s.bsize)) / 1048576);
  full = await buildTestApp({
    name: 'ops-disk-full',
    env: { RADLINK_DISK_MIN_FREE_MB: String(freeMb + 1024) },
  });
});
afterAll(async () => {
  await full?.close();
});

describe('disk full', () => {
  it('STOW refuses with 503, Retry-After and A700 before storing anything; stores once there is room', async () => {
    const tok = await facilityUser(full, 'bv-disk', 'disk.a');
    const inst = makeInstance({ patientName: 'Phạm^Văn Đĩa' });
    const verdict = full.app.diskGuard.check();
    expect(verdict.ok).toBe(false);
    console.log(
      `disk guard: free ${verdict.volumes.map((v) => `${Math.round(v.freeBytes / 1048576)} MB at ${v.path}`).join(', ')}; threshold ${verdict.minFreeBytes / 1048576} MB`,
    );
    const res = await stow(full, tok, [inst.bytes]);
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('300');
    expect(String(res.headers.warning)).toContain('RADLINK_STORAGE_FULL');
    expect(res.headers['content-type']).toContain('application/dicom+json');
    const failed = res.json()['00081198'].Value as Record<string, { Value: unknown[] }>[];
    expect(failed[0]!['00081197']!.Value).toEqual([0xa700]);
    // Nothing stored, nothing indexed.
    expect(await orthancHas(full.app.orthanc, inst.sopInstanceUid)).toBe(false);
    expect(
      await full.db.query('SELECT 1 FROM instances WHERE sop_instance_uid = $1', [inst.sopInstanceUid]),
    ).toEqual([]);
    // The refusal is audited as an error of the STOW route.
    const [audit] = await full.db.query<{ outcome: string; status_code: number }>(
      "SELECT outcome, status_code FROM audit_events WHERE action = 'dicomweb.stow' ORDER BY id DESC LIMIT 1",
    );
    expect(audit).toEqual({ outcome: 'error', status_code: 503 });

    // Operators see it coming: the free space and the threshold are metrics.
    const metrics = await full.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: bearer(await full.adminToken()),
    });
    expect(metrics.body).toMatch(/radlink_disk_free_bytes\{path="[^"]+"\} \d+/);
    expect(metrics.body).toContain(`radlink_disk_min_free_bytes ${verdict.minFreeBytes}`);
    // Space comes back (here: the same volumes under a threshold they meet): the same object is
    // stored as new — nothing was left half-written by the refusal.
    full.app.diskGuard = new DiskGuard(full.app.diskGuard.dirs, 64 * 1048576);
    const ok = await stow(full, tok, [inst.bytes]);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(await orthancHas(full.app.orthanc, inst.sopInstanceUid)).toBe(true);
  });
});
