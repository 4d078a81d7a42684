/**
 * Viewer measurements inserted into a draft report: what a measurement is, how it is checked,
 * and how it reads as a line of report text.
 *
 * Invariants:
 *  - Measurements are kept as structured items in the report's `fields` under the reserved key
 *    MEASUREMENTS_KEY (template field keys never start with '_'), so they are part of the
 *    canonical content the radiologist signs; the API shows them as `measurements`, not as a
 *    field. Every item is JSON-only (null, never undefined) for the canonical form.
 *  - Values are rounded on the way in (2 decimals; stats too), so what is signed is exactly
 *    what the text shows and what PostgreSQL's jsonb gives back.
 */
import type { Json } from '../canonical.js';

export const MEASUREMENTS_KEY = '_measurements';
export const MAX_MEASUREMENTS_PER_REPORT = 200;

export type MeasurementKind = 'length' | 'angle' | 'ellipse' | 'rectangle' | 'probe';

/** Units each kind may carry (ellipse/rectangle values are areas). */
export const UNITS: Record<MeasurementKind, readonly string[]> = {
  length: ['mm', 'cm'],
  angle: ['deg'],
  ellipse: ['mm2', 'cm2'],
  rectangle: ['mm2', 'cm2'],
  probe: ['HU', 'SUV', 'raw'],
};

export interface MeasurementStats {
  mean: number | null;
  sd: number | null;
  areaMm2: number | null;
}

export interface Measurement {
  /** 1-based, in insertion order within the report. */
  n: number;
  kind: MeasurementKind;
  label: string | null;
  value: number;
  unit: string;
  seriesUid: string;
  sopInstanceUid: string;
  /** From the study index, for the text ("series 2, image 45"). */
  seriesNumber: number | null;
  instanceNumber: number | null;
  stats: MeasurementStats | null;
  addedBy: string;
  addedAt: string;
}

export interface MeasurementInput {
  kind: MeasurementKind;
  label?: string;
  value: number;
  unit: string;
  seriesUid: string;
  sopInstanceUid: string;
  stats?: { mean?: number; sd?: number; areaMm2?: number };
}

export const round2 = (x: number) => Math.round(x * 100) / 100 + 0;

/** A problem with one input item (for a 400 with a reason), or null. */
export function problemOf(m: MeasurementInput, i: number): string | null {
  if (!UNITS[m.kind].includes(m.unit))
    return `items[${i}]: a ${m.kind} is measured in ${UNITS[m.kind].join(' or ')}, not "${m.unit}".`;
  if (!Number.isFinite(m.value)) return `items[${i}]: the value must be a finite number.`;
  if (m.kind !== 'probe' && m.value < 0) return `items[${i}]: a ${m.kind} cannot be negative.`;
  if (m.kind === 'angle' && m.value > 360) return `items[${i}]: an angle is at most 360 degrees.`;
  if (m.stats && (m.stats.sd ?? 0) < 0) return `items[${i}]: a standard deviation cannot be negative.`;
  if (m.stats && (m.stats.areaMm2 ?? 0) < 0) return `items[${i}]: an area cannot be negative.`;
  return null;
}

export function measurementsOf(fields: Record<string, Json>): Measurement[] {
  const v = fields[MEASUREMENTS_KEY];
  return Array.isArray(v) ? (v as unknown as Measurement[]) : [];
}

/** The template fields without the reserved measurements key (what the API calls `fields`). */
export function templateFieldsOf(fields: Record<string, Json>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields))
    if (k !== MEASUREMENTS_KEY && typeof v === 'string') out[k] = v;
  return out;
}

const KIND_LABEL: Record<'vi' | 'en', Record<MeasurementKind, string>> = {
  vi: {
    length: 'Chiều dài',
    angle: 'Góc',
    ellipse: 'Diện tích (elip)',
    rectangle: 'Diện tích (chữ nhật)',
    probe: 'Giá trị điểm',
  },
  en: {
    length: 'Length',
    angle: 'Angle',
    ellipse: 'Area (ellipse)',
    rectangle: 'Area (rectangle)',
    probe: 'Point value',
  },
};
const UNIT_TEXT: Record<string, string> = { mm2: 'mm²', cm2: 'cm²', deg: '°', raw: '' };

/** Vietnamese writes a decimal comma. */
function num(x: number, lang: 'vi' | 'en'): string {
  const s = String(round2(x));
  return lang === 'vi' ? s.replace('.', ',') : s;
}

function withUnit(x: number, unit: string, lang: 'vi' | 'en'): string {
  const u = UNIT_TEXT[unit] ?? unit;
  return u === '°' ? `${num(x, lang)}°` : u ? `${num(x, lang)} ${u}` : num(x, lang);
}

/** One measurement as a line of report text, e.g. "[Đo 1] Chiều dài — Gan: 23,4 mm (loạt 2, ảnh 45)". */
export function measurementText(m: Measurement, lang: 'vi' | 'en'): string {
  const head = `[${lang === 'vi' ? 'Đo' : 'Measurement'} ${m.n}] ${KIND_LABEL[lang][m.kind]}${m.label ? ` — ${m.label}` : ''}`;
  let s = `${head}: ${withUnit(m.value, m.unit, lang)}`;
  if (m.stats) {
    const parts: string[] = [];
    const statUnit = m.kind === 'probe' ? m.unit : 'HU';
    if (m.stats.mean !== null)
      parts.push(`${lang === 'vi' ? 'trung bình' : 'mean'} ${withUnit(m.stats.mean, statUnit, lang)}`);
    if (m.stats.sd !== null) parts.push(`SD ${withUnit(m.stats.sd, statUnit, lang)}`);
    if (m.stats.areaMm2 !== null && m.kind !== 'ellipse' && m.kind !== 'rectangle')
      parts.push(`${lang === 'vi' ? 'diện tích' : 'area'} ${withUnit(m.stats.areaMm2, 'mm2', lang)}`);
    if (m.stats.areaMm2 !== null && (m.kind === 'ellipse' || m.kind === 'rectangle') && m.unit !== 'mm2')
      parts.push(withUnit(m.stats.areaMm2, 'mm2', lang));
    if (parts.length) s += ` (${parts.join(', ')})`;
  }
  const where: string[] = [];
  if (m.seriesNumber !== null) where.push(`${lang === 'vi' ? 'loạt' : 'series'} ${m.seriesNumber}`);
  if (m.instanceNumber !== null) where.push(`${lang === 'vi' ? 'ảnh' : 'image'} ${m.instanceNumber}`);
  return where.length ? `${s} [${where.join(', ')}]` : s;
}

/** Builds the stored item from a checked input. */
export function toMeasurement(
  m: MeasurementInput,
  n: number,
  where: { seriesNumber: number | null; instanceNumber: number | null },
  addedBy: string,
  addedAt: Date,
): Measurement {
  const opt = (x: number | undefined) => (x === undefined ? null : round2(x));
  return {
    n,
    kind: m.kind,
    label: m.label ? m.label.normalize('NFC').trim() || null : null,
    value: round2(m.value),
    unit: m.unit,
    seriesUid: m.seriesUid,
    sopInstanceUid: m.sopInstanceUid,
    seriesNumber: where.seriesNumber,
    instanceNumber: where.instanceNumber,
    stats: m.stats ? { mean: opt(m.stats.mean), sd: opt(m.stats.sd), areaMm2: opt(m.stats.areaMm2) } : null,
    addedBy,
    addedAt: addedAt.toISOString(),
  };
}
