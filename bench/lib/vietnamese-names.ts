/**
 * Synthetic Vietnamese patient names for the benchmarks: a seeded PRNG and the real skew of
 * family names (~38 % Nguyễn), so name searches meet the selectivity a hospital sees.
 */

/** Deterministic PRNG (mulberry32): the same seed gives the same data on every engine and run. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const FAMILY: [string, number][] = [
  ['Nguyễn', 38],
  ['Trần', 11],
  ['Lê', 9.5],
  ['Phạm', 7],
  ['Hoàng', 5.1],
  ['Huỳnh', 4],
  ['Phan', 4.5],
  ['Vũ', 3.9],
  ['Võ', 3],
  ['Đặng', 2.1],
  ['Bùi', 2],
  ['Đỗ', 1.4],
  ['Hồ', 1.3],
  ['Ngô', 1.3],
  ['Dương', 1],
  ['Lý', 0.5],
];
export const MIDDLE = [
  'Văn',
  'Thị',
  'Hữu',
  'Đức',
  'Minh',
  'Ngọc',
  'Thanh',
  'Quốc',
  'Xuân',
  'Thu',
  'Hoài',
  'Bảo',
];
export const GIVEN = [
  'An',
  'Bình',
  'Cường',
  'Dũng',
  'Hà',
  'Hải',
  'Hạnh',
  'Hùng',
  'Hương',
  'Khai',
  'Lan',
  'Linh',
  'Long',
  'Mai',
  'Nam',
  'Nga',
  'Phúc',
  'Phương',
  'Quân',
  'Sơn',
  'Tâm',
  'Thảo',
  'Thắng',
  'Trang',
  'Trung',
  'Tuấn',
  'Vy',
  'Yến',
  'Khánh',
  'Lâm',
];
export const MODS = ['CT', 'MR', 'CR', 'DX', 'US', 'MG'];

export function pickFamily(r: () => number): string {
  let x = r() * FAMILY.reduce((a, [, w]) => a + w, 0);
  for (const [n, w] of FAMILY) {
    x -= w;
    if (x <= 0) return n;
  }
  return 'Nguyễn';
}

/** A DICOM PN value, family name first: `Nguyễn^Thị Lan`. */
export function randomName(r: () => number): string {
  return `${pickFamily(r)}^${MIDDLE[Math.floor(r() * MIDDLE.length)]} ${GIVEN[Math.floor(r() * GIVEN.length)]}`;
}
