/**
 * Reading one uploaded file from a multipart/form-data body (RFC 7578), and telling what it
 * really is. The body syntax is RFC 2046 multipart, the same as multipart/related, so the
 * DICOMweb parser (its boundary rules, limits and truncation checks) reads it. The declared
 * Content-Type of the part is ignored: only the magic bytes decide, and only JPEG, PNG and PDF
 * are accepted — a photographed or scanned referral paper.
 */
import type { Readable } from 'node:stream';
import { MultipartError, type MultipartPart, MultipartRelatedParser } from '../dicomweb/multipart.js';
import { AppError } from '../plugins/errors.js';

export type AttachmentType = 'image/jpeg' | 'image/png' | 'application/pdf';

const MAGIC: [AttachmentType, Buffer][] = [
  ['image/jpeg', Buffer.from([0xff, 0xd8, 0xff])],
  ['image/png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])],
  ['application/pdf', Buffer.from('%PDF-', 'latin1')],
];

export function sniffType(body: Buffer): AttachmentType | null {
  for (const [type, magic] of MAGIC) {
    if (body.length >= magic.length && body.subarray(0, magic.length).equals(magic)) return type;
  }
  return null;
}

const EXT: Record<AttachmentType, string> = {
  'image/jpeg': '.jpg',
  'image/png': '.png',
  'application/pdf': '.pdf',
};

/**
 * A safe display name: no path, no control or quote characters, NFC, at most 200 characters,
 * with the extension of the real type. Names may still contain a patient's name: they are never
 * logged and only shown to those who may see the request.
 */
export function cleanFilename(raw: string | null, type: AttachmentType): string {
  let name = (raw ?? '').normalize('NFC');
  name = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  name = name.replace(/[\u0000-\u001f\u007f"<>|:*?]/g, '').trim();
  const dot = name.lastIndexOf('.');
  const stem = (dot > 0 ? name.slice(0, dot) : name).slice(0, 190) || 'attachment';
  return stem + EXT[type];
}

/** `Content-Disposition` with an ASCII fallback and the UTF-8 name (RFC 6266, RFC 8187). */
export function contentDisposition(kind: 'attachment' | 'inline', filename: string): string {
  const ascii = filename
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[đĐ]/g, (c) => (c === 'đ' ? 'd' : 'D'))
    .replace(/[^\x20-\x7e]/g, '_')
    .replace(/["\\]/g, '_');
  const utf8 = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}

function filenameOf(disposition: string): string | null {
  const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition);
  if (star) {
    try {
      return decodeURIComponent(star[1]!.trim());
    } catch {
      /* fall back to the plain parameter */
    }
  }
  const plain = /filename\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/i.exec(disposition);
  if (!plain) return null;
  const v = plain[1]!.trim();
  const unquoted = v.startsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
  // Browsers send the name's UTF-8 bytes raw; the parser decoded header bytes as Latin-1.
  return Buffer.from(unquoted, 'latin1').toString('utf8');
}

export interface UploadedFile {
  filename: string;
  type: AttachmentType;
  body: Buffer;
}

/**
 * Reads the form's one `file` part, at most `maxBytes` long. Any other field, a second file, a
 * truncated body or an unknown file type is refused with a 4xx naming the reason.
 */
export async function readUpload(
  contentType: string | undefined,
  body: Readable,
  maxBytes: number,
): Promise<UploadedFile> {
  const m = /^multipart\/form-data\s*;(.*)$/i.exec(contentType ?? '');
  const boundary = m ? /boundary\s*=\s*("([^"]+)"|[^;\s]+)/i.exec(m[1]!) : null;
  if (!boundary)
    throw new AppError(
      'RADLINK_UNSUPPORTED_MEDIA_TYPE',
      'Upload the file as multipart/form-data with a boundary.',
    );
  let parser: MultipartRelatedParser;
  try {
    parser = new MultipartRelatedParser(`multipart/related; boundary="${boundary[2] ?? boundary[1]}"`, {
      maxPartBytes: maxBytes,
      maxParts: 4,
      maxHeaderBytes: 8 * 1024,
    });
  } catch (err) {
    throw new AppError('RADLINK_BAD_REQUEST', (err as MultipartError).reason ?? 'Bad multipart boundary.');
  }
  const parts: MultipartPart[] = [];
  try {
    for await (const chunk of body) parts.push(...parser.push(chunk as Buffer));
    parser.end();
  } catch (err) {
    if (!(err instanceof MultipartError)) throw err;
    if (err.code === 'part-too-large')
      throw new AppError('RADLINK_PAYLOAD_TOO_LARGE', `The file is larger than ${maxBytes} bytes.`);
    throw new AppError('RADLINK_BAD_REQUEST', `Malformed multipart body: ${err.reason}`);
  }
  const files = parts.filter((p) =>
    /^form-data\s*;.*\bname\s*=\s*"?file"?(;|\s|$)/i.test(p.headers['content-disposition'] ?? ''),
  );
  if (files.length !== 1 || parts.length !== 1)
    throw new AppError('RADLINK_VALIDATION', 'Send exactly one form field, "file", holding the file.');
  const part = files[0]!;
  if (part.body.length === 0) throw new AppError('RADLINK_VALIDATION', 'The file is empty.');
  const type = sniffType(part.body);
  if (!type)
    throw new AppError(
      'RADLINK_UNSUPPORTED_MEDIA_TYPE',
      'Only JPEG, PNG and PDF files can be attached (judged by their content, not their name).',
    );
  return {
    filename: cleanFilename(filenameOf(part.headers['content-disposition']!), type),
    type,
    body: part.body,
  };
}
