/**
 * Viewer measurements (the imaging contract's ViewerMeasurement) as the report API takes them:
 * labels cut to the API's limit, statistics without non-finite values (NaN from an empty ROI),
 * and a key that recognises a measurement already inserted. Pure, unit-tested.
 */
import type { MeasurementInput } from '../../api/reading.js';

/** The fields of the imaging contract's ViewerMeasurement this module reads. */
export interface ViewerMeasurementLike {
  kind: MeasurementInput['kind'];
  label?: string;
  value: number;
  unit: string;
  seriesUid: string;
  sopInstanceUid: string;
  stats?: { mean?: number; sd?: number; areaMm2?: number };
}
export function measurementKey(m: ViewerMeasurementLike): string {
  return `${m.sopInstanceUid}|${m.kind}|${m.value.toFixed(3)}|${m.unit}`;
}

export function toMeasurementInput(m: ViewerMeasurementLike): MeasurementInput {
  const stats = m.stats
    ? Object.fromEntries(
        Object.entries(m.stats).filter(([, v]) => typeof v === 'number' && Number.isFinite(v)),
      )
    : undefined;
  return {
    kind: m.kind,
    ...(m.label ? { label: m.label.slice(0, 120) } : {}),
    value: m.value,
    unit: m.unit,
    seriesUid: m.seriesUid,
    sopInstanceUid: m.sopInstanceUid,
    ...(stats && Object.keys(stats).length > 0 ? { stats } : {}),
  };
}

/** A measurement the report can take: a finite value (an unfinished tool reports NaN) and a short unit. */
export function isInsertable(m: ViewerMeasurementLike): boolean {
  return Number.isFinite(m.value) && Math.abs(m.value) <= 1e9 && m.unit.length > 0 && m.unit.length <= 8;
}
