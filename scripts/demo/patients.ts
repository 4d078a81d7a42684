/**
 * Demo facilities and Vietnamese demo patients.
 *
 * Names are DICOM PN values, family name first (`Họ^Tên đệm Tên`), in Unicode NFC; they are
 * written with SpecificCharacterSet ISO_IR 192 (UTF-8). Each patient carries the hospital ID
 * (PatientID + IssuerOfPatientID) and, as DOMAIN.md requires, the social-insurance (BHXH)
 * number and the citizen ID (CCCD), each with its issuer (OtherPatientIDsSequence).
 *
 * All identifiers are fictitious. demoIdentifiers() lists every string that must never
 * appear in a log (the logscan test tier greps for them).
 */

export type FacilityTier = 'central' | 'provincial' | 'district' | 'commune';

export interface DemoFacility {
  id: string;
  name: string;
  tier: FacilityTier;
  /** AE title of the facility's modality (≤ 16 chars, upper case): SourceApplicationEntityTitle, StationName. */
  aeTitle: string;
  /** Issuer of the facility's own patient IDs (IssuerOfPatientID). */
  patientIdIssuer: string;
}

export interface DemoPatientIdentifier {
  id: string;
  issuer: string;
  /** DICOM TypeOfPatientID. */
  type: 'TEXT';
}

export interface DemoPatient {
  /** Short stable key for code and fixtures (not an identifier that leaks anything). */
  key: string;
  /** DICOM PN, NFC, family name first. */
  name: string;
  /** Hospital patient ID, issued by `issuerOfPatientId`. */
  patientId: string;
  issuerOfPatientId: string;
  /** Mã số BHXH, 10 digits. */
  bhxh: string;
  /** Căn cước công dân, 12 digits: province code, century/sex digit, birth year, serial. */
  cccd: string;
  /** DICOM DA, YYYYMMDD. */
  birthDate: string;
  sex: 'M' | 'F';
  facilityId: string;
}

export const BHXH_ISSUER = 'VN-BHXH';
export const CCCD_ISSUER = 'VN-CCCD';

export const DEMO_FACILITIES: readonly DemoFacility[] = [
  {
    id: 'bv-trung-uong',
    name: 'Bệnh viện Trung ương Demo',
    tier: 'central',
    aeTitle: 'TW_CT',
    patientIdIssuer: 'BVTW-DEMO',
  },
  {
    id: 'bv-tinh-demo',
    name: 'Bệnh viện Đa khoa Tỉnh Demo',
    tier: 'provincial',
    aeTitle: 'TINH_MR',
    patientIdIssuer: 'BVT-DEMO',
  },
  {
    id: 'ttyt-huyen-demo',
    name: 'Trung tâm Y tế Huyện Demo',
    tier: 'district',
    aeTitle: 'HUYEN_CT',
    patientIdIssuer: 'TTYTH-DEMO',
  },
  {
    id: 'tram-xa-demo',
    name: 'Trạm Y tế Xã Demo',
    tier: 'commune',
    aeTitle: 'XA_US',
    patientIdIssuer: 'TYTX-DEMO',
  },
];

/** Build a CCCD: 3-digit province, century+sex digit (0/1: 1900s M/F, 2/3: 2000s M/F), 2-digit year, 6 serial. */
function cccd(province: string, birthDate: string, sex: 'M' | 'F', serial: string): string {
  const year = Number(birthDate.slice(0, 4));
  const century = year >= 2000 ? 2 : 0;
  return `${province}${century + (sex === 'F' ? 1 : 0)}${birthDate.slice(2, 4)}${serial}`;
}

function patient(
  key: string,
  name: string,
  sex: 'M' | 'F',
  birthDate: string,
  facilityId: string,
  hospitalNo: string,
  bhxh: string,
  province: string,
  serial: string,
): DemoPatient {
  const facility = DEMO_FACILITIES.find((f) => f.id === facilityId);
  if (!facility) throw new Error(`unknown facility ${facilityId}`);
  return {
    key,
    name: name.normalize('NFC'),
    patientId: hospitalNo,
    issuerOfPatientId: facility.patientIdIssuer,
    bhxh,
    cccd: cccd(province, birthDate, sex, serial),
    birthDate,
    sex,
    facilityId,
  };
}

export const DEMO_PATIENTS: readonly DemoPatient[] = [
  patient(
    'khai',
    'Nguyễn^Thị Minh Khai',
    'F',
    '19680412',
    'bv-trung-uong',
    'TW24001873',
    '0112873641',
    '001',
    '204517',
  ),
  patient(
    'hung',
    'Đặng^Văn Hùng',
    'M',
    '19550927',
    'ttyt-huyen-demo',
    'HD0003391',
    '3519284467',
    '035',
    '118204',
  ),
  patient(
    'anh',
    'Trần^Thị Ngọc Ánh',
    'F',
    '19790103',
    'bv-tinh-demo',
    'T2300458',
    '3011739902',
    '030',
    '667310',
  ),
  patient(
    'duc',
    'Lê^Quang Đức',
    'M',
    '19620718',
    'bv-trung-uong',
    'TW24002915',
    '0109284715',
    '001',
    '731004',
  ),
  patient(
    'chau',
    'Phạm^Minh Châu',
    'F',
    '19900225',
    'bv-tinh-demo',
    'T2300977',
    '3018820135',
    '030',
    '045922',
  ),
  patient(
    'huong',
    'Trương^Thị Thu Hường',
    'F',
    '19840611',
    'ttyt-huyen-demo',
    'HD0004120',
    '3520017438',
    '035',
    '590381',
  ),
  patient(
    'giang',
    'Vũ^Hương Giang',
    'F',
    '20010830',
    'tram-xa-demo',
    'XA000214',
    '3521193006',
    '035',
    '302876',
  ),
  patient(
    'tien',
    'Bùi^Đức Tiến',
    'M',
    '19471105',
    'bv-trung-uong',
    'TW24003302',
    '0107745120',
    '001',
    '819463',
  ),
];

export function findPatient(key: string): DemoPatient {
  const p = DEMO_PATIENTS.find((x) => x.key === key);
  if (!p) throw new Error(`unknown demo patient ${key}`);
  return p;
}

export function findFacility(id: string): DemoFacility {
  const f = DEMO_FACILITIES.find((x) => x.id === id);
  if (!f) throw new Error(`unknown demo facility ${id}`);
  return f;
}

/**
 * Remove Vietnamese diacritics: NFD, drop combining marks (U+0300–U+036F), and map đ/Đ to
 * d/D explicitly because đ (U+0111) has no decomposition. Case is kept.
 */
export function foldDiacritics(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/đ/g, 'd')
    .replace(/Đ/g, 'D');
}

/** YYYYMMDD → YYYY-MM-DD. */
function isoDate(da: string): string {
  return `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}`;
}

/**
 * Every string a log must never contain, de-duplicated: each name in NFC, NFD and folded
 * form (both with the DICOM `^` and with a space, as UIs print it, plus the folded form in
 * upper case as old modalities send it), the hospital ID, BHXH, CCCD, and the birth date as
 * DICOM DA and ISO date. Name fragments are deliberately not listed: "Lê" or "Văn" alone
 * are too common to be evidence of a leak.
 */
export function demoIdentifiers(patients: readonly DemoPatient[] = DEMO_PATIENTS): string[] {
  const out = new Set<string>();
  for (const p of patients) {
    for (const name of [p.name, p.name.replace(/\^/g, ' ')]) {
      const nfc = name.normalize('NFC');
      const folded = foldDiacritics(nfc);
      out.add(nfc);
      out.add(nfc.normalize('NFD'));
      out.add(folded);
      out.add(folded.toUpperCase());
    }
    out.add(p.patientId);
    out.add(p.bhxh);
    out.add(p.cccd);
    out.add(p.birthDate);
    out.add(isoDate(p.birthDate));
  }
  return [...out];
}
