/**
 * Analytic torso phantom: a list of 3-D primitives (ellipsoids and z-tubes with elliptic
 * cross-sections) painted in order, later ones over earlier ones. It spans from above the
 * liver dome to below the femoral heads, so CT abdomen and MR abdomen/pelvis series cut
 * different z ranges out of the same patient.
 *
 * Coordinates are DICOM patient LPS millimetres: +x = patient left (image right), +y =
 * posterior (image bottom), +z = superior. So the liver sits at negative x, the spleen at
 * positive x, the spine at positive y.
 *
 * Every primitive is evaluated per slice as a 2-D ellipse (see crossSection), and the same
 * evaluation answers point queries (tissueAt), so lesion placement and rendering agree.
 */
import type { Rng } from './random.js';
import { Tissue, type TissueId } from './tissues.js';

interface PrimitiveBase {
  tissue: TissueId;
  /** Rotation of the cross-section about +z (radians). */
  angle: number;
  /** Keep only the part with y <= clipYMax (air caps: gas floats anteriorly in a supine patient). */
  clipYMax?: number;
  /** Present only where ((z - phase) mod period) < on: vertebral bodies vs discs, ribs. */
  periodic?: { period: number; phase: number; on: number };
}

export interface Ellipsoid extends PrimitiveBase {
  kind: 'ellipsoid';
  centre: [number, number, number];
  radii: [number, number, number];
}

/** Elliptic tube along z whose centre and radii vary linearly from zTop to zBottom. */
export interface Tube extends PrimitiveBase {
  kind: 'tube';
  zTop: number;
  zBottom: number;
  top: { x: number; y: number; a: number; b: number };
  bottom: { x: number; y: number; a: number; b: number };
}

export type Primitive = Ellipsoid | Tube;

/** Axial cross-section of a primitive: an ellipse in mm, rotated by (cos, sin). */
export interface Shape2D {
  tissue: TissueId;
  cx: number;
  cy: number;
  a: number;
  b: number;
  cos: number;
  sin: number;
  clipYMax: number;
}

export interface Anatomy {
  primitives: Primitive[];
  /** z of the liver dome; every landmark is defined relative to it. */
  zDome: number;
  /** y of the posterior skin surface (the table is just behind it). */
  yBack: number;
  /** Rectum axis, for placing rectal-wall lesions. */
  rectum: {
    zTop: number;
    zBottom: number;
    x: number;
    yTop: number;
    yBottom: number;
    rOuter: number;
    rInner: number;
  };
}

export function crossSection(p: Primitive, z: number): Shape2D | null {
  if (p.periodic) {
    const m = (((z - p.periodic.phase) % p.periodic.period) + p.periodic.period) % p.periodic.period;
    if (m >= p.periodic.on) return null;
  }
  let cx: number;
  let cy: number;
  let a: number;
  let b: number;
  if (p.kind === 'ellipsoid') {
    const dz = (z - p.centre[2]) / p.radii[2];
    if (dz <= -1 || dz >= 1) return null;
    const s = Math.sqrt(1 - dz * dz);
    cx = p.centre[0];
    cy = p.centre[1];
    a = p.radii[0] * s;
    b = p.radii[1] * s;
  } else {
    if (z > p.zTop || z < p.zBottom) return null;
    const t = p.zTop === p.zBottom ? 0 : (p.zTop - z) / (p.zTop - p.zBottom);
    cx = p.top.x + t * (p.bottom.x - p.top.x);
    cy = p.top.y + t * (p.bottom.y - p.top.y);
    a = p.top.a + t * (p.bottom.a - p.top.a);
    b = p.top.b + t * (p.bottom.b - p.top.b);
  }
  if (a < 0.2 || b < 0.2) return null;
  return {
    tissue: p.tissue,
    cx,
    cy,
    a,
    b,
    cos: Math.cos(p.angle),
    sin: Math.sin(p.angle),
    clipYMax: p.clipYMax ?? Number.POSITIVE_INFINITY,
  };
}

/** Whether (x, y) lies inside a cross-section (boundary by the same rule as the rasteriser's 50 % level). */
export function shapeContains(s: Shape2D, x: number, y: number): boolean {
  if (y > s.clipYMax) return false;
  const dx = x - s.cx;
  const dy = y - s.cy;
  const u = dx * s.cos + dy * s.sin;
  const v = -dx * s.sin + dy * s.cos;
  return (u * u) / (s.a * s.a) + (v * v) / (s.b * s.b) < 1;
}

/** Top-most tissue at a point (what an ideal noise-free scanner would see there). */
export function tissueAt(anatomy: Anatomy, x: number, y: number, z: number): TissueId {
  let tissue: TissueId = Tissue.Air;
  for (const p of anatomy.primitives) {
    const s = crossSection(p, z);
    if (s && shapeContains(s, x, y)) tissue = p.tissue;
  }
  return tissue;
}

/** Cross-sections of all primitives at z, in painting order. */
export function sliceShapes(anatomy: Anatomy, z: number): Shape2D[] {
  const out: Shape2D[] = [];
  for (const p of anatomy.primitives) {
    const s = crossSection(p, z);
    if (s) out.push(s);
  }
  return out;
}

const ell = (
  tissue: TissueId,
  centre: [number, number, number],
  radii: [number, number, number],
  angle = 0,
  extra: Partial<PrimitiveBase> = {},
): Ellipsoid => ({ kind: 'ellipsoid', tissue, centre, radii, angle, ...extra });

const tube = (
  tissue: TissueId,
  zTop: number,
  zBottom: number,
  top: Tube['top'],
  bottom: Tube['bottom'],
  angle = 0,
  extra: Partial<PrimitiveBase> = {},
): Tube => ({ kind: 'tube', tissue, zTop, zBottom, top, bottom, angle, ...extra });

const deg = Math.PI / 180;

/**
 * Build one patient's torso. All sizes and positions are jittered from the seed stream so
 * studies differ, within ranges that keep organs anatomically plausible (liver right and
 * large, spleen left-posterior, kidneys paravertebral, aorta left-anterior of the spine,
 * IVC to its right).
 */
export function buildAnatomy(rng: Rng, opts: { sex: 'M' | 'F' | 'O'; zDome: number }): Anatomy {
  const P: Primitive[] = [];
  const z0 = opts.zDome;
  const zTopAll = z0 + 120;
  const zBotAll = z0 - 460;

  // Body habitus.
  const A = rng.jitter(160, 18); // half-width at the liver level
  const B = rng.jitter(112, 14); // half AP depth
  const cy = rng.jitter(-8, 6); // body centre y (the table is at +y, posterior)
  const fat = rng.jitter(20, 8); // subcutaneous fat thickness
  const wall = rng.jitter(10, 2); // abdominal wall muscle
  const hip = rng.jitter(1.1, 0.05);
  const yBack = cy + B;
  // Peritoneal cavity half-axes (inside the wall): organs are sized from these so they stay inside.
  const Ac = A - fat - wall;
  const Bc = B - (fat * 0.8 + wall * 0.9);

  // Scanner table: a curved board just behind the patient (the air inside hides its lower half).
  P.push(
    tube(
      Tissue.Table,
      zTopAll,
      zBotAll,
      { x: 0, y: yBack + 70, a: 240, b: 64 },
      { x: 0, y: yBack + 70, a: 240, b: 64 },
    ),
  );
  P.push(
    tube(
      Tissue.Air,
      zTopAll,
      zBotAll,
      { x: 0, y: yBack + 72, a: 232, b: 58 },
      { x: 0, y: yBack + 72, a: 232, b: 58 },
    ),
  );

  // Body wall layers: skin/subcutaneous fat, muscle, then the visceral fat that fills the cavity.
  const layer = (tissue: TissueId, inset: number, insetY: number) => {
    const zMid = z0 - 170;
    P.push(
      tube(
        tissue,
        zTopAll,
        zMid,
        { x: 0, y: cy, a: A * 1.02 - inset, b: B - insetY },
        { x: 0, y: cy, a: A * 0.97 - inset, b: B * 0.98 - insetY },
      ),
    );
    P.push(
      tube(
        tissue,
        zMid,
        zBotAll,
        { x: 0, y: cy, a: A * 0.97 - inset, b: B * 0.98 - insetY },
        { x: 0, y: cy, a: A * hip - inset, b: B * 1.02 - insetY },
      ),
    );
  };
  layer(Tissue.SubcutaneousFat, 0, 0);
  layer(Tissue.Muscle, fat, fat * 0.8);
  layer(Tissue.VisceralFat, fat + wall, fat * 0.8 + wall * 0.9);

  // Paraspinal muscles, outside the cavity behind the spine.
  for (const side of [-1, 1]) {
    P.push(
      tube(
        Tissue.Muscle,
        zTopAll,
        z0 - 300,
        { x: side * 36, y: yBack - 38, a: 30, b: 24 },
        { x: side * 34, y: yBack - 36, a: 26, b: 22 },
      ),
    );
  }

  // Lung bases: peripheral and posterior around the liver dome.
  for (const side of [-1, 1]) {
    P.push(
      ell(Tissue.Lung, [side * rng.jitter(82, 6), cy + 30, z0 + 48], [A * 0.5, B * 0.78, rng.jitter(78, 6)]),
    );
  }

  // Ribs around the upper abdomen: short oblique bone sections on the muscle layer.
  const ribPhase = rng.range(0, 24);
  for (let zr = z0 + 40 - ribPhase; zr > z0 - 130; zr -= 24) {
    for (const side of [-1, 1]) {
      for (const theta of [20, 55, 95, 130, 160]) {
        const t = theta * deg;
        const rx = (A - fat - wall * 0.5) * Math.cos(t) * side;
        const ry = cy - (B - fat * 0.8 - wall * 0.5) * Math.sin(t) * (theta < 100 ? 1 : -1) * 0.9;
        const ang = Math.atan2(ry - cy, rx) + Math.PI / 2;
        P.push(ell(Tissue.BoneCortex, [rx, ry, zr], [8, 4.5, 7], ang));
        P.push(ell(Tissue.BoneMarrow, [rx, ry, zr], [5.5, 2.5, 5], ang));
      }
    }
  }

  // Liver: a large right lobe plus a left lobe crossing the midline anteriorly.
  const liverR: [number, number, number] = [
    Ac * rng.jitter(0.46, 0.02),
    Bc * rng.jitter(0.74, 0.03),
    rng.jitter(82, 10),
  ];
  P.push(
    ell(
      Tissue.Liver,
      [-Ac * 0.5, cy + Bc * rng.jitter(0.04, 0.04), z0 - liverR[2]],
      liverR,
      rng.jitter(0, 5) * deg,
    ),
  );
  P.push(
    ell(
      Tissue.Liver,
      [rng.jitter(15, 6), cy - Bc * 0.45, z0 - rng.jitter(50, 8)],
      [Ac * rng.jitter(0.45, 0.04), Bc * 0.4, rng.jitter(44, 6)],
      rng.jitter(-12, 6) * deg,
    ),
  );

  // Gallbladder under the liver.
  const gbZ = z0 - rng.jitter(125, 10);
  P.push(
    ell(
      Tissue.Gallbladder,
      [-Ac * 0.3, cy - Bc * 0.4, gbZ],
      [rng.jitter(15, 3), rng.jitter(19, 3), rng.jitter(32, 5)],
      30 * deg,
    ),
  );

  // Stomach (left upper quadrant) with an anterior air cap.
  const st: [number, number, number] = [Ac * 0.45, cy - Bc * 0.3, z0 - rng.jitter(62, 8)];
  const stR: [number, number, number] = [
    Ac * rng.jitter(0.32, 0.04),
    Bc * rng.jitter(0.36, 0.04),
    rng.jitter(48, 6),
  ];
  P.push(ell(Tissue.BowelWall, st, stR, 25 * deg));
  P.push(ell(Tissue.StomachContent, st, [stR[0] - 4, stR[1] - 4, stR[2] - 4], 25 * deg));
  P.push(
    ell(Tissue.BowelAir, st, [stR[0] - 4, stR[1] - 4, stR[2] - 4], 25 * deg, {
      clipYMax: st[1] - stR[1] * 0.35,
    }),
  );

  // Spleen: left, posterior.
  P.push(
    ell(
      Tissue.Spleen,
      [Ac * 0.62, cy + Bc * 0.3, z0 - rng.jitter(72, 8)],
      [rng.jitter(26, 4), rng.jitter(48, 5), rng.jitter(50, 6)],
      rng.jitter(40, 8) * deg,
    ),
  );

  // Pancreas: a flat band across the midline in front of the vessels.
  P.push(
    ell(
      Tissue.Pancreas,
      [rng.jitter(10, 5), yBack - 95, z0 - rng.jitter(112, 8)],
      [rng.jitter(62, 6), 13, 15],
      rng.jitter(-15, 5) * deg,
    ),
  );

  // Kidneys: paravertebral; the right one a little lower (pushed down by the liver).
  for (const side of [-1, 1]) {
    const c: [number, number, number] = [
      side * rng.jitter(70, 5),
      yBack - 66,
      z0 - rng.jitter(side < 0 ? 150 : 135, 8),
    ];
    const r: [number, number, number] = [rng.jitter(26, 3), rng.jitter(23, 3), rng.jitter(55, 5)];
    const ang = side * rng.jitter(28, 6) * deg;
    P.push(ell(Tissue.KidneyCortex, c, r, ang));
    P.push(
      ell(Tissue.KidneyMedulla, [c[0] - side * 4, c[1], c[2]], [r[0] * 0.55, r[1] * 0.6, r[2] * 0.75], ang),
    );
  }

  // Colon: ascending (right), descending (left), transverse (anterior), each with gas.
  const colonSeg = (x: number, zt: number, zb: number, r: number) => {
    const y = cy - rng.jitter(5, 10);
    P.push(tube(Tissue.BowelWall, zt, zb, { x, y, a: r, b: r }, { x, y, a: r, b: r }));
    P.push(tube(Tissue.BowelContent, zt, zb, { x, y, a: r - 3, b: r - 3 }, { x, y, a: r - 3, b: r - 3 }));
    P.push(
      tube(Tissue.BowelAir, zt, zb, { x, y, a: r - 3, b: r - 3 }, { x, y, a: r - 3, b: r - 3 }, 0, {
        clipYMax: y - r * rng.range(-0.1, 0.5),
      }),
    );
  };
  colonSeg(-Ac * 0.78, z0 - 165, z0 - 265, rng.jitter(22, 3));
  colonSeg(Ac * 0.8, z0 - 110, z0 - 270, rng.jitter(18, 3));
  const tc: [number, number, number] = [0, cy - Bc * 0.68, z0 - rng.jitter(160, 10)];
  P.push(ell(Tissue.BowelWall, tc, [Ac * 0.7, 20, 20]));
  P.push(ell(Tissue.BowelContent, tc, [Ac * 0.7 - 3, 17, 17]));
  P.push(ell(Tissue.BowelAir, tc, [Ac * 0.7 - 3, 17, 17], 0, { clipYMax: tc[1] - 4 }));

  // Small-bowel loops in the mid and lower abdomen.
  const loops = rng.int(10, 16);
  for (let n = 0; n < loops; n++) {
    const c: [number, number, number] = [
      rng.jitter(0, Ac * 0.55),
      cy + rng.jitter(-Bc * 0.25, Bc * 0.3),
      z0 - rng.range(175, 285),
    ];
    const r = rng.range(11, 17);
    const rz = rng.range(14, 30);
    const ang = rng.range(0, Math.PI);
    P.push(ell(Tissue.BowelWall, c, [r, r * 0.85, rz], ang));
    P.push(ell(Tissue.BowelContent, c, [r - 2.5, r * 0.85 - 2.5, rz - 2.5], ang));
    if (rng.next() < 0.4)
      P.push(ell(Tissue.BowelAir, c, [r - 2.5, r * 0.85 - 2.5, rz - 2.5], ang, { clipYMax: c[1] - r * 0.3 }));
  }

  // Psoas muscles: growing down the lumbar spine.
  for (const side of [-1, 1]) {
    P.push(
      tube(
        Tissue.Muscle,
        z0 - 120,
        z0 - 300,
        { x: side * 36, y: yBack - 62, a: 7, b: 7 },
        { x: side * 58, y: yBack - 70, a: 26, b: 22 },
      ),
    );
  }

  // Great vessels: aorta slightly left of midline, IVC to the right; aortic bifurcation into iliacs.
  const yVessel = yBack - 82;
  const zBif = z0 - rng.jitter(235, 10);
  P.push(
    tube(
      Tissue.Aorta,
      zTopAll,
      zBif,
      { x: 14, y: yVessel, a: 12, b: 12 },
      { x: 8, y: yVessel - 6, a: 9.5, b: 9.5 },
    ),
  );
  P.push(
    tube(
      Tissue.Ivc,
      zTopAll,
      zBif - 15,
      { x: -24, y: yVessel + 2, a: 13, b: 10 },
      { x: -18, y: yVessel - 2, a: 12, b: 9 },
    ),
  );
  for (const side of [-1, 1]) {
    P.push(
      tube(
        Tissue.Aorta,
        zBif,
        z0 - 345,
        { x: 8 + side * 6, y: yVessel - 6, a: 7, b: 7 },
        { x: side * 75, y: cy + 5, a: 6, b: 6 },
      ),
    );
  }

  // Spine: discs everywhere, vertebral bodies (cortex shell + marrow) in a 34 mm period,
  // canal and spinous processes behind. Replaced by the sacrum lower down.
  const ySpine = yBack - 52;
  const zSacrum = z0 - 275;
  const vPhase = rng.range(0, 34);
  P.push(
    tube(
      Tissue.Disc,
      zTopAll,
      zSacrum,
      { x: 0, y: ySpine, a: 19, b: 15 },
      { x: 0, y: ySpine - 4, a: 25, b: 19 },
    ),
  );
  const vert = { period: 34, phase: vPhase, on: 26 };
  P.push(
    tube(
      Tissue.BoneCortex,
      zTopAll,
      zSacrum,
      { x: 0, y: ySpine, a: 19, b: 15 },
      { x: 0, y: ySpine - 4, a: 25, b: 19 },
      0,
      { periodic: vert },
    ),
  );
  P.push(
    tube(
      Tissue.BoneMarrow,
      zTopAll,
      zSacrum,
      { x: 0, y: ySpine, a: 16, b: 12 },
      { x: 0, y: ySpine - 4, a: 22, b: 16 },
      0,
      { periodic: vert },
    ),
  );
  P.push(
    tube(
      Tissue.BoneCortex,
      zTopAll,
      zSacrum,
      { x: 0, y: ySpine + 26, a: 14, b: 11 },
      { x: 0, y: ySpine + 24, a: 15, b: 12 },
    ),
  );
  P.push(
    tube(
      Tissue.SpinalCanal,
      zTopAll,
      zSacrum,
      { x: 0, y: ySpine + 26, a: 9, b: 7 },
      { x: 0, y: ySpine + 24, a: 10, b: 8 },
    ),
  );
  P.push(
    tube(
      Tissue.BoneCortex,
      zTopAll,
      zSacrum,
      { x: 0, y: ySpine + 45, a: 5, b: 14 },
      { x: 0, y: ySpine + 45, a: 5, b: 14 },
      0,
      { periodic: { period: 34, phase: vPhase + 6, on: 18 } },
    ),
  );

  // Pelvis: iliac wings, sacrum, femoral heads and necks, gluteal muscles.
  for (const side of [-1, 1]) {
    P.push(
      tube(
        Tissue.Muscle,
        z0 - 250,
        zBotAll,
        { x: side * 70, y: yBack - 30, a: 45, b: 25 },
        { x: side * 85, y: yBack - 40, a: 65, b: 40 },
      ),
    );
    const ilium = { x: side * A * 0.55, y: yBack - 55, a: 50, b: 10 };
    P.push(
      tube(
        Tissue.BoneCortex,
        z0 - 235,
        z0 - 325,
        ilium,
        { x: side * A * 0.55, y: cy + 10, a: 28, b: 22 },
        side * 55 * deg,
      ),
    );
    P.push(
      tube(
        Tissue.BoneMarrow,
        z0 - 235,
        z0 - 325,
        { ...ilium, a: 46, b: 6 },
        { x: side * A * 0.55, y: cy + 10, a: 24, b: 18 },
        side * 55 * deg,
      ),
    );
    const fh: [number, number, number] = [side * A * 0.56, cy + 8, z0 - 355];
    P.push(ell(Tissue.BoneCortex, fh, [25, 25, 25]));
    P.push(ell(Tissue.BoneMarrow, fh, [21, 21, 21]));
    const shaft = { x: side * A * 0.62, y: cy + 10, a: 16, b: 16 };
    P.push(tube(Tissue.BoneCortex, z0 - 365, zBotAll, shaft, { ...shaft, x: side * A * 0.66 }));
    P.push(
      tube(
        Tissue.BoneMarrow,
        z0 - 365,
        zBotAll,
        { ...shaft, a: 10, b: 10 },
        { ...shaft, x: side * A * 0.66, a: 10, b: 10 },
      ),
    );
  }
  P.push(
    tube(
      Tissue.BoneCortex,
      zSacrum,
      z0 - 345,
      { x: 0, y: ySpine - 4, a: 48, b: 20 },
      { x: 0, y: yBack - 18, a: 18, b: 10 },
    ),
  );
  P.push(
    tube(
      Tissue.BoneMarrow,
      zSacrum,
      z0 - 345,
      { x: 0, y: ySpine - 4, a: 42, b: 15 },
      { x: 0, y: yBack - 18, a: 13, b: 6 },
    ),
  );

  // Bladder, pelvic organ, rectum (wall + lumen).
  P.push(
    ell(
      Tissue.Bladder,
      [0, cy - B * 0.3, z0 - rng.jitter(330, 8)],
      [rng.jitter(48, 6), rng.jitter(38, 5), rng.jitter(40, 5)],
    ),
  );
  if (opts.sex === 'F') {
    P.push(ell(Tissue.PelvicOrgan, [0, cy + 12, z0 - 300], [38, 26, 42], 0));
  } else {
    P.push(ell(Tissue.PelvicOrgan, [0, cy + 15, z0 - 385], [22, 18, 20]));
  }
  const rect = {
    zTop: z0 - 285,
    zBottom: z0 - 440,
    x: 0,
    yTop: yBack - 62,
    yBottom: yBack - 48,
    rOuter: rng.jitter(19, 2),
    rInner: 0,
  };
  rect.rInner = rect.rOuter - rng.jitter(6, 1);
  P.push(
    tube(
      Tissue.RectalWall,
      rect.zTop,
      rect.zBottom,
      { x: 0, y: rect.yTop, a: rect.rOuter, b: rect.rOuter * 0.9 },
      { x: 0, y: rect.yBottom, a: rect.rOuter, b: rect.rOuter * 0.9 },
    ),
  );
  P.push(
    tube(
      Tissue.RectalLumen,
      rect.zTop,
      rect.zBottom,
      { x: 0, y: rect.yTop, a: rect.rInner, b: rect.rInner * 0.85 },
      { x: 0, y: rect.yBottom, a: rect.rInner, b: rect.rInner * 0.85 },
    ),
  );

  return { primitives: P, zDome: z0, yBack, rectum: rect };
}
