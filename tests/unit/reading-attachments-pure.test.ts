/**
 * Attachment upload parsing without services: type by magic bytes, safe names,
 * Content-Disposition, and one multipart/form-data file read from a stream cut anywhere.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  cleanFilename,
  contentDisposition,
  readUpload,
  sniffType,
} from '../../server/src/reading/attachments-upload.js';

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xdb, 1, 2, 3]);
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]);
const PDF = Buffer.from('%PDF-1.7\n%âãÏÓ\n', 'latin1');

describe('sniffType', () => {
  it.each([
    ['JPEG', JPEG, 'image/jpeg'],
    ['PNG', PNG, 'image/png'],
    ['PDF', PDF, 'application/pdf'],
    ['GIF', Buffer.from('GIF89a'), null],
    ['a PNG without its full signature', PNG.subarray(0, 5), null],
    ['HTML', Buffer.from('<html><script>'), null],
    ['a PDF header not at the start', Buffer.from(' %PDF-1.4'), null],
    ['nothing', Buffer.alloc(0), null],
  ])('%s', (_, body, type) => {
    expect(sniffType(body)).toBe(type);
  });
});

describe('cleanFilename', () => {
  it.each([
    ['Giấy chuyển viện.jpg', 'image/jpeg', 'Giấy chuyển viện.jpg'],
    ['C:\\Users\\bs\\scan.JPG', 'image/jpeg', 'scan.jpg'],
    ['../../etc/passwd', 'application/pdf', 'passwd.pdf'],
    ['photo.gif', 'image/png', 'photo.png'],
    ['a"b<c>\u0007d.pdf', 'application/pdf', 'abcd.pdf'],
    ['', 'image/png', 'attachment.png'],
    [null, 'image/jpeg', 'attachment.jpg'],
    ['.hidden', 'image/png', '.hidden.png'],
    ['Nguye\u0302\u0303n.jpg', 'image/jpeg', 'Nguyễn.jpg'],
  ] as const)('%s -> %s', (raw, type, expected) => {
    expect(cleanFilename(raw, type)).toBe(expected);
  });
  it('bounds the length', () => {
    expect(cleanFilename(`${'x'.repeat(500)}.pdf`, 'application/pdf')).toHaveLength(194);
  });
});

describe('contentDisposition', () => {
  it('has an ASCII fallback (diacritics folded, đ -> d) and the exact UTF-8 name', () => {
    expect(contentDisposition('attachment', 'Đơn chuyển viện (bản 2).pdf')).toBe(
      'attachment; filename="Don chuyen vien (ban 2).pdf"; filename*=UTF-8\'\'%C4%90%C6%A1n%20chuy%E1%BB%83n%20vi%E1%BB%87n%20%28b%E1%BA%A3n%202%29.pdf',
    );
    expect(contentDisposition('inline', 'a.png')).toBe('inline; filename="a.png"; filename*=UTF-8\'\'a.png');
  });
});

/** Header text is written as UTF-8 bytes, as browsers send file names. */
function body(boundary: string, parts: { disposition: string; content: Buffer }[]): Buffer {
  const out: Buffer[] = [];
  for (const p of parts)
    out.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: ${p.disposition}\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
      p.content,
      Buffer.from('\r\n'),
    );
  out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}

function chunked(buf: Buffer, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
  return Readable.from(chunks);
}

describe('readUpload', () => {
  const content = Buffer.concat([JPEG, Buffer.from('\r\n--not-the-boundary\r\n'), Buffer.alloc(1000, 9)]);
  const form = body('XyZ', [{ disposition: `form-data; name="file"; filename="Phiếu.jpg"`, content }]);

  it.each([1, 7, 64, 100_000])('reads the file when the body arrives in %i-byte chunks', async (size) => {
    const f = await readUpload('multipart/form-data; boundary=XyZ', chunked(form, size), 10_000);
    expect(f.type).toBe('image/jpeg');
    expect(f.filename).toBe('Phiếu.jpg');
    expect(f.body.equals(content)).toBe(true);
  });

  it('takes RFC 8187 filename* over filename, and a quoted boundary', async () => {
    const b = body('q b', [
      {
        disposition: `form-data; name="file"; filename="x.jpg"; filename*=UTF-8''K%E1%BA%BFt%20qu%E1%BA%A3.pdf`,
        content: PDF,
      },
    ]);
    const f = await readUpload('multipart/form-data; boundary="q b"', Readable.from([b]), 10_000);
    expect(f).toMatchObject({ filename: 'Kết quả.pdf', type: 'application/pdf' });
  });

  it.each([
    ['no boundary', 'multipart/form-data', form, 415],
    ['not a form', 'application/json', form, 415],
    [
      'a file over the limit',
      'multipart/form-data; boundary=XyZ',
      body('XyZ', [{ disposition: 'form-data; name="file"', content: Buffer.alloc(2000, 0xff) }]),
      413,
    ],
    ['a truncated body', 'multipart/form-data; boundary=XyZ', form.subarray(0, form.length - 10), 400],
    [
      'a field that is not "file"',
      'multipart/form-data; boundary=XyZ',
      body('XyZ', [{ disposition: 'form-data; name="filename"', content: JPEG }]),
      400,
    ],
    [
      'two parts',
      'multipart/form-data; boundary=XyZ',
      body('XyZ', [
        { disposition: 'form-data; name="file"', content: JPEG },
        { disposition: 'form-data; name="note"', content: Buffer.from('x') },
      ]),
      400,
    ],
    [
      'an unknown type',
      'multipart/form-data; boundary=XyZ',
      body('XyZ', [{ disposition: 'form-data; name="file"', content: Buffer.from('BM bitmap') }]),
      415,
    ],
  ] as const)('refuses %s', async (_, ct, b, status) => {
    await expect(readUpload(ct, Readable.from([b]), 1500)).rejects.toMatchObject({ statusCode: status });
  });
});
