/**
 * Display helpers shared by the pages: times, waiting against the turnaround target, roles.
 * Pure (the language is passed in), unit-tested.
 */
import type { Priority } from '../api/types.js';

/** Minutes → "2 h 05 min" / "45 min" / "3 d 4 h" (language-neutral units). */
export function duration(minutes: number): string {
  const m = Math.max(0, Math.round(minutes));
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export type Urgency = 'ok' | 'soon' | 'breached';

/**
 * Where a request stands against its turnaround target: breached past `dueAt`, "soon" in the
 * last quarter of its allowance, else ok.
 */
export function turnaround(
  createdAt: string,
  dueAt: string,
  now: number,
): { urgency: Urgency; leftMinutes: number } {
  const created = Date.parse(createdAt);
  const due = Date.parse(dueAt);
  const left = (due - now) / 60000;
  if (left < 0) return { urgency: 'breached', leftMinutes: left };
  const allowance = (due - created) / 60000;
  return { urgency: allowance > 0 && left < allowance / 4 ? 'soon' : 'ok', leftMinutes: left };
}

export const PRIORITY_ORDER: Record<Priority, number> = { stat: 0, urgent: 1, routine: 2 };

export function dateTime(iso: string, lang: 'vi' | 'en'): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(lang === 'vi' ? 'vi-VN' : 'en-GB', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  });
}

export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
