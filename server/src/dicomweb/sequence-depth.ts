/**
 * How deeply a data set nests sequences. Orthanc 1.10.1 segfaults on an instance whose sequences
 * nest about 40 levels deep (measured: 32 stored, 48 crashed the server, whether the depth is
 * reached in a standard or private element), so STOW refuses anything deeper than
 * MAX_SEQUENCE_DEPTH before it reaches Orthanc. Real objects stay far below: a TID 1500
 * measurement report nests about 8 levels, a SEG 4.
 */
import type { DataSet } from 'dicom-parser';

export const MAX_SEQUENCE_DEPTH = 24;

/** True when some sequence in `ds` is nested deeper than `limit` (stops looking at limit + 1). */
export function nestsDeeperThan(ds: DataSet, limit: number): boolean {
  const walk = (set: DataSet, depth: number): boolean => {
    for (const el of Object.values(set.elements)) {
      if (!el.items?.length) continue;
      if (depth + 1 > limit) return true;
      for (const item of el.items) if (item.dataSet && walk(item.dataSet, depth + 1)) return true;
    }
    return false;
  };
  return walk(ds, 0);
}
