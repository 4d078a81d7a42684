/**
 * The AI flow's pure pieces: deterministic output UIDs, the work-store encodings of volumes and
 * label maps, the DICOM SEG (bit-packed frames, geometry, segments) and TID 1500 SR writers read
 * back with dcmjs, the gateway's early series-rule match, and report text of a finding.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ModelManifest } from '../../contracts/model-manifest.js';
import { findingText } from '../../server/src/ai/report-routes.js';
import { mayMatch } from '../../server/src/ai/series-match.js';
import { runIdOf } from '../../server/src/ai/trigger.js';
import type { OutputContext } from '../../workers/src/ai/output-context.js';
import type { Finding } from '../../workers/src/ai/postprocess.js';
import { writeSeg } from '../../workers/src/ai/seg-writer.js';
import { writeSr } from '../../workers/src/ai/sr-writer.js';
import { toMessage } from '../../workers/src/ai/stage-report.js';
import { runOutputUids, uuidUid } from '../../workers/src/ai/uids.js';
import type { Geometry } from '../../workers/src/ai/volume.js';
import { decodeFloats, decodeLabels, encodeFloats, encodeLabels } from '../../workers/src/ai/volume-codec.js';

const dcmjs = createRequire(import.meta.url)('dcmjs');
const manifest = JSON.parse(
  readFileSync(join(import.meta.dirname, '../../models/liver-lesion-ct/1.0.0/manifest.json'), 'utf8'),
) as ModelManifest;

function read(bytes: Uint8Array): Record<string, unknown> {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dcmjs.data.DicomMessage.readFile(ab).dict);
}

describe('output UIDs', () => {
  it('are 2.25 UUID UIDs derived from series, model and version only', () => {
    const a = runOutputUids('1.2.3.4', 'liver-lesion-ct', '1.0.0');
    expect(runOutputUids('1.2.3.4', 'liver-lesion-ct', '1.0.0')).toEqual(a);
    for (const uid of Object.values(a)) {
      expect(uid).toMatch(/^2\.25\.(0|[1-9][0-9]*)$/);
      expect(uid.length).toBeLessThanOrEqual(64);
      // Version 8 UUID: bits 48–51 are 1000.
      expect((BigInt(uid.slice(5)) >> 76n) & 0xfn).toBe(8n);
    }
    expect(new Set(Object.values(a)).size).toBe(4);
    expect(runOutputUids('1.2.3.4', 'liver-lesion-ct', '1.0.1').segSopInstanceUid).not.toBe(
      a.segSopInstanceUid,
    );
    expect(runOutputUids('1.2.3.5', 'liver-lesion-ct', '1.0.0').srSopInstanceUid).not.toBe(
      a.srSopInstanceUid,
    );
    expect(uuidUid('a', 'bc')).not.toBe(uuidUid('ab', 'c'));
    expect(runIdOf('1.2.3.4', 'm', '1.0.0')).toMatch(/^[0-9a-f]{32}$/);
    expect(runIdOf('1.2.3.4', 'm', '1.0.0')).not.toBe(runIdOf('1.2.3.4', 'm', '1.0.1'));
  });
});

describe('work-store encodings', () => {
  it('round-trip CT values as int16, other values as float32, from buffers at any offset', () => {
    const ct = Float32Array.from({ length: 1001 }, (_, i) => i * 7 - 1024);
    const enc = encodeFloats(ct);
    expect(enc.byteLength).toBe(8 + 1001 * 2);
    // A Node Buffer sliced out of a larger one, as S3 reads hand them back.
    const shifted = Buffer.concat([Buffer.alloc(3), Buffer.from(enc)]).subarray(3);
    expect(decodeFloats(shifted)).toEqual(ct);
    const probs = Float32Array.from({ length: 999 }, (_, i) => i / 1000);
    const encP = encodeFloats(probs);
    expect(encP.byteLength).toBe(8 + 999 * 4);
    expect(decodeFloats(Buffer.concat([Buffer.alloc(5), Buffer.from(encP)]).subarray(5))).toEqual(probs);
    const big = Float32Array.from([40_000, 1]);
    expect(decodeFloats(encodeFloats(big))).toEqual(big);
  });

  it('round-trip label maps in one byte per voxel, or two beyond 255 labels', () => {
    const small = Uint16Array.from({ length: 300 }, (_, i) => i % 4);
    expect(encodeLabels(small).byteLength).toBe(308);
    expect(
      decodeLabels(Buffer.concat([Buffer.alloc(1), Buffer.from(encodeLabels(small))]).subarray(1)),
    ).toEqual(small);
    const large = Uint16Array.from({ length: 300 }, (_, i) => i);
    expect(decodeLabels(encodeLabels(large))).toEqual(large);
  });
});

/** A 4-slice 6×8 axial grid (slice step 2.5 mm, pixels 0.8 × 0.7 mm) with two findings. */
function fixture() {
  const geometry: Geometry = {
    dims: [4, 6, 8],
    spacing: [2.5, 0.8, 0.7],
    origin: [-10, -20, 30],
    direction: [
      [0, 0, 1],
      [0, 1, 0],
      [1, 0, 0],
    ],
  };
  const labels = new Uint16Array(4 * 6 * 8);
  const set = (k: number, j: number, i: number, v: number) => {
    labels[k * 48 + j * 8 + i] = v;
  };
  for (const [k, j, i] of [
    [1, 2, 3],
    [1, 2, 4],
    [2, 2, 3],
    [2, 3, 3],
  ] as const)
    set(k, j, i, 1);
  set(3, 5, 7, 2);
  const finding = (index: number, k0: number, k1: number, centroidK: number): Finding => ({
    index,
    channel: 0,
    label: 'Focal liver lesion',
    voxelCount: index === 1 ? 4 : 1,
    volumeMm3: index === 1 ? 5600 : 1400,
    centroidVoxel: [centroidK, 2, 3],
    centroidMm: [-7.9, -18.4, 33.75],
    longestDiameterMm: 14.2,
    axialLongestDiameterMm: 12.34,
    axialSliceIndex: k0,
    meanIntensity: 41.5,
    confidence: 0.93,
    maxProbability: 0.93,
    meanProbability: 0.8,
    bboxMin: [k0, 2, 3],
    bboxMax: [k1, 3, 4],
  });
  const findings = [finding(1, 1, 2, 1.6), finding(2, 3, 3, 3)];
  const ctx: OutputContext = {
    manifest,
    source: {
      SpecificCharacterSet: 'ISO_IR 192',
      PatientName: 'Nguyễn^Văn Thử',
      PatientID: 'P-TEST-1',
      StudyInstanceUID: '1.2.826.0.1.3680043.10.1.1',
      StudyDate: '20260101',
      Modality: 'CT',
    },
    sourceSops: ['1.2.3.10', '1.2.3.11', '1.2.3.12', '1.2.3.13'],
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    seriesUid: '1.2.3',
    frameOfReferenceUid: '1.2.3.99',
    geometry,
    uids: runOutputUids('1.2.3', manifest.id, manifest.version),
    at: new Date('2026-11-24T08:00:00Z'),
  };
  return { ctx, labels, findings };
}

describe('DICOM SEG writer', () => {
  it('writes one segment per finding, frames on the source slices, bit-packed masks', () => {
    const { ctx, labels, findings } = fixture();
    const seg = read(writeSeg(ctx, findings, labels));
    expect(seg.SOPInstanceUID).toBe(ctx.uids.segSopInstanceUid);
    expect(seg.SeriesInstanceUID).toBe(ctx.uids.segSeriesUid);
    expect(seg.PatientName).toEqual([{ Alphabetic: 'Nguyễn^Văn Thử' }]);
    expect(seg.PatientID).toBe('P-TEST-1');
    expect(seg.FrameOfReferenceUID).toBe('1.2.3.99');
    expect(seg.SegmentationType).toBe('BINARY');
    expect(seg.NumberOfFrames).toBe(3); // finding 1 on slices 1 and 2, finding 2 on slice 3
    const segments = seg.SegmentSequence as Array<Record<string, unknown>>;
    expect(segments.map((s) => s.SegmentNumber)).toEqual([1, 2]);
    expect(segments.map((s) => s.SegmentLabel)).toEqual(['Focal liver lesion 1', 'Focal liver lesion 2']);
    expect(segments[0]!.RecommendedDisplayCIELabValue).toHaveLength(3);
    expect((segments[0]!.AnatomicRegionSequence as Array<{ CodeMeaning: string }>)[0]!.CodeMeaning).toBe(
      'Liver',
    );
    const refs = (seg.ReferencedSeriesSequence as Array<Record<string, unknown>>)[0]!;
    expect(refs.SeriesInstanceUID).toBe('1.2.3');
    expect(
      (refs.ReferencedInstanceSequence as Array<{ ReferencedSOPInstanceUID: string }>).map(
        (r) => r.ReferencedSOPInstanceUID,
      ),
    ).toEqual(['1.2.3.11', '1.2.3.12', '1.2.3.13']);
    const shared = (seg.SharedFunctionalGroupsSequence as Array<Record<string, unknown>>)[0]!;
    expect(
      (shared.PlaneOrientationSequence as Array<{ ImageOrientationPatient: number[] }>)[0]!
        .ImageOrientationPatient,
    ).toEqual([1, 0, 0, 0, 1, 0]);
    expect((shared.PixelMeasuresSequence as Array<{ PixelSpacing: number[] }>)[0]!.PixelSpacing).toEqual([
      0.8, 0.7,
    ]);
    const frames = seg.PerFrameFunctionalGroupsSequence as Array<Record<string, unknown>>;
    const pos = frames.map(
      (f) => (f.PlanePositionSequence as Array<{ ImagePositionPatient: number[] }>)[0]!.ImagePositionPatient,
    );
    expect(pos).toEqual([
      [-10, -20, 32.5],
      [-10, -20, 35],
      [-10, -20, 37.5],
    ]);
    const source = frames.map(
      (f) =>
        (
          (f.DerivationImageSequence as Array<Record<string, unknown>>)[0]!.SourceImageSequence as Array<{
            ReferencedSOPInstanceUID: string;
          }>
        )[0]!.ReferencedSOPInstanceUID,
    );
    expect(source).toEqual(['1.2.3.11', '1.2.3.12', '1.2.3.13']);
    expect(
      frames.map(
        (f) =>
          (f.SegmentIdentificationSequence as Array<{ ReferencedSegmentNumber: number }>)[0]!
            .ReferencedSegmentNumber,
      ),
    ).toEqual([1, 1, 2]);
    // Unpack the bits (LSB first, frames back to back) and compare with the label map.
    const bits = new Uint8Array((seg.PixelData as ArrayBuffer[])[0]!);
    const bit = (n: number) => (bits[n >> 3]! >> (n & 7)) & 1;
    const expected: Array<[number, number]> = [
      [1, 1],
      [2, 1],
      [3, 2],
    ];
    expected.forEach(([k, label], f) => {
      for (let q = 0; q < 48; q++)
        expect(bit(f * 48 + q), `frame ${f} pixel ${q}`).toBe(labels[k * 48 + q] === label ? 1 : 0);
    });
    const equipment = (seg.ContributingEquipmentSequence as Array<Record<string, unknown>>)[0]!;
    expect(equipment.ManufacturerModelName).toBe(manifest.name);
    expect((equipment.PurposeOfReferenceCodeSequence as Array<{ CodeValue: string }>)[0]!.CodeValue).toBe(
      '109102',
    );
    expect(String(seg.SeriesDescription)).toContain('not for clinical use');
  });

  it('refuses to write a SEG without segments', () => {
    const { ctx, labels } = fixture();
    expect(() => writeSeg(ctx, [], labels)).toThrow(/at least one segment/);
  });
});

describe('TID 1500 SR writer', () => {
  it('writes a measurement group per finding with its segment, measurements, algorithm and centre', () => {
    const { ctx, findings } = fixture();
    const sr = read(writeSr(ctx, findings, { segWritten: true, alertReason: '1 finding(s) meet the rule' }));
    expect(sr.SOPInstanceUID).toBe(ctx.uids.srSopInstanceUid);
    expect((sr.ConceptNameCodeSequence as Array<{ CodeValue: string }>)[0]!.CodeValue).toBe('126000');
    const content = sr.ContentSequence as Array<Record<string, unknown>>;
    const code = (item: Record<string, unknown>) =>
      (item.ConceptNameCodeSequence as Array<{ CodeValue: string }>)[0]!.CodeValue;
    const observer = content.find((c) => code(c) === '121013')!;
    expect(observer.TextValue).toBe(`${manifest.name} ${manifest.version}`);
    const groups = content.find((c) => code(c) === '126010')!.ContentSequence as Array<
      Record<string, unknown>
    >;
    expect(groups).toHaveLength(2);
    const g = groups[0]!.ContentSequence as Array<Record<string, unknown>>;
    const segRef = g.find((c) => code(c) === '121191')!;
    expect((segRef.ReferencedSOPSequence as Array<Record<string, unknown>>)[0]).toMatchObject({
      ReferencedSOPInstanceUID: ctx.uids.segSopInstanceUid,
      ReferencedSegmentNumber: 1,
    });
    const value = (c: string) =>
      Number(
        (g.find((x) => code(x) === c)!.MeasuredValueSequence as Array<{ NumericValue: number }>)[0]!
          .NumericValue,
      );
    expect(value('103339001')).toBeCloseTo(12.34, 5);
    expect(value('118565006')).toBeCloseTo(5.6, 5);
    expect(value('112031')).toBeCloseTo(41.5, 5);
    const longAxis = g.find((x) => code(x) === '103339001')!.ContentSequence as Array<
      Record<string, unknown>
    >;
    expect(longAxis.find((x) => code(x) === '111001')!.TextValue).toBe(manifest.name);
    expect(longAxis.find((x) => code(x) === '111003')!.TextValue).toBe(manifest.version);
    const centre = g.find((x) => code(x) === '111010')!;
    expect(centre.GraphicType).toBe('POINT');
    // GraphicData is FL (32-bit floats).
    for (const [a, v] of (centre.GraphicData as number[]).entries())
      expect(v).toBeCloseTo([-7.9, -18.4, 33.75][a]!, 4);
    expect(centre.ReferencedFrameOfReferenceUID).toBe('1.2.3.99');
  });

  it('still reports when nothing was found (no SEG to reference)', () => {
    const { ctx } = fixture();
    const sr = read(writeSr(ctx, [], { segWritten: false, alertReason: 'no finding meets the rule' }));
    const content = sr.ContentSequence as Array<Record<string, unknown>>;
    const measurements = content.find(
      (c) => (c.ConceptNameCodeSequence as Array<{ CodeValue: string }>)[0]!.CodeValue === '126010',
    )!;
    expect(measurements.ContentSequence ?? []).toEqual([]);
  });
});

describe('finding messages and report text', () => {
  it('reference the source slice nearest the centroid', () => {
    const { ctx, findings } = fixture();
    expect(toMessage(findings[0]!, ctx.sourceSops).referencedSopInstanceUid).toBe('1.2.3.12'); // k 1.6 → 2
    expect(toMessage(findings[1]!, ctx.sourceSops)).toMatchObject({ segmentNumber: 2, volumeMl: 1.4 });
  });

  it('read as one line in the report language', () => {
    const row = {
      id: 'x',
      label: 'Focal liver lesion',
      finding_index: 2,
      longest_diameter_mm: 23.4,
      volume_ml: 5.25,
      mean_intensity: 38.2,
      confidence: 0.934,
      centroid_lps: [0, 0, 0],
      referenced_sop_instance_uid: '1.2',
      model_name: 'RadLink liver lesion CT',
      model_version: '1.0.0',
      model_label: 'AI generated — not for clinical use',
      modality: 'CT',
    };
    expect(findingText(row, 'en')).toBe(
      '[AI] Focal liver lesion 2: longest diameter 23 mm, volume 5.3 ml, mean attenuation 38 HU, confidence 0.93 (RadLink liver lesion CT 1.0.0 — AI generated — not for clinical use)',
    );
    expect(findingText(row, 'vi')).toContain('thể tích 5,3 ml, tỷ trọng trung bình 38 HU, độ tin cậy 0,93');
  });
});

describe('early series match (gateway)', () => {
  const rules = manifest.seriesSelection;
  it.each([
    [{ modality: 'CT', bodyPartExamined: 'ABDOMEN', seriesDescription: 'Portal venous' }, true],
    [{ modality: 'ct', bodyPartExamined: null, seriesDescription: null }, true],
    [{ modality: 'MR', bodyPartExamined: 'ABDOMEN', seriesDescription: 'T2' }, false],
    [{ modality: 'CT', bodyPartExamined: 'HEAD', seriesDescription: 'Brain' }, false],
    [{ modality: 'CT', bodyPartExamined: 'ABDOMEN', seriesDescription: 'Scout' }, false],
    [{ modality: 'SEG', bodyPartExamined: 'ABDOMEN', seriesDescription: 'AI segmentation' }, false],
  ])('%j → %s', (facts, expected) => {
    expect(mayMatch(facts, rules)).toBe(expected);
  });
});
