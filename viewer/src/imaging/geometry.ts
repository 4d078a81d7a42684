/**
 * Slice order and load order for a series, from the DICOM JSON metadata: pure functions,
 * table-tested in tests/unit/viewer-geometry.test.ts.
 *
 * Invariant: slices are ordered along the slice normal (row × column direction cosines) by the
 * projection of ImagePositionPatient, never by InstanceNumber alone (scanners number slices
 * head→feet or feet→head); instances without a position keep InstanceNumber order.
 */

export interface InstanceGeometry {
  sopInstanceUid: string;
  instanceNumber: number;
  numberOfFrames: number;
  position?: [number, number, number];
  orientation?: [number, number, number, number, number, number];
}

export function sliceNormal(o: readonly number[]): [number, number, number] {
  const [rx, ry, rz, cx, cy, cz] = o as [number, number, number, number, number, number];
  return [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
}

/**
 * Display order: from the most superior/posterior/left end along the normal is not a DICOM rule;
 * we show slices in descending normal projection for axial stacks (head at index 0, as readers
 * scroll head→feet) and ascending otherwise; ties fall back to InstanceNumber.
 */
export function sortInstances<T extends InstanceGeometry>(items: readonly T[]): T[] {
  const withPos = items.filter((x) => x.position && x.orientation);
  if (withPos.length !== items.length || items.length < 2) {
    return [...items].sort((a, b) => a.instanceNumber - b.instanceNumber);
  }
  const n = sliceNormal(withPos[0]!.orientation!);
  const proj = (x: T) => {
    const p = x.position!;
    return p[0] * n[0] + p[1] * n[1] + p[2] * n[2];
  };
  // Axial (normal mostly along z): superior first.
  const descending = Math.abs(n[2]) >= Math.abs(n[0]) && Math.abs(n[2]) >= Math.abs(n[1]) && n[2] > 0;
  return [...items].sort((a, b) => {
    const d = descending ? proj(b) - proj(a) : proj(a) - proj(b);
    return Math.abs(d) > 1e-6 ? d : a.instanceNumber - b.instanceNumber;
  });
}

/**
 * Which slice a viewer opens on, and the order the rest stream in: the start slice first, then
 * alternately one step below and above, so the slices a reader scrolls to next are there first.
 */
export function loadOrder(count: number, start: number): number[] {
  if (count <= 0) return [];
  const s = Math.min(Math.max(0, Math.round(start)), count - 1);
  const out = [s];
  for (let d = 1; out.length < count; d++) {
    if (s + d < count) out.push(s + d);
    if (s - d >= 0) out.push(s - d);
  }
  return out;
}

/** Middle slice of a stack (what the thumbnail shows and where a CT opens). */
export function middleIndex(count: number): number {
  return Math.max(0, Math.floor((count - 1) / 2));
}

/**
 * How many slices the prefetcher may hold at once so that a long series stays within the cache
 * limit (the rest are fetched on demand and evicted least-recently-used by Cornerstone's cache).
 */
export function prefetchBudget(count: number, bytesPerSlice: number, cacheBytes: number): number {
  if (bytesPerSlice <= 0) return count;
  // Leave a quarter of the cache for the other viewports and the labelmap.
  return Math.max(1, Math.min(count, Math.floor((cacheBytes * 0.75) / bytesPerSlice)));
}

/**
 * The scale bar: the longest round length (1, 2, 5 × 10^n mm) that spans at most `maxPx` screen
 * pixels, and its length in pixels.
 */
export function scaleBar(mmPerPixel: number, maxPx: number): { mm: number; px: number } | null {
  if (!(mmPerPixel > 0) || !(maxPx > 0)) return null;
  const maxMm = mmPerPixel * maxPx;
  let best = 0;
  for (let e = -1; e <= 4; e++)
    for (const m of [1, 2, 5]) {
      const mm = m * 10 ** e;
      if (mm <= maxMm && mm > best) best = mm;
    }
  return best > 0 ? { mm: best, px: best / mmPerPixel } : null;
}
