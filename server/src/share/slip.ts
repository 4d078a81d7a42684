/**
 * What the patient takes home instead of a film: the QR code of the share link (PNG and SVG) and
 * a printable one-page A4 slip with the facility's name, the QR code, the PIN and instructions in
 * Vietnamese and English.
 *
 * Invariants:
 *  - Vietnamese renders with DejaVu Sans embedded (subset): the standard PDF fonts (WinAnsi)
 *    cannot encode ạ…ỹ or đ. Text is NFC, so no combining-mark layout is needed.
 *  - The slip names no patient (data minimisation: a lost slip says nothing about whom it is
 *    for); the PIN sits below a cut line, so it can be kept apart from the QR code.
 *  - For a birth-year link the slip prints *what* to type, never the year itself.
 */
import { readFileSync } from 'node:fs';
import fontkit from '@pdf-lib/fontkit';
import { PDFDocument, type PDFFont, type PDFPage, rgb } from 'pdf-lib';
import QRCode from 'qrcode';
import type { SecretKind } from './secrets.js';

export const SLIP_FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';
export const SLIP_FONT_BOLD = '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf';

export interface SlipInput {
  url: string;
  facilityName: string;
  /** DICOM DA (YYYYMMDD) or null. */
  studyDate: string | null;
  studyDescription: string | null;
  secretKind: SecretKind;
  /** The PIN for a PIN link; null for a birth-year link. */
  pin: string | null;
  expiresAt: Date;
}

/** QR codes of the link: medium error correction survives a creased or smudged slip. */
export async function qrCodes(url: string): Promise<{ png: Buffer; svg: string }> {
  const opts = { errorCorrectionLevel: 'M' as const, margin: 2 };
  const [png, svg] = await Promise.all([
    QRCode.toBuffer(url, { ...opts, type: 'png', width: 512 }),
    QRCode.toString(url, { ...opts, type: 'svg' }),
  ]);
  return { png, svg };
}

const A4: [number, number] = [595.28, 841.89];
const MARGIN = 56;
const GREY = rgb(0.35, 0.35, 0.35);
const BLACK = rgb(0, 0, 0);

/** Calendar date in Vietnam's time zone, DD/MM/YYYY. */
export function vnDate(d: Date): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Asia/Ho_Chi_Minh',
    day: '2-digit',
    month: '2-digit',
    year: 'numeric',
  }).format(d);
}

function daDate(da: string | null): string | null {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da ?? '');
  return m ? `${m[3]}/${m[2]}/${m[1]}` : null;
}

function wrap(text: string, font: PDFFont, size: number, width: number): string[] {
  const lines: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(/\s+/).filter(Boolean)) {
      const next = line ? `${line} ${word}` : word;
      if (line && font.widthOfTextAtSize(next, size) > width) {
        lines.push(line);
        line = word;
      } else line = next;
    }
    lines.push(line);
  }
  return lines;
}

/** Breaks a string without spaces (the URL) into lines that fit. */
function hardWrap(text: string, font: PDFFont, size: number, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const ch of text) {
    if (line && font.widthOfTextAtSize(line + ch, size) > width) {
      lines.push(line);
      line = '';
    }
    line += ch;
  }
  if (line) lines.push(line);
  return lines;
}

const TEXT = {
  titleVi: 'PHIẾU XEM KẾT QUẢ CHẨN ĐOÁN HÌNH ẢNH',
  titleEn: 'Imaging results — patient access slip',
  study: 'Ca chụp / Study',
  valid: 'Hiệu lực đến / Valid until',
  stepsVi: [
    '1. Quét mã QR bằng camera điện thoại (hoặc gõ đường dẫn bên dưới).',
    '2. Nhập mã PIN ở phần dưới của phiếu này.',
    '3. Xem hình ảnh và kết quả đã được bác sĩ ký số. Trang này cũng cho biết ai đã truy cập hồ sơ của bạn và khi nào.',
  ],
  stepsEn: [
    '1. Scan the QR code with your phone camera (or type the link below).',
    '2. Enter the PIN from the lower part of this slip.',
    "3. See the images and the doctor's signed report. The page also shows who accessed your record, and when.",
  ],
  cut: '✂  Cắt theo đường này và giữ riêng mã PIN / Cut here and keep the PIN apart',
  pinLabel: 'Mã PIN / PIN',
  birthYearVi: 'Năm sinh của người bệnh (4 chữ số)',
  birthYearEn: "The patient's year of birth (4 digits)",
  warnVi: 'Không đưa mã PIN cho người khác. Nhập sai nhiều lần, đường dẫn sẽ bị khóa.',
  warnEn: 'Do not share the PIN. Too many wrong attempts lock the link.',
};

export class SlipRenderer {
  private readonly regular: Buffer;
  private readonly bold: Buffer;

  /** Reads the fonts now, so a missing font stops the gateway at start-up, not a patient at the desk. */
  constructor(fontPath = SLIP_FONT, boldPath = SLIP_FONT_BOLD) {
    this.regular = readFileSync(fontPath);
    this.bold = readFileSync(boldPath);
  }

  async render(input: SlipInput, qrPng: Buffer): Promise<Uint8Array> {
    const doc = await PDFDocument.create();
    doc.registerFontkit(fontkit);
    const font = await doc.embedFont(this.regular, { subset: true });
    const bold = await doc.embedFont(this.bold, { subset: true });
    doc.setTitle('Phiếu xem kết quả / Access slip');
    doc.setProducer('RadLink');
    doc.setCreator('RadLink');
    const page = doc.addPage(A4);
    const width = A4[0] - 2 * MARGIN;
    let y = A4[1] - MARGIN;

    const line = (text: string, f: PDFFont, size: number, color = BLACK, x = MARGIN, w = width) => {
      for (const l of wrap(text.normalize('NFC'), f, size, w)) {
        y -= size * 1.35;
        page.drawText(l, { x, y, size, font: f, color });
      }
    };

    line(input.facilityName, bold, 15);
    y -= 6;
    line(TEXT.titleVi, bold, 13);
    line(TEXT.titleEn, font, 10, GREY);
    y -= 8;
    const study = [daDate(input.studyDate), input.studyDescription].filter(Boolean).join(' — ');
    if (study) line(`${TEXT.study}: ${study}`, font, 10);
    line(`${TEXT.valid}: ${vnDate(input.expiresAt)}`, bold, 10);
    y -= 14;

    const qrSize = 190;
    const qrTop = y;
    page.drawImage(await doc.embedPng(qrPng), {
      x: MARGIN,
      y: qrTop - qrSize,
      width: qrSize,
      height: qrSize,
    });
    const textX = MARGIN + qrSize + 18;
    const textW = width - qrSize - 18;
    y = qrTop;
    for (const s of TEXT.stepsVi) line(s, font, 10, BLACK, textX, textW);
    y -= 8;
    for (const s of TEXT.stepsEn) line(s, font, 9, GREY, textX, textW);
    y = Math.min(y, qrTop - qrSize) - 12;

    for (const l of hardWrap(input.url, font, 7.5, width)) {
      y -= 10;
      page.drawText(l, { x: MARGIN, y, size: 7.5, font, color: GREY });
    }
    y -= 30;
    this.cutLine(page, font, y);
    y -= 16;

    line(TEXT.pinLabel, bold, 12);
    y -= 8;
    if (input.secretKind === 'pin' && input.pin) {
      const shown = `${input.pin.slice(0, 3)} ${input.pin.slice(3)}`;
      y -= 36;
      page.drawRectangle({
        x: MARGIN,
        y: y - 12,
        width: 200,
        height: 52,
        borderColor: BLACK,
        borderWidth: 1.2,
      });
      page.drawText(shown, { x: MARGIN + 22, y, size: 32, font: bold, color: BLACK });
      y -= 16;
    } else {
      line(TEXT.birthYearVi, bold, 14);
      line(TEXT.birthYearEn, font, 11, GREY);
    }
    y -= 10;
    line(TEXT.warnVi, font, 9);
    line(TEXT.warnEn, font, 9, GREY);
    return doc.save();
  }

  private cutLine(page: PDFPage, font: PDFFont, y: number) {
    page.drawLine({
      start: { x: MARGIN, y },
      end: { x: A4[0] - MARGIN, y },
      thickness: 0.8,
      dashArray: [4, 3],
      color: GREY,
    });
    page.drawText(TEXT.cut, { x: MARGIN, y: y - 12, size: 8, font, color: GREY });
  }
}
