/**
 * Tissue classes and their intensities per series kind.
 *
 * The anatomy model only knows tissue classes; what a tissue looks like is decided per
 * series, so a CT portal-venous series and a T2 MR series of the same phantom share one
 * anatomy (and one lesion ground truth) but differ in contrast.
 *
 * CT values are Hounsfield units from typical adult abdominal CT (portal-venous phase:
 * liver ~100–120 HU, aorta ~150–200 HU). MR values are arbitrary signal units chosen to
 * reproduce the relative brightness seen on fast spin-echo T2 (fluid brightest, liver dark,
 * flow voids in the aorta, fat bright unless fat-saturated).
 */

export const Tissue = {
  Air: 0,
  Lung: 1,
  SubcutaneousFat: 2,
  Muscle: 3,
  VisceralFat: 4,
  Liver: 5,
  Spleen: 6,
  KidneyCortex: 7,
  KidneyMedulla: 8,
  Aorta: 9,
  Ivc: 10,
  BoneCortex: 11,
  BoneMarrow: 12,
  Disc: 13,
  SpinalCanal: 14,
  BowelWall: 15,
  BowelContent: 16,
  BowelAir: 17,
  StomachContent: 18,
  Gallbladder: 19,
  Pancreas: 20,
  Bladder: 21,
  RectalWall: 22,
  RectalLumen: 23,
  PelvicOrgan: 24, // prostate (male) or uterus (female)
  Table: 25,
} as const;
export type TissueId = (typeof Tissue)[keyof typeof Tissue];
export const TISSUE_COUNT = 26;

export type SeriesKind = 'ct-portal-venous' | 'ct-non-contrast' | 'mr-t2' | 'mr-t2-fatsat';

export function modalityOf(kind: SeriesKind): 'CT' | 'MR' {
  return kind.startsWith('ct-') ? 'CT' : 'MR';
}

type Table = Record<keyof typeof Tissue, number>;

const CT_PORTAL: Table = {
  Air: -1000,
  Lung: -860,
  SubcutaneousFat: -105,
  Muscle: 55,
  VisceralFat: -95,
  Liver: 110,
  Spleen: 120,
  KidneyCortex: 185,
  KidneyMedulla: 140,
  Aorta: 175,
  Ivc: 150,
  BoneCortex: 850,
  BoneMarrow: 260,
  Disc: 85,
  SpinalCanal: 15,
  BowelWall: 75,
  BowelContent: 20,
  BowelAir: -1000,
  StomachContent: 15,
  Gallbladder: 8,
  Pancreas: 100,
  Bladder: 8,
  RectalWall: 65,
  RectalLumen: 15,
  PelvicOrgan: 70,
  Table: 200,
};

const CT_PLAIN: Table = {
  ...CT_PORTAL,
  Muscle: 50,
  Liver: 60,
  Spleen: 50,
  KidneyCortex: 35,
  KidneyMedulla: 30,
  Aorta: 45,
  Ivc: 42,
  BowelWall: 40,
  Pancreas: 45,
  RectalWall: 40,
  PelvicOrgan: 40,
};

const MR_T2: Table = {
  Air: 4,
  Lung: 25,
  SubcutaneousFat: 900,
  Muscle: 160,
  VisceralFat: 860,
  Liver: 280,
  Spleen: 540,
  KidneyCortex: 620,
  KidneyMedulla: 780,
  Aorta: 50, // flow void
  Ivc: 110,
  BoneCortex: 20,
  BoneMarrow: 650, // fatty marrow is bright on fast spin echo
  Disc: 700,
  SpinalCanal: 1700,
  BowelWall: 300,
  BowelContent: 1150,
  BowelAir: 4,
  StomachContent: 1400,
  Gallbladder: 1800,
  Pancreas: 380,
  Bladder: 1900,
  RectalWall: 210,
  RectalLumen: 450,
  PelvicOrgan: 520,
  Table: 4, // the table is invisible on MR
};

const MR_T2_FATSAT: Table = {
  ...MR_T2,
  SubcutaneousFat: 110,
  VisceralFat: 100,
  BoneMarrow: 140,
  Liver: 230,
  Muscle: 140,
  Disc: 650,
};

const TABLES: Record<SeriesKind, Table> = {
  'ct-portal-venous': CT_PORTAL,
  'ct-non-contrast': CT_PLAIN,
  'mr-t2': MR_T2,
  'mr-t2-fatsat': MR_T2_FATSAT,
};

/** Intensity lookup indexed by TissueId (HU for CT, signal units for MR). */
export function tissueTable(kind: SeriesKind): Float32Array {
  const out = new Float32Array(TISSUE_COUNT);
  const table = TABLES[kind];
  for (const [name, id] of Object.entries(Tissue)) {
    out[id] = table[name as keyof typeof Tissue];
  }
  return out;
}

/** Lower-case organ names used in the ground truth. */
export function tissueName(id: TissueId): string {
  for (const [name, value] of Object.entries(Tissue)) if (value === id) return name;
  return 'unknown';
}
