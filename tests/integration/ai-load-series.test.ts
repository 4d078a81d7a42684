/**
 * The volume stage's reader (workers/src/ai/load-series.ts) against the stack's Orthanc: a
 * JPEG-lossless series is decoded by Orthanc (its 16-bit PAM image path) and gives the same
 * volume as the native copy, with the original attributes and the SOP Instance UIDs the SEG
 * references. (Moved here from the former sandbox test when the inference stage became a
 * stage of the flow; the flow itself is tested in ai-pipeline.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import '../helpers/stack-info.js';
import { findPatient } from '../../scripts/demo/patients.js';
import { generateStudy } from '../../scripts/demo/synth/study.js';
import { loadSeriesFromOrthanc } from '../../workers/src/ai/load-series.js';
import { sliceOrder } from '../../workers/src/ai/stage-volume.js';
import { buildVolume } from '../../workers/src/ai/volume.js';

const stack = inject('stack');
const orthanc = {
  url: stack.orthanc.url,
  username: stack.orthanc.username,
  password: stack.orthanc.password,
};
const auth = `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}`;

async function store(bytes: Uint8Array): Promise<void> {
  const res = await fetch(`${orthanc.url}/instances`, {
    method: 'POST',
    headers: { authorization: auth },
    body: bytes,
  });
  expect(res.status).toBe(200);
}

describe('load-series: compressed transfer syntaxes', () => {
  it('has Orthanc decode a JPEG-lossless series: same pixels as the native copy, original attributes', async () => {
    const s = generateStudy({
      seed: 880_002,
      patient: findPatient('khai'),
      modality: 'CT',
      rows: 64,
      slices: 6,
      lesions: 0,
    });
    for (const b of s.series[0]!.instances) {
      await store(b);
      // A JPEG Lossless (process 14, SV1) copy under a new series, made with DCMTK: Orthanc 1.10's
      // own transcoding (/modify with Transcode) segfaults intermittently, taking down the
      // Orthanc every other test shares.
      const dir = mkdtempSync(join(tmpdir(), 'radlink-jpegll-'));
      writeFileSync(join(dir, 'in.dcm'), b);
      const enc = spawnSync('dcmcjpeg', ['+e1', join(dir, 'in.dcm'), join(dir, 'out.dcm')], {
        encoding: 'utf8',
      });
      expect(enc.status, enc.stderr).toBe(0);
      const mod = spawnSync(
        'dcmodify',
        ['-nb', '-m', `SeriesInstanceUID=${s.series[0]!.seriesUid}.9`, join(dir, 'out.dcm')],
        { encoding: 'utf8' },
      );
      expect(mod.status, mod.stderr).toBe(0);
      await store(new Uint8Array(readFileSync(join(dir, 'out.dcm'))));
    }
    const native = await loadSeriesFromOrthanc(orthanc, s.series[0]!.seriesUid);
    const compressed = await loadSeriesFromOrthanc(orthanc, `${s.series[0]!.seriesUid}.9`, 8);
    expect(native.transcoded).toBe(0);
    expect(compressed.transcoded).toBe(6);
    expect(compressed.attributes.transferSyntaxUid).toBe('1.2.840.10008.1.2.4.70');
    const a = buildVolume(native.slices);
    const b = buildVolume(compressed.slices);
    expect(b.dims).toEqual(a.dims);
    expect(b.data).toEqual(a.data); // lossless
    expect(compressed.attributes.seriesUid).toBe(`${s.series[0]!.seriesUid}.9`);
    // The slice order the SEG and the findings reference is the volume's: increasing position.
    const order = sliceOrder(native);
    const z = order.map((n) => native.slices[n]!.position[2]);
    expect(z).toEqual([...z].sort((p, q) => p - q));
    expect(new Set(order.map((n) => native.sopInstanceUids[n])).size).toBe(6);
    expect(native.orthancIds).toHaveLength(6);
  });
});
