/**
 * Seeded pseudo-random numbers for the synthetic study generator.
 *
 * Why not Math.random: every study must be byte-identical for the same seed, so all
 * randomness flows from explicit generators. Each concern (anatomy, lesions, noise of
 * series N ...) gets its own stream derived from (seed, label), so adding a draw in one
 * concern never shifts the numbers another concern sees.
 */
import { createHash } from 'node:crypto';

/** 32-bit state words derived from (seed, label) with SHA-256; stable across platforms. */
function seedWords(seed: number, label: string): [number, number, number, number] {
  const h = createHash('sha256').update(`radlink-synth:${seed}:${label}`).digest();
  return [h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12)];
}

/**
 * sfc32 generator (Chris Doty-Humphrey's Small Fast Counting RNG): fast in JS, passes
 * PractRand for our purposes, and only uses 32-bit integer ops (deterministic everywhere).
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | null = null;

  constructor(seed: number, label: string) {
    [this.a, this.b, this.c, this.d] = seedWords(seed, label);
    // Warm up so weak seeds do not leak structure into the first draws.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer uniform in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** `center ± spread` uniformly: the usual way anatomy is jittered. */
  jitter(center: number, spread: number): number {
    return center + spread * (2 * this.next() - 1);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('Rng.pick on empty list');
    return item;
  }

  /** Standard normal via Box–Muller; caches the second value of each pair. */
  normal(): number {
    if (this.spareNormal !== null) {
      const s = this.spareNormal;
      this.spareNormal = null;
      return s;
    }
    let u = this.next();
    if (u < 1e-12) u = 1e-12;
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /**
   * Fill `out` with N(0, sigma²) samples. Hot path (tens of millions of voxels), so the
   * generator state is kept in locals rather than going through next() per sample.
   */
  fillNormal(out: Float32Array, sigma: number): void {
    let a = this.a;
    let b = this.b;
    let c = this.c;
    let d = this.d;
    const n = out.length;
    for (let i = 0; i < n; i += 2) {
      let t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (c << 21) | (c >>> 11);
      c = (c + t) | 0;
      const u = ((t >>> 0) + 1) / 4294967297; // (0, 1): log never sees 0
      t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (c << 21) | (c >>> 11);
      c = (c + t) | 0;
      const v = (t >>> 0) / 4294967296;
      const r = sigma * Math.sqrt(-2 * Math.log(u));
      const angle = 2 * Math.PI * v;
      out[i] = r * Math.cos(angle);
      if (i + 1 < n) out[i + 1] = r * Math.sin(angle);
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
  }
}
