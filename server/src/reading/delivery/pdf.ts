/**
 * The PDF of a signed report or addendum, for printing and for hospital systems.
 *
 * Invariants:
 *  - Vietnamese text renders with DejaVu Sans embedded (subset), whose glyphs cover Latin
 *    Extended Additional (ạ…ỹ) and đ/Đ; the standard PDF fonts (WinAnsi) cannot encode them.
 *    Text is NFC (precomposed), so no combining-mark layout is needed.
 *  - The bytes are a pure function of the input: fixed document dates (the signing time), a
 *    fixed font subset tag, a vector QR code, no random ids. A re-run of the delivery job
 *    therefore writes the same bytes the delivery record's SHA-256 names.
 *  - The PDF carries its own proof: the signed canonical content and the signature (compact JWS
 *    with the certificate chain) are attached files, so the signature can be checked from the
 *    PDF alone; the visible text is bound to the record by the PDF's recorded SHA-256.
 */
import { readFileSync } from 'node:fs';
import fontkit from '@pdf-lib/fontkit';
import { PDFDocument, type PDFFont, type PDFPage, rgb } from 'pdf-lib';
import QRCode from 'qrcode';

export const DEJAVU_SANS = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';
export const DEJAVU_SANS_BOLD = '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf';

export interface PdfInput {
  reportId: string;
  language: 'vi' | 'en';
  /** Set on an addendum: the report it amends. */
  parentReportId: string | null;
  readingFacility: string;
  requestingFacility: string;
  patient: {
    name: string | null;
    id: string | null;
    issuer: string | null;
    sex: string | null;
    birthDate: string | null;
  };
  study: {
    uid: string;
    date: string | null;
    description: string | null;
    modalities: string[];
    accessionNumber: string;
  };
  request: { priority: string; clinicalInfo: string; question: string };
  title: string;
  /** Template fields in template order: label and value. */
  sections: { label: string; text: string }[];
  freeText: string;
  signer: { name: string };
  certificate: { subject: string; issuer: string; serial: string };
  signedAt: string;
  contentHash: string;
  verification: { status: string; reason: string; checkedAt: string };
  verifyUrl: string;
  demo: boolean;
  /** Attached as files: the signed canonical content and the signature. */
  canonicalContent: Buffer;
  signature: string;
}

const L = {
  vi: {
    report: 'KẾT QUẢ CHẨN ĐOÁN HÌNH ẢNH',
    addendum: 'PHỤ LỤC BỔ SUNG KẾT QUẢ',
    amends: 'Bổ sung cho kết quả',
    requestedBy: 'Nơi yêu cầu',
    patient: 'Người bệnh',
    patientId: 'Mã người bệnh',
    sex: 'Giới',
    birthDate: 'Ngày sinh',
    study: 'Ca chụp',
    studyDate: 'Ngày chụp',
    accession: 'Số tiếp nhận',
    modality: 'Kỹ thuật',
    priority: 'Mức ưu tiên',
    clinical: 'Thông tin lâm sàng',
    question: 'Câu hỏi',
    notes: 'Ghi chú',
    signature: 'Chữ ký số',
    signedBy: 'Người ký',
    certificate: 'Chứng thư',
    issuer: 'Nơi cấp',
    signedAt: 'Thời điểm ký',
    status: 'Trạng thái xác minh',
    hash: 'Mã băm nội dung (SHA-256)',
    verify: 'Xác minh trực tuyến',
    demo: 'CHỨNG THƯ THỬ NGHIỆM (DEMO CA) — KHÔNG CÓ GIÁ TRỊ PHÁP LÝ',
    page: 'Trang',
  },
  en: {
    report: 'IMAGING REPORT',
    addendum: 'REPORT ADDENDUM',
    amends: 'Amends report',
    requestedBy: 'Requested by',
    patient: 'Patient',
    patientId: 'Patient ID',
    sex: 'Sex',
    birthDate: 'Birth date',
    study: 'Study',
    studyDate: 'Study date',
    accession: 'Accession number',
    modality: 'Modality',
    priority: 'Priority',
    clinical: 'Clinical information',
    question: 'Question',
    notes: 'Notes',
    signature: 'Digital signature',
    signedBy: 'Signed by',
    certificate: 'Certificate',
    issuer: 'Issuer',
    signedAt: 'Signed at',
    status: 'Verification status',
    hash: 'Content hash (SHA-256)',
    verify: 'Verify online',
    demo: 'DEMO CA CERTIFICATE — NOT A LEGAL SIGNATURE',
    page: 'Page',
  },
} as const;

const A4: [number, number] = [595.28, 841.89];
const MARGIN = 50;
const GREY = rgb(0.35, 0.35, 0.35);
const RED = rgb(0.7, 0.05, 0.05);

/** DICOM DA (YYYYMMDD) as DD/MM/YYYY; anything else as given. */
export function displayDate(da: string | null): string {
  if (!da) return '—';
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da);
  return m ? `${m[3]}/${m[2]}/${m[1]}` : da;
}

/** DICOM PN (Family^Given^Middle^Prefix^Suffix) in reading order, family name first. */
export function displayName(pn: string | null): string {
  if (!pn) return '—';
  return (pn.split('=')[0] ?? '')
    .split('^')
    .map((s) => s.trim())
    .filter(Boolean)
    .join(' ');
}

/** Splits text into lines no wider than `width`, breaking at spaces (or inside a too-long word). */
export function wrapText(text: string, font: PDFFont, size: number, width: number): string[] {
  const out: string[] = [];
  for (const para of text.split(/\r?\n/)) {
    let line = '';
    for (const word of para.split(/\s+/).filter(Boolean)) {
      const candidate = line ? `${line} ${word}` : word;
      if (font.widthOfTextAtSize(candidate, size) <= width) {
        line = candidate;
        continue;
      }
      if (line) out.push(line);
      line = '';
      let rest = word;
      while (font.widthOfTextAtSize(rest, size) > width) {
        let n = rest.length - 1;
        while (n > 1 && font.widthOfTextAtSize(rest.slice(0, n), size) > width) n--;
        out.push(rest.slice(0, n));
        rest = rest.slice(n);
      }
      line = rest;
    }
    out.push(line);
  }
  return out;
}

class Layout {
  page!: PDFPage;
  y = 0;
  constructor(
    private readonly doc: PDFDocument,
    readonly regular: PDFFont,
    readonly bold: PDFFont,
  ) {
    this.newPage();
  }
  /** Text width; narrowed while the signature block shares the line with the QR code. */
  width = A4[0] - 2 * MARGIN;
  newPage() {
    this.page = this.doc.addPage(A4);
    this.y = A4[1] - MARGIN;
  }
  need(h: number) {
    if (this.y - h < MARGIN + 20) this.newPage();
  }
  text(
    s: string,
    o: { size?: number; bold?: boolean; indent?: number; color?: ReturnType<typeof rgb> } = {},
  ) {
    const size = o.size ?? 10;
    const font = o.bold ? this.bold : this.regular;
    const indent = o.indent ?? 0;
    for (const line of wrapText(s, font, size, this.width - indent)) {
      this.need(size * 1.35);
      this.y -= size * 1.35;
      if (line)
        this.page.drawText(line, {
          x: MARGIN + indent,
          y: this.y,
          size,
          font,
          color: o.color ?? rgb(0, 0, 0),
        });
    }
  }
  /** "Label: value" with a bold label. */
  pair(label: string, value: string, size = 10) {
    const lw = Math.min(this.bold.widthOfTextAtSize(`${label}: `, size), this.width / 2);
    const lines = wrapText(value || '—', this.regular, size, this.width - lw);
    lines.forEach((line, i) => {
      this.need(size * 1.35);
      this.y -= size * 1.35;
      if (i === 0) this.page.drawText(`${label}: `, { x: MARGIN, y: this.y, size, font: this.bold });
      if (line) this.page.drawText(line, { x: MARGIN + lw, y: this.y, size, font: this.regular });
    });
  }
  gap(h = 6) {
    this.y -= h;
  }
  rule() {
    this.need(8);
    this.y -= 4;
    this.page.drawLine({
      start: { x: MARGIN, y: this.y },
      end: { x: A4[0] - MARGIN, y: this.y },
      thickness: 0.5,
      color: GREY,
    });
    this.y -= 4;
  }
}

/** Draws the QR code as vector squares (deterministic, sharp at any print size). */
function drawQr(page: PDFPage, text: string, x: number, y: number, size: number) {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const n = qr.modules.size;
  const cell = size / (n + 8);
  const origin = { x: x + 4 * cell, y: y + 4 * cell };
  for (let r = 0; r < n; r++)
    for (let c = 0; c < n; c++)
      if (qr.modules.get(r, c))
        page.drawRectangle({
          x: origin.x + c * cell,
          y: origin.y + (n - 1 - r) * cell,
          width: cell,
          height: cell,
          color: rgb(0, 0, 0),
        });
}

const fontCache = new Map<string, Buffer>();
function fontBytes(path: string): Buffer {
  let b = fontCache.get(path);
  if (!b) {
    b = readFileSync(path);
    fontCache.set(path, b);
  }
  return b;
}

export async function renderReportPdf(input: PdfInput): Promise<Uint8Array> {
  const t = L[input.language];
  const signedAt = new Date(input.signedAt);
  const doc = await PDFDocument.create({ updateMetadata: false });
  doc.registerFontkit(fontkit);
  // Fixed subset tags (PDF 9.6.4 wants six capitals + '+'): a random tag would change the bytes.
  const regular = await doc.embedFont(fontBytes(DEJAVU_SANS), {
    subset: true,
    customName: 'RLDJVS+DejaVuSans',
  });
  const bold = await doc.embedFont(fontBytes(DEJAVU_SANS_BOLD), {
    subset: true,
    customName: 'RLDJVB+DejaVuSans-Bold',
  });
  const isAddendum = input.parentReportId !== null;
  const title = isAddendum ? t.addendum : t.report;
  doc.setTitle(`${title} — ${input.study.accessionNumber}`);
  doc.setAuthor(input.signer.name);
  doc.setSubject(input.reportId);
  doc.setCreator('RadLink');
  doc.setProducer('RadLink (pdf-lib)');
  doc.setLanguage(input.language === 'vi' ? 'vi-VN' : 'en');
  doc.setCreationDate(signedAt);
  doc.setModificationDate(signedAt);

  const lay = new Layout(doc, regular, bold);
  // Facility header.
  lay.text(input.readingFacility, { size: 14, bold: true });
  lay.text(`${t.requestedBy}: ${input.requestingFacility}`, { size: 9, color: GREY });
  lay.rule();
  lay.text(title, { size: 15, bold: true });
  lay.text(input.title, { size: 11, color: GREY });
  if (isAddendum) lay.text(`${t.amends}: ${input.parentReportId}`, { size: 9, color: GREY });
  if (input.demo) lay.text(t.demo, { size: 9, bold: true, color: RED });
  lay.gap();

  // Patient and study block.
  const p = input.patient;
  lay.pair(t.patient, displayName(p.name));
  lay.pair(t.patientId, p.id ? (p.issuer ? `${p.id} (${p.issuer})` : p.id) : '—');
  lay.pair(t.sex, p.sex ?? '—');
  lay.pair(t.birthDate, displayDate(p.birthDate));
  lay.pair(t.study, input.study.description ?? '—');
  lay.pair(t.studyDate, displayDate(input.study.date));
  lay.pair(t.modality, input.study.modalities.join(', ') || '—');
  lay.pair(t.accession, input.study.accessionNumber);
  lay.pair(t.priority, input.request.priority.toUpperCase());
  lay.pair(t.clinical, input.request.clinicalInfo);
  lay.pair(t.question, input.request.question);
  lay.rule();

  // Findings, impression and the other template fields, then the free text (with inserted measurements).
  for (const s of input.sections) {
    lay.gap(4);
    lay.text(s.label, { size: 11, bold: true });
    lay.text(s.text, { size: 10.5 });
  }
  if (input.freeText) {
    lay.gap(4);
    if (!isAddendum) lay.text(t.notes, { size: 11, bold: true });
    lay.text(input.freeText, { size: 10.5 });
  }
  lay.rule();

  // Signature block with the QR code to the verification endpoint on the right.
  const qrSize = 96;
  lay.need(170);
  const blockTop = lay.y;
  drawQr(lay.page, input.verifyUrl, A4[0] - MARGIN - qrSize, blockTop - qrSize - 4, qrSize);
  const fullWidth = lay.width;
  lay.width = fullWidth - qrSize - 10;
  lay.text(t.signature, { size: 11, bold: true });
  lay.pair(t.signedBy, input.signer.name, 9);
  lay.pair(t.certificate, input.certificate.subject, 9);
  lay.pair(t.issuer, input.certificate.issuer, 9);
  lay.pair('Serial', input.certificate.serial, 9);
  lay.pair(t.signedAt, `${input.signedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')} (UTC)`, 9);
  lay.pair(
    t.status,
    `${input.verification.status} — ${input.verification.reason} (${input.verification.checkedAt})`,
    9,
  );
  lay.pair(t.hash, input.contentHash, 8);
  lay.pair(t.verify, input.verifyUrl, 8);
  lay.width = fullWidth;

  const pages = doc.getPages();
  pages.forEach((pg, i) => {
    const footer = `${input.study.accessionNumber} · ${input.reportId} · ${t.page} ${i + 1}/${pages.length}`;
    pg.drawText(footer, { x: MARGIN, y: MARGIN - 20, size: 7.5, font: regular, color: GREY });
  });

  const attached = { creationDate: signedAt, modificationDate: signedAt };
  await doc.attach(input.canonicalContent, 'report.json', {
    mimeType: 'application/json',
    description: 'Signed canonical report content (RFC 8785)',
    ...attached,
  });
  await doc.attach(Buffer.from(input.signature, 'ascii'), 'signature.jws', {
    mimeType: 'application/jose',
    description: 'Compact JWS (ES256) over report.json, certificate chain in x5c',
    ...attached,
  });
  return doc.save({ useObjectStreams: false });
}
