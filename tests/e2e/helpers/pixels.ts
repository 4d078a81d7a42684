/**
 * Pixel checks that cannot pass on a blank or wrong image: statistics of a rendered viewport, and
 * the expected picture computed from the very files that were uploaded (stored values, rescale,
 * window), so the expectation is ground truth, not a guess about where a viewer draws what.
 */
import sharp from 'sharp';
import { dicomParser } from '../../../server/src/dicomweb/dicom-parser.js';

export interface GreyImage {
  width: number;
  height: number;
  /** Luminance 0..255, row-major. */
  grey: Uint8Array;
}

/** Decodes a PNG screenshot to luminance (Rec. 601 weights; viewers render greyscale anyway). */
export async function decodeGrey(png: Buffer): Promise<GreyImage> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const grey = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    const o = p * info.channels;
    grey[p] = Math.round(0.299 * data[o]! + 0.587 * data[o + 1]! + 0.114 * data[o + 2]!);
  }
  return { width: info.width, height: info.height, grey };
}

export interface Stats {
  mean: number;
  sd: number;
  min: number;
  max: number;
  /** Share of pixels within ±2 of the most common value: near 1 for a blank canvas. */
  modeShare: number;
}

export function stats(values: ArrayLike<number>): Stats {
  const hist = new Array<number>(256).fill(0);
  let sum = 0;
  let sq = 0;
  let min = 255;
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    hist[v] = (hist[v] ?? 0) + 1;
    sum += v;
    sq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const n = Math.max(1, values.length);
  const mean = sum / n;
  const mode = hist.indexOf(Math.max(...hist));
  let nearMode = 0;
  for (let v = Math.max(0, mode - 2); v <= Math.min(255, mode + 2); v++) nearMode += hist[v]!;
  return { mean, sd: Math.sqrt(Math.max(0, sq / n - mean * mean)), min, max, modeShare: nearMode / n };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)]!;
}

/** Stored pixels of a single-frame, native 16-bit greyscale instance, rescaled (HU for CT). */
export function modalityValues(part10: Uint8Array): { rows: number; cols: number; values: Float32Array } {
  const ds = dicomParser.parseDicom(part10);
  const rows = ds.uint16('x00280010') ?? 0;
  const cols = ds.uint16('x00280011') ?? 0;
  const signed = ds.uint16('x00280103') === 1;
  const slope = Number(ds.string('x00281053') ?? '1');
  const intercept = Number(ds.string('x00281052') ?? '0');
  const el = ds.elements.x7fe00010;
  if (!el || rows === 0 || cols === 0) throw new Error('no native pixel data');
  const view = new DataView(part10.buffer, part10.byteOffset + el.dataOffset, rows * cols * 2);
  const values = new Float32Array(rows * cols);
  for (let p = 0; p < values.length; p++) {
    const raw = signed ? view.getInt16(p * 2, true) : view.getUint16(p * 2, true);
    values[p] = raw * slope + intercept;
  }
  return { rows, cols, values };
}

export interface ImagePoint {
  /** Column and row in image pixels. */
  i: number;
  j: number;
}

export interface SampledPoint extends ImagePoint {
  /** Mean modality value (HU for CT) over the point's (2r+1)² neighbourhood. */
  value: number;
}

export type ModalitySlice = { rows: number; cols: number; values: Float32Array };

/**
 * A grid of points (every `step` pixels) with the neighbourhood mean: averaging takes the
 * generator's noise out, and a neighbourhood keeps the verdict stable under a pixel or two of
 * misregistration between the image and the screen.
 */
export function samplePoints(s: ModalitySlice, step = 4, r = 2): SampledPoint[] {
  const out: SampledPoint[] = [];
  for (let j = r; j < s.rows - r; j += step) {
    for (let i = r; i < s.cols - r; i += step) {
      let sum = 0;
      let n = 0;
      for (let dj = -r; dj <= r; dj++)
        for (let di = -r; di <= r; di++) {
          sum += s.values[(j + dj) * s.cols + (i + di)]!;
          n++;
        }
      out.push({ i, j, value: sum / n });
    }
  }
  return out;
}

/** DICOM linear VOI (PS3.3 C.11.2.1.2) to 8-bit grey. */
export function windowGrey(value: number, center: number, width: number): number {
  const x = (value - (center - 0.5)) / (width - 1) + 0.5;
  return Math.max(0, Math.min(255, x * 255));
}

export function pearson(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  if (n < 2) return Number.NaN;
  let ma = 0;
  let mb = 0;
  for (let k = 0; k < n; k++) {
    ma += a[k]!;
    mb += b[k]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let k = 0; k < n; k++) {
    const da = a[k]! - ma;
    const db = b[k]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}

export interface Placement {
  /** Screen pixel of the image's top-left corner (within the screenshot). */
  x0: number;
  y0: number;
  /** Screen pixels per image pixel. */
  scale: number;
}

/**
 * Where a viewer that fits the whole image into its viewport and centres it (Cornerstone's reset
 * camera, OHIF's default) puts an image of cols × rows in a canvas of width × height.
 */
export function fitCentred(width: number, height: number, cols: number, rows: number): Placement {
  const scale = Math.min(width / cols, height / rows);
  return { scale, x0: (width - cols * scale) / 2, y0: (height - rows * scale) / 2 };
}

/** Mean luminance of a small square of the screenshot around the image point's centre. */
export function greyAt(img: GreyImage, at: Placement, p: ImagePoint, halfPx = 2): number {
  const cx = Math.round(at.x0 + (p.i + 0.5) * at.scale);
  const cy = Math.round(at.y0 + (p.j + 0.5) * at.scale);
  let sum = 0;
  let n = 0;
  for (let y = cy - halfPx; y <= cy + halfPx; y++)
    for (let x = cx - halfPx; x <= cx + halfPx; x++) {
      if (x < 0 || y < 0 || x >= img.width || y >= img.height) continue;
      sum += img.grey[y * img.width + x]!;
      n++;
    }
  return n === 0 ? Number.NaN : sum / n;
}

/**
 * Mean structural similarity (Wang et al. 2004) of two greyscale images of the same size, with
 * the reference parameters: 11×11 Gaussian window (σ 1.5), K1 0.01, K2 0.03, dynamic range 255.
 * Pixels marked false in `mask` (optional) are left out of the mean (e.g. outside the image).
 */
export function ssim(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  width: number,
  height: number,
  mask?: ArrayLike<boolean>,
): number {
  if (a.length !== width * height || b.length !== width * height) throw new Error('ssim: size mismatch');
  const R = 5;
  const sigma = 1.5;
  const w: number[] = [];
  for (let d = -R; d <= R; d++) w.push(Math.exp(-(d * d) / (2 * sigma * sigma)));
  const wsum = w.reduce((x, y) => x + y, 0);
  for (let i = 0; i < w.length; i++) w[i]! /= wsum;
  // Separable Gaussian blur with edge clamping.
  const blur = (src: Float64Array): Float64Array => {
    const tmp = new Float64Array(src.length);
    const out = new Float64Array(src.length);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        let s = 0;
        for (let d = -R; d <= R; d++)
          s += w[d + R]! * src[y * width + Math.min(width - 1, Math.max(0, x + d))]!;
        tmp[y * width + x] = s;
      }
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        let s = 0;
        for (let d = -R; d <= R; d++)
          s += w[d + R]! * tmp[Math.min(height - 1, Math.max(0, y + d)) * width + x]!;
        out[y * width + x] = s;
      }
    return out;
  };
  const n = width * height;
  const A = Float64Array.from(a as ArrayLike<number>);
  const B = Float64Array.from(b as ArrayLike<number>);
  const AA = new Float64Array(n);
  const BB = new Float64Array(n);
  const AB = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    AA[i] = A[i]! * A[i]!;
    BB[i] = B[i]! * B[i]!;
    AB[i] = A[i]! * B[i]!;
  }
  const [ma, mb, saa, sbb, sab] = [blur(A), blur(B), blur(AA), blur(BB), blur(AB)];
  const C1 = (0.01 * 255) ** 2;
  const C2 = (0.03 * 255) ** 2;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (mask && !mask[i]) continue;
    const mua = ma[i]!;
    const mub = mb[i]!;
    const va = saa[i]! - mua * mua;
    const vb = sbb[i]! - mub * mub;
    const cov = sab[i]! - mua * mub;
    sum += ((2 * mua * mub + C1) * (2 * cov + C2)) / ((mua * mua + mub * mub + C1) * (va + vb + C2));
    count++;
  }
  return count === 0 ? Number.NaN : sum / count;
}

/**
 * The screenshot's grey at the exact (fractional) screen position of an image pixel's centre,
 * interpolated bilinearly between the four screen pixels around it: where a viewer's own
 * interpolation returns that image pixel's value, whatever the zoom.
 */
export function greyAtCentre(img: GreyImage, at: Placement, p: ImagePoint): number {
  // Screen pixel (x, y) has its centre at (x + 0.5, y + 0.5).
  const fx = at.x0 + (p.i + 0.5) * at.scale - 0.5;
  const fy = at.y0 + (p.j + 0.5) * at.scale - 0.5;
  const x = Math.max(0, Math.min(img.width - 2, Math.floor(fx)));
  const y = Math.max(0, Math.min(img.height - 2, Math.floor(fy)));
  const ax = Math.max(0, Math.min(1, fx - x));
  const ay = Math.max(0, Math.min(1, fy - y));
  const g = (xx: number, yy: number) => img.grey[yy * img.width + xx]!;
  return (
    (1 - ay) * ((1 - ax) * g(x, y) + ax * g(x + 1, y)) + ay * ((1 - ax) * g(x, y + 1) + ax * g(x + 1, y + 1))
  );
}

/**
 * The rendered picture brought back onto the image grid (greyAtCentre at every image pixel), for
 * a viewer that placed the image as `at` says.
 */
export function sampleOnImageGrid(img: GreyImage, at: Placement, cols: number, rows: number): Float64Array {
  const out = new Float64Array(cols * rows);
  for (let j = 0; j < rows; j++)
    for (let i = 0; i < cols; i++) out[j * cols + i] = greyAtCentre(img, at, { i, j });
  return out;
}
