/**
 * Small statistics for benchmarks: nearest-rank percentiles over raw samples (no histogram
 * bucketing, so a p99 is a latency some request really had).
 */

/** Nearest-rank percentile; NaN for no samples. */
export function percentile(xs: ArrayLike<number>, p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const r2 = (x: number): number => Math.round(x * 100) / 100;

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export function summarise(xs: number[]): LatencySummary {
  if (xs.length === 0) return { count: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0, meanMs: 0 };
  const s = Float64Array.from(xs).sort();
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
  let sum = 0;
  for (const x of s) sum += x;
  return {
    count: s.length,
    p50Ms: r2(at(50)),
    p95Ms: r2(at(95)),
    p99Ms: r2(at(99)),
    maxMs: r2(s[s.length - 1]!),
    meanMs: r2(sum / s.length),
  };
}
