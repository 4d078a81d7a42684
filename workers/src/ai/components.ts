/**
 * 3-D connected-component labelling of a binary mask, by breadth-first flood fill with an
 * explicit queue (no recursion: components can hold millions of voxels).
 *
 * Connectivity: 26 (faces, edges and corners) is the default for lesions — a lesion sampled on
 * thick slices touches its neighbour slice only diagonally at its poles, and 6-connectivity
 * would split it into several findings; 6 (faces only) is offered for models whose outputs are
 * known to be compact. Labels are 1..n in scan order (C-order D, H, W); 0 is background.
 */
import type { Dims } from './volume.js';

export type Connectivity = 6 | 26;

function offsets(c: Connectivity): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let dz = -1; dz <= 1; dz++)
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) {
        const n = Math.abs(dz) + Math.abs(dy) + Math.abs(dx);
        if (n === 0 || (c === 6 && n > 1)) continue;
        out.push([dz, dy, dx]);
      }
  return out;
}

export function labelComponents(
  mask: Uint8Array,
  dims: Dims,
  connectivity: Connectivity,
): { labels: Int32Array; count: number } {
  const [D, H, W] = dims;
  const labels = new Int32Array(D * H * W);
  const queue = new Int32Array(D * H * W);
  const nb = offsets(connectivity);
  const m = nb.length;
  const ndz = Int32Array.from(nb, (o) => o[0]);
  const ndy = Int32Array.from(nb, (o) => o[1]);
  const ndx = Int32Array.from(nb, (o) => o[2]);
  const nOff = Int32Array.from(nb, (o) => (o[0] * H + o[1]) * W + o[2]);
  let count = 0;
  for (let start = 0; start < mask.length; start++) {
    if (mask[start] === 0 || labels[start] !== 0) continue;
    count++;
    labels[start] = count;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    while (head < tail) {
      const p = queue[head++]!;
      const x = p % W;
      const zy = (p - x) / W;
      const y = zy % H;
      const z = (zy - y) / H;
      // Interior voxels skip the bounds tests.
      const interior = z > 0 && z < D - 1 && y > 0 && y < H - 1 && x > 0 && x < W - 1;
      for (let n = 0; n < m; n++) {
        if (!interior) {
          const zz = z + ndz[n]!;
          const yy = y + ndy[n]!;
          const xx = x + ndx[n]!;
          if (zz < 0 || zz >= D || yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
        }
        const q = p + nOff[n]!;
        if (mask[q] !== 0 && labels[q] === 0) {
          labels[q] = count;
          queue[tail++] = q;
        }
      }
    }
  }
  return { labels, count };
}
