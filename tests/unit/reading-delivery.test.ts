/**
 * Delivery of signed reports, the pure parts: the PDF (Vietnamese glyphs embedded from DejaVu
 * Sans and text that round-trips through a reader's ToUnicode path, determinism, the attached
 * proof), the Encapsulated PDF wrapper, deterministic UIDs, measurements (checks and text), and
 * the FHIR R4 resources checked against the resource rules (required elements, value sets,
 * references to contained resources).
 */
import { createHash } from 'node:crypto';
import QRCode from 'qrcode';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../server/src/reading/canonical.js';
import { BASIC_TEXT_SR_STORAGE, buildBasicTextSr } from '../../server/src/reading/delivery/basic-text-sr.js';
import {
  buildEncapsulatedPdf,
  ENCAPSULATED_PDF_STORAGE,
  extractEncapsulatedPdf,
} from '../../server/src/reading/delivery/encapsulated-pdf.js';
import {
  diagnosticReport,
  type FhirPatientData,
  type FhirReportData,
  type FhirRequestData,
  type FhirStudyData,
  serviceRequest,
} from '../../server/src/reading/delivery/fhir.js';
import {
  type MeasurementInput,
  measurementText,
  problemOf,
  toMeasurement,
} from '../../server/src/reading/delivery/measurements.js';
import { displayName, type PdfInput, renderReportPdf } from '../../server/src/reading/delivery/pdf.js';
import {
  reportPdfInstanceUid,
  reportSeriesUid,
  reportSrInstanceUid,
  reportSrSeriesUid,
} from '../../server/src/reading/delivery/uids.js';
import { glyphFor, inspectPdf } from './reading-delivery-pdf-inspect.js';

const REPORT_ID = '5b0c7c5e-4a57-4d7f-9a43-3f7f0e7f1a01';
const canonical = Buffer.from(canonicalJson({ reportId: REPORT_ID, freeText: 'Tổn thương gan' }), 'utf8');

function pdfInput(over: Partial<PdfInput> = {}): PdfInput {
  return {
    reportId: REPORT_ID,
    language: 'vi',
    parentReportId: null,
    readingFacility: 'Bệnh viện Trung ương Huế',
    requestingFacility: 'Trung tâm Y tế Huyện Đặng',
    patient: { name: 'Nguyễn^Thị Minh Khai', id: 'BN-0042', issuer: 'BVTW', sex: 'F', birthDate: '19800101' },
    study: {
      uid: '2.25.1',
      date: '20250101',
      description: 'CT ổ bụng có cản quang',
      modalities: ['CT'],
      accessionNumber: 'RL0000000042',
    },
    request: { priority: 'urgent', clinicalInfo: 'Đau hạ sườn phải, sốt', question: 'Áp xe gan?' },
    title: 'CT bụng',
    sections: [
      {
        label: 'Mô tả',
        text: 'Gan: một tổn thương giảm tỷ trọng hạ phân thùy VII, bờ không đều. '.repeat(30),
      },
      { label: 'Kết luận', text: 'Tổn thương gan nghi áp xe.' },
    ],
    freeText: 'Đề nghị siêu âm kiểm tra sau điều trị.\n[Đo 1] Chiều dài — Gan: 23,4 mm [loạt 2, ảnh 45]',
    signer: { name: 'BS. Đặng Văn Đọc' },
    certificate: {
      subject: 'CN=BS. Đặng Văn Đọc, O=Bệnh viện Trung ương Huế',
      issuer: 'CN=RadLink DEMO CA — not a legal signature',
      serial: '0a1b2c',
    },
    signedAt: '2026-11-24T08:00:00.123Z',
    contentHash: createHash('sha256').update(canonical).digest('hex'),
    verification: { status: 'valid', reason: 'Chữ ký hợp lệ.', checkedAt: '2026-11-24T08:00:01.000Z' },
    verifyUrl: `https://radlink.example/api/reports/${REPORT_ID}/verify`,
    demo: true,
    canonicalContent: canonical,
    signature: 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln',
    ...over,
  };
}

describe('report PDF', () => {
  it('embeds DejaVu Sans subsets whose glyphs cover the Vietnamese text, and the text round-trips', async () => {
    const bytes = await renderReportPdf(pdfInput());
    const pdf = await inspectPdf(bytes);
    const regular = pdf.fonts.get('RLDJVS+DejaVuSans');
    const bold = pdf.fonts.get('RLDJVB+DejaVuSans-Bold');
    expect(regular, [...pdf.fonts.keys()].join(',')).toBeDefined();
    expect(bold).toBeDefined();
    // A subset, not the whole font (DejaVu Sans has ~6000 glyphs).
    expect(regular!.program.numGlyphs).toBeLessThan(300);
    for (const word of ['Nguyễn Thị Minh Khai', 'Đặng', 'gan', 'tổn thương', 'Đọc', 'ổ bụng', 'Áp xe']) {
      for (const ch of new Set(word.replace(/ /g, ''))) {
        const gid = glyphFor(regular!, ch);
        expect(gid, `glyph for "${ch}" of "${word}"`).toBeDefined();
        // The outline itself is in the embedded program (not an empty .notdef stand-in).
        expect(gid).not.toBe(0);
        expect(regular!.program.getGlyph(gid!).path.commands.length, `outline of "${ch}"`).toBeGreaterThan(0);
      }
    }
    const text = pdf.pages.flat().join(' ');
    expect(pdf.pages.flat().join('')).not.toContain('\uFFFD');
    for (const s of [
      'Nguyễn Thị Minh Khai',
      'BS. Đặng Văn Đọc',
      'Tổn thương gan nghi áp xe.',
      'Bệnh viện Trung ương Huế',
      'Trung tâm Y tế Huyện Đặng',
      'BN-0042 (BVTW)',
      '01/01/1980',
      'RL0000000042',
      'CN=RadLink DEMO CA — not a legal signature',
      '2026-11-24 08:00:00Z (UTC)',
      'valid — Chữ ký hợp lệ.',
      '[Đo 1] Chiều dài — Gan: 23,4 mm [loạt 2, ảnh 45]',
      'KHÔNG CÓ GIÁ TRỊ PHÁP LÝ',
    ])
      expect(text, s).toContain(s);
    // Long findings wrap onto a second page; every page has its footer.
    expect(pdf.pages.length).toBeGreaterThan(1);
    for (const [i, p] of pdf.pages.entries())
      expect(p.join(' ')).toContain(`Trang ${i + 1}/${pdf.pages.length}`);
  });

  it('lays text out inside the margins, without overlaps, clear of the QR code', async () => {
    const pdf = await inspectPdf(await renderReportPdf(pdfInput()));
    const margin = 50;
    for (const [p, runs] of pdf.runs.entries()) {
      expect(runs.length).toBeGreaterThan(0);
      const box = (r: (typeof runs)[number]) => ({
        x0: r.x,
        x1: r.x + r.width,
        y0: r.y - 0.25 * r.size,
        y1: r.y + 0.8 * r.size,
      });
      for (const r of runs) {
        expect(r.x, r.text).toBeGreaterThanOrEqual(margin - 0.01);
        expect(r.x + r.width, r.text).toBeLessThanOrEqual(pdf.pageSize.width - margin + 0.01);
        expect(r.y, r.text).toBeGreaterThanOrEqual(20);
      }
      const boxes = runs.map(box);
      for (let i = 0; i < boxes.length; i++)
        for (let j = i + 1; j < boxes.length; j++) {
          const a = boxes[i]!;
          const b = boxes[j]!;
          const overlap =
            a.x0 < b.x1 - 0.01 && b.x0 < a.x1 - 0.01 && a.y0 < b.y1 - 0.01 && b.y0 < a.y1 - 0.01;
          expect(overlap, `page ${p + 1}: "${runs[i]!.text}" overlaps "${runs[j]!.text}"`).toBe(false);
        }
      const qr = pdf.rects[p]!;
      if (qr.length === 0) continue;
      const q = {
        x0: Math.min(...qr.map((r) => r.x)),
        x1: Math.max(...qr.map((r) => r.x + r.w)),
        y0: Math.min(...qr.map((r) => r.y)),
        y1: Math.max(...qr.map((r) => r.y + r.h)),
      };
      for (const [i, b] of boxes.entries())
        expect(
          b.x0 < q.x1 && q.x0 < b.x1 && b.y0 < q.y1 && q.y0 < b.y1,
          `"${runs[i]!.text}" over the QR code`,
        ).toBe(false);
    }
    // The QR code is drawn once, on the page with the signature block, and its modules are
    // exactly the QR symbol of the verification URL.
    const pagesWithQr = pdf.rects.filter((r) => r.length > 0);
    expect(pagesWithQr).toHaveLength(1);
    const cells = pagesWithQr[0]!;
    const cell = cells[0]!.w;
    const x0 = Math.min(...cells.map((c) => c.x));
    const yTop = Math.max(...cells.map((c) => c.y));
    const drawn = new Set(
      cells.map((c) => `${Math.round((yTop - c.y) / cell)},${Math.round((c.x - x0) / cell)}`),
    );
    const symbol = QRCode.create(pdfInput().verifyUrl, { errorCorrectionLevel: 'M' }).modules;
    const expected = new Set<string>();
    let firstCol = symbol.size;
    for (let r = 0; r < symbol.size; r++)
      for (let c = 0; c < symbol.size; c++) if (symbol.get(r, c)) firstCol = Math.min(firstCol, c);
    for (let r = 0; r < symbol.size; r++)
      for (let c = 0; c < symbol.size; c++) if (symbol.get(r, c)) expected.add(`${r},${c - firstCol}`);
    expect(drawn.size).toBeGreaterThan(200);
    expect([...drawn].sort()).toEqual([...expected].sort());
  });

  it('carries the signed content and the signature as attachments, and is byte-for-byte reproducible', async () => {
    const a = await renderReportPdf(pdfInput());
    const b = await renderReportPdf(pdfInput());
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const pdf = await inspectPdf(a);
    expect(pdf.attachments.get('report.json')?.equals(canonical)).toBe(true);
    expect(pdf.attachments.get('signature.jws')?.toString()).toBe('eyJhbGciOiJFUzI1NiJ9.e30.c2ln');
    // Any input change changes the bytes (the record's hash names one rendering).
    const c = await renderReportPdf(pdfInput({ freeText: 'khác' }));
    expect(Buffer.from(c).equals(Buffer.from(a))).toBe(false);
  });

  it('renders an English addendum naming the report it amends', async () => {
    const pdf = await inspectPdf(
      await renderReportPdf(
        pdfInput({
          language: 'en',
          parentReportId: '00000000-0000-4000-8000-000000000001',
          sections: [],
          demo: false,
        }),
      ),
    );
    const text = pdf.pages.flat().join(' ');
    expect(text).toContain('REPORT ADDENDUM');
    expect(text).toContain('Amends report: 00000000-0000-4000-8000-000000000001');
    expect(text).not.toContain('DEMO CA CERTIFICATE');
  });

  it('shows DICOM names family first, without carets', () => {
    expect(displayName('Nguyễn^Thị Minh Khai')).toBe('Nguyễn Thị Minh Khai');
    expect(displayName('Đặng^Văn^^BS.')).toBe('Đặng Văn BS.');
    expect(displayName(null)).toBe('—');
  });
});

describe('Encapsulated PDF and UIDs', () => {
  it('wraps the PDF byte-exact (odd lengths padded, length recorded) with the study attributes', () => {
    for (const len of [1001, 1002]) {
      const pdf = Buffer.alloc(len, 7);
      pdf.write('%PDF-1.7');
      const file = buildEncapsulatedPdf({
        pdf,
        studyUid: '2.25.7',
        seriesUid: reportSeriesUid(REPORT_ID),
        sopInstanceUid: reportPdfInstanceUid(REPORT_ID, 3),
        instanceNumber: 1,
        patientStudy: { PatientName: 'Nguyễn^Thị Minh Khai', PatientID: 'BN-0042', StudyDate: '20250101' },
        documentTitle: 'Kết quả chẩn đoán hình ảnh',
        seriesDescription: 'Kết quả đọc (PDF đã ký)',
        signedAt: new Date('2026-11-24T08:00:00Z'),
      });
      expect(file.subarray(128, 132).toString()).toBe('DICM');
      expect(file.includes(Buffer.from(ENCAPSULATED_PDF_STORAGE))).toBe(true);
      expect(file.includes(Buffer.from('Nguyễn^Thị Minh Khai'))).toBe(true);
      expect(extractEncapsulatedPdf(file)?.equals(pdf)).toBe(true);
    }
    expect(extractEncapsulatedPdf(Buffer.from('not dicom'))).toBeNull();
  });

  it('writes the Basic Text SR deterministically: coded sections, labelled comments, the predecessor', () => {
    const input = {
      studyUid: '2.25.7',
      seriesUid: reportSrSeriesUid(REPORT_ID),
      sopInstanceUid: reportSrInstanceUid(REPORT_ID, 1),
      instanceNumber: 2,
      patientStudy: { PatientName: 'Nguyễn^Thị Minh Khai', PatientID: 'BN-0042' },
      seriesDescription: 'Kết quả đọc (SR)',
      signedAt: new Date('2026-11-24T08:00:00Z'),
      signerName: 'BS. Đặng^Văn Đọc',
      organisation: 'Bệnh viện Trung ương',
      sections: [
        { key: 'impression', label: 'Kết luận', text: 'Tổn thương gan.' },
        { key: 'haemorrhage', label: 'Xuất huyết', text: 'Có' },
        { key: 'findings', label: 'Mô tả', text: '  ' },
      ],
      predecessor: { seriesUid: '2.25.8', sopInstanceUid: '2.25.9' },
    };
    const a = buildBasicTextSr(input);
    expect(a.equals(buildBasicTextSr(input))).toBe(true);
    expect(a.includes(Buffer.from(BASIC_TEXT_SR_STORAGE))).toBe(true);
    expect(a.includes(Buffer.from('Xuất huyết: Có'))).toBe(true);
    expect(a.includes(Buffer.from('121073'))).toBe(true);
    // An empty section is left out; a caret in a display name does not split the PN.
    expect(a.includes(Buffer.from('121071'))).toBe(false);
    expect(a.includes(Buffer.from('BS. Đặng Văn Đọc'))).toBe(true);
    expect(a.includes(Buffer.from('2.25.9'))).toBe(true);
    expect(buildBasicTextSr({ ...input, predecessor: null }).includes(Buffer.from('2.25.9'))).toBe(false);
  });

  it('derives stable, valid, distinct UIDs from the report id and version', () => {
    const uids = [
      reportSeriesUid(REPORT_ID),
      reportPdfInstanceUid(REPORT_ID, 1),
      reportPdfInstanceUid(REPORT_ID, 2),
      reportPdfInstanceUid('5b0c7c5e-4a57-4d7f-9a43-3f7f0e7f1a02', 1),
      reportSrSeriesUid(REPORT_ID),
      reportSrInstanceUid(REPORT_ID, 1),
    ];
    expect(new Set(uids).size).toBe(6);
    for (const u of uids) {
      expect(u).toMatch(/^2\.25\.(0|[1-9][0-9]*)$/);
      expect(u.length).toBeLessThanOrEqual(64);
    }
    expect(reportPdfInstanceUid(REPORT_ID, 1)).toBe(uids[1]);
  });
});

describe('measurements', () => {
  const base: MeasurementInput = {
    kind: 'length',
    value: 23.456,
    unit: 'mm',
    seriesUid: '2.25.1',
    sopInstanceUid: '2.25.2',
  };
  it.each([
    [{ ...base }, null],
    [{ ...base, unit: 'cm2' }, 'measured in mm or cm'],
    [{ ...base, value: -1 }, 'cannot be negative'],
    [{ ...base, kind: 'angle' as const, unit: 'deg', value: 400 }, 'at most 360'],
    [{ ...base, kind: 'probe' as const, unit: 'HU', value: -1000 }, null],
    [{ ...base, kind: 'ellipse' as const, unit: 'mm2', value: 120, stats: { sd: -2 } }, 'standard deviation'],
  ])('checks %j', (input, problem) => {
    const p = problemOf(input, 0);
    if (problem === null) expect(p).toBeNull();
    else expect(p).toContain(problem);
  });

  it('rounds what is stored and writes it as report text in either language', () => {
    const m = toMeasurement(
      {
        ...base,
        kind: 'ellipse',
        unit: 'cm2',
        value: 3.14321,
        label: ' Gan ',
        stats: { mean: 45.678, sd: 12.3, areaMm2: 314.321 },
      },
      2,
      { seriesNumber: 2, instanceNumber: 45 },
      'u1',
      new Date('2026-11-24T08:00:00Z'),
    );
    expect(m).toMatchObject({
      n: 2,
      value: 3.14,
      label: 'Gan',
      stats: { mean: 45.68, sd: 12.3, areaMm2: 314.32 },
    });
    expect(measurementText(m, 'vi')).toBe(
      '[Đo 2] Diện tích (elip) — Gan: 3,14 cm² (trung bình 45,68 HU, SD 12,3 HU, 314,32 mm²) [loạt 2, ảnh 45]',
    );
    expect(measurementText({ ...m, stats: null, seriesNumber: null }, 'en')).toBe(
      '[Measurement 2] Area (ellipse) — Gan: 3.14 cm² [image 45]',
    );
    const angle = toMeasurement(
      { ...base, kind: 'angle', unit: 'deg', value: 32.5 },
      1,
      { seriesNumber: null, instanceNumber: null },
      'u1',
      new Date(),
    );
    expect(measurementText(angle, 'en')).toBe('[Measurement 1] Angle: 32.5°');
  });
});

// ---- FHIR R4 structural rules -------------------------------------------------------------

type R = Record<string, unknown>;
const URI = /^(https?:\/\/|urn:)[^\s]+$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const DATE = /^\d{4}(-\d{2}(-\d{2})?)?$/;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** Checks the R4 rules we can check without the full StructureDefinitions. */
function checkResource(res: R, problems: string[], path = res.resourceType as string, container?: R[]) {
  if (res.id !== undefined && !ID.test(String(res.id))) problems.push(`${path}.id is not a FHIR id`);
  const walk = (v: unknown, p: string) => {
    if (Array.isArray(v)) {
      if (v.length === 0) problems.push(`${p} is an empty array (ele-1)`);
      v.forEach((x, i) => {
        walk(x, `${p}[${i}]`);
      });
    } else if (v && typeof v === 'object') {
      if (Object.keys(v).length === 0) problems.push(`${p} is an empty object (ele-1)`);
      const o = v as R;
      if ('system' in o && typeof o.system === 'string' && !URI.test(o.system))
        problems.push(`${p}.system not a URI`);
      for (const [k, x] of Object.entries(o)) if (k !== 'contained') walk(x, `${p}.${k}`);
    } else if (v === null || v === '') problems.push(`${p} is null or empty`);
  };
  walk(res, path);
  // dom-3: every contained resource is referenced from elsewhere in the resource; every local reference resolves.
  // A contained resource's local references resolve against its container's contained list.
  const contained = container ?? (res.contained as R[] | undefined) ?? [];
  const json = JSON.stringify({ ...res, contained: undefined });
  for (const c of container ? [] : contained) {
    if (!json.includes(`"#${c.id}"`)) problems.push(`contained ${c.id} is not referenced (dom-3)`);
    if ('contained' in c) problems.push(`contained ${c.id} contains resources (dom-2)`);
    checkResource(c, problems, `${path}.contained(${c.id})`, contained);
  }
  for (const m of json.matchAll(/"reference":"#([^"]+)"/g))
    if (!contained.some((c) => c.id === m[1])) problems.push(`#${m[1]} does not resolve`);
  if (res.resourceType === 'Patient') {
    if (!['male', 'female', 'other', 'unknown'].includes(String(res.gender))) problems.push('Patient.gender');
    if (res.birthDate !== undefined && !DATE.test(String(res.birthDate))) problems.push('Patient.birthDate');
  }
  const text = res.text as R | undefined;
  if (
    text &&
    (!['generated', 'extensions', 'additional', 'empty'].includes(String(text.status)) ||
      !String(text.div).startsWith('<div xmlns="http://www.w3.org/1999/xhtml">'))
  )
    problems.push(`${path}.text`);
}

const patient: FhirPatientData = {
  name: 'Nguyễn^Thị Minh Khai',
  id: 'BN-0042',
  issuer: 'BVTW',
  otherIds: [
    { id: 'DN4010123456789', issuer: 'BHXH', type: 'insurance' },
    { id: '001180012345', issuer: 'CCCD', type: null },
  ],
  sex: 'F',
  birthDate: '19800101',
};
const study: FhirStudyData = {
  uid: '2.25.77',
  date: '20250101',
  time: '101010',
  description: 'CT ổ bụng',
  modalities: ['CT'],
};
const request: FhirRequestData = {
  id: '7d4a3f4e-1c52-4b8e-8a1e-0d2b3c4d5e6f',
  status: 'signed',
  priority: 'stat',
  accessionNumber: 'RL0000000042',
  clinicalInfo: 'Đau bụng <cấp> & sốt',
  question: 'Áp xe gan?',
  createdAt: '2026-11-24T07:00:00.000Z',
  requester: { id: 'u-req', name: 'BS. Lê Văn Huyện' },
  requestingFacility: { id: 'huyen-1', name: 'Trung tâm Y tế Huyện' },
  targetFacility: { id: 'tw-1', name: 'Bệnh viện Trung ương' },
};
const report: FhirReportData = {
  id: REPORT_ID,
  parentReportId: null,
  status: 'final',
  hasAddenda: false,
  language: 'vi',
  title: 'CT bụng',
  conclusion: 'Tổn thương gan nghi áp xe.',
  signer: { id: 'u-rad', name: 'BS. Đặng Văn Đọc' },
  signedAt: '2026-11-24T08:00:00.123Z',
  updatedAt: '2026-11-24T08:00:00.123Z',
  measurements: [
    toMeasurement(
      base0(),
      1,
      { seriesNumber: 2, instanceNumber: 45 },
      'u-rad',
      new Date('2026-11-24T07:59:00Z'),
    ),
  ],
  pdf: {
    url: `https://radlink.example/api/reports/${REPORT_ID}/pdf`,
    sizeBytes: 1234,
    sha1Base64: createHash('sha1').update('x').digest('base64'),
  },
  addenda: [],
};
function base0(): MeasurementInput {
  return {
    kind: 'probe',
    value: 45,
    unit: 'HU',
    seriesUid: '2.25.1',
    sopInstanceUid: '2.25.2',
    label: 'Gan',
  };
}

describe('FHIR R4', () => {
  it('ServiceRequest: required elements, value sets, contained patient with every identifier', () => {
    const sr = serviceRequest(request, patient, study) as R;
    const problems: string[] = [];
    checkResource(sr, problems);
    expect(problems).toEqual([]);
    expect(sr).toMatchObject({
      resourceType: 'ServiceRequest',
      status: 'completed',
      intent: 'order',
      priority: 'stat',
    });
    // ServiceRequest.status / intent / priority value sets (R4).
    expect(['draft', 'active', 'on-hold', 'revoked', 'completed', 'entered-in-error', 'unknown']).toContain(
      sr.status,
    );
    expect(['routine', 'urgent', 'asap', 'stat']).toContain(sr.priority);
    const pat = (sr.contained as R[]).find((c) => c.resourceType === 'Patient') as R;
    expect(pat).toMatchObject({
      gender: 'female',
      birthDate: '1980-01-01',
      name: [{ family: 'Nguyễn', given: ['Thị', 'Minh', 'Khai'] }],
    });
    expect((pat.identifier as R[]).map((i) => i.value)).toEqual([
      'BN-0042',
      'DN4010123456789',
      '001180012345',
    ]);
    expect(sr.subject).toEqual({ reference: '#patient' });
    expect((sr.identifier as R[])[1]).toMatchObject({
      value: 'RL0000000042',
      type: { coding: [{ code: 'ACSN' }] },
    });
    expect(sr.supportingInfo).toEqual([
      { type: 'ImagingStudy', identifier: { system: 'urn:dicom:uid', value: 'urn:oid:2.25.77' } },
    ]);
    // The narrative escapes markup from clinical text.
    expect((sr.text as R).div).toContain('Đau bụng &lt;cấp&gt; &amp; sốt');
    for (const [st, fhir] of [
      ['requested', 'active'],
      ['claimed', 'active'],
      ['reported', 'active'],
      ['cancelled', 'revoked'],
    ] as const)
      expect(serviceRequest({ ...request, status: st }, patient, study).status).toBe(fhir);
  });

  it('DiagnosticReport: status mapping, codes, subject, performer, issued, conclusion, presentedForm, imagingStudy, basedOn', () => {
    const dr = diagnosticReport(report, request, patient, study) as R;
    const problems: string[] = [];
    checkResource(dr, problems);
    expect(problems).toEqual([]);
    expect(dr).toMatchObject({
      resourceType: 'DiagnosticReport',
      status: 'final',
      basedOn: [{ reference: `ServiceRequest/${request.id}` }],
      subject: { reference: '#patient' },
      issued: '2026-11-24T08:00:00.123Z',
      effectiveDateTime: '2025-01-01',
      conclusion: 'Tổn thương gan nghi áp xe.',
      imagingStudy: [{ identifier: { system: 'urn:dicom:uid', value: 'urn:oid:2.25.77' } }],
      code: { coding: [{ system: 'http://loinc.org', code: '18748-4' }] },
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'RAD' }] }],
      performer: [{ reference: '#reading-facility' }],
      resultsInterpreter: [{ reference: '#signer', display: 'BS. Đặng Văn Đọc' }],
    });
    expect(INSTANT.test(String(dr.issued))).toBe(true);
    const form = (dr.presentedForm as R[])[0]!;
    expect(form).toMatchObject({ contentType: 'application/pdf', language: 'vi', size: 1234 });
    // Attachment.hash is base64 of a SHA-1 (20 bytes).
    expect(Buffer.from(String(form.hash), 'base64')).toHaveLength(20);
    const obs = (dr.contained as R[]).find((c) => c.resourceType === 'Observation') as R;
    expect(obs).toMatchObject({
      status: 'final',
      valueQuantity: { value: 45, system: 'http://unitsofmeasure.org', code: "[hnsf'U]" },
    });
    expect(dr.result).toEqual([{ reference: `#${obs.id}` }]);
    // R4 DiagnosticReport.status value set, for each state a RadLink report can be in.
    const statuses = [
      'registered',
      'partial',
      'preliminary',
      'final',
      'amended',
      'corrected',
      'appended',
      'cancelled',
      'entered-in-error',
      'unknown',
    ];
    const draft = diagnosticReport(
      { ...report, status: 'draft', signer: null, signedAt: null, pdf: null, measurements: [] },
      request,
      patient,
      study,
    ) as R;
    const appended = diagnosticReport(
      { ...report, hasAddenda: true, addenda: [{ id: 'a1b2' }] },
      request,
      patient,
      study,
    ) as R;
    expect([draft.status, dr.status, appended.status]).toEqual(['preliminary', 'final', 'appended']);
    for (const s of [draft.status, appended.status]) expect(statuses).toContain(s);
    for (const r of [draft, appended]) {
      const p: string[] = [];
      checkResource(r, p);
      expect(p).toEqual([]);
    }
    expect(draft.presentedForm).toBeUndefined();
  });
});
