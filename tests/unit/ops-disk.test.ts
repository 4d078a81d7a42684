/** The disk guard's arithmetic and configuration (the refusal itself: tests/integration/ops-disk.test.ts). */
import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskGuard } from '../../server/src/ops/disk-guard.js';

const free = () => {
  const s = statfsSync(tmpdir());
  return Number(s.bavail) * Number(s.bsize);
};

describe('DiskGuard', () => {
  it('passes while every watched volume has more than the threshold, refuses below it', () => {
    expect(new DiskGuard([tmpdir()], 1).check().ok).toBe(true);
    const v = new DiskGuard([tmpdir()], free() + 2 ** 40).check();
    expect(v.ok).toBe(false);
    expect(v.volumes[0]!.freeBytes).toBeGreaterThan(0);
  });

  it('watches the nearest existing directory of a path not created yet', () => {
    const v = new DiskGuard([join(tmpdir(), 'radlink-not-there', 'orthanc', 'storage')], 1).check();
    expect(v.volumes[0]!.path).toBe(tmpdir());
  });

  it('defaults to Orthanc storage and the data directory, or the configured list', () => {
    const d = DiskGuard.fromConfig({ RADLINK_DATA: '/srv/rl', RADLINK_DISK_MIN_FREE_MB: 10 });
    expect(d.dirs).toEqual(['/srv/rl/orthanc/storage', '/srv/rl']);
    const c = DiskGuard.fromConfig({
      RADLINK_DATA: '/srv/rl',
      RADLINK_DISK_WATCH_DIRS: '/a, /b',
      RADLINK_DISK_MIN_FREE_MB: 10,
    });
    expect(c.dirs).toEqual(['/a', '/b']);
  });

  it('reuses a result for a second', () => {
    const g = new DiskGuard([tmpdir()], 1);
    const a = g.check(1000);
    expect(g.check(1500)).toBe(a);
    expect(g.check(2500)).not.toBe(a);
  });
});
