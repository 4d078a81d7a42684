/**
 * Cornerstone annotations → the shell's ViewerMeasurement (the report panel inserts them).
 * Pure: takes the annotation's plain fields and a resolver from image ID to series/instance;
 * table-tested in tests/unit/viewer-measurements.test.ts. Cornerstone computes every value
 * (length in mm from the pixel spacing, ROI mean/SD over the pixels inside); nothing is
 * recomputed here.
 */

export interface ViewerMeasurement {
  kind: 'length' | 'angle' | 'ellipse' | 'rectangle' | 'probe';
  label?: string;
  value: number;
  unit: string;
  seriesUid: string;
  sopInstanceUid: string;
  stats?: { mean?: number; sd?: number; areaMm2?: number };
}

/** Cornerstone tool names we report, and the kind each becomes. */
export const TOOL_KIND: Readonly<Record<string, ViewerMeasurement['kind']>> = {
  Length: 'length',
  Angle: 'angle',
  EllipticalROI: 'ellipse',
  RectangleROI: 'rectangle',
  Probe: 'probe',
};

/** The fields of a Cornerstone annotation this module reads. */
export interface AnnotationLike {
  metadata: { toolName: string; referencedImageId?: string };
  data: { label?: string; cachedStats?: Record<string, Record<string, unknown>> };
}

export interface ImageRef {
  seriesUid: string;
  sopInstanceUid: string;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown, fallback: string): string => (typeof v === 'string' && v !== '' ? v : fallback);

/** Converts one annotation; `null` while its statistics are not computed yet (or it is not ours). */
export function toMeasurement(
  a: AnnotationLike,
  resolve: (imageId: string) => ImageRef | undefined,
): ViewerMeasurement | null {
  const kind = TOOL_KIND[a.metadata.toolName];
  const imageId = a.metadata.referencedImageId;
  if (!kind || !imageId) return null;
  const ref = resolve(imageId);
  if (!ref) return null;
  const all = a.data.cachedStats ?? {};
  const s = Object.values(all)[0];
  if (!s) return null;
  const base = { kind, seriesUid: ref.seriesUid, sopInstanceUid: ref.sopInstanceUid };
  const label = a.data.label ? { label: a.data.label } : {};
  switch (kind) {
    case 'length': {
      const v = num(s.length);
      return v === undefined ? null : { ...base, ...label, value: v, unit: str(s.unit, 'mm') };
    }
    case 'angle': {
      const v = num(s.angle);
      return v === undefined ? null : { ...base, ...label, value: v, unit: 'deg' };
    }
    case 'probe': {
      const v = num(s.value);
      return v === undefined ? null : { ...base, ...label, value: v, unit: str(s.modalityUnit, '') };
    }
    case 'ellipse':
    case 'rectangle': {
      const area = num(s.area);
      const mean = num(s.mean);
      if (area === undefined || mean === undefined) return null;
      const areaUnit = str(s.areaUnit, 'mm²');
      const sd = num(s.stdDev);
      const stats: NonNullable<ViewerMeasurement['stats']> = { mean };
      if (sd !== undefined) stats.sd = sd;
      if (areaUnit === 'mm²' || areaUnit === 'mm2') stats.areaMm2 = area;
      // The headline value of an ROI is its mean (HU for CT); area and SD ride along.
      return { ...base, ...label, value: mean, unit: str(s.modalityUnit, ''), stats };
    }
  }
}

export function toMeasurements(
  annotations: readonly AnnotationLike[],
  resolve: (imageId: string) => ImageRef | undefined,
): ViewerMeasurement[] {
  const out: ViewerMeasurement[] = [];
  for (const a of annotations) {
    const m = toMeasurement(a, resolve);
    if (m) out.push(m);
  }
  return out;
}

/** One line for the measurement list ("42.1 mm", "HU 54 ± 12, 310 mm²"). */
export function formatMeasurement(m: ViewerMeasurement): string {
  const f = (v: number, d = 1) => v.toFixed(d);
  if (m.kind === 'ellipse' || m.kind === 'rectangle') {
    const sd = m.stats?.sd !== undefined ? ` ± ${f(m.stats.sd)}` : '';
    const area = m.stats?.areaMm2 !== undefined ? `, ${f(m.stats.areaMm2)} mm²` : '';
    return `${f(m.value)}${sd} ${m.unit}${area}`.trim();
  }
  if (m.kind === 'angle') return `${f(m.value)}°`;
  return `${f(m.value, m.kind === 'probe' ? 0 : 1)} ${m.unit}`.trim();
}
