import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  buildMultipartRelated,
  MultipartError,
  type MultipartPart,
  MultipartRelatedStream,
  MultipartRelatedWriter,
  parseMultipartContentType,
  parseMultipartRelated,
  parseMultipartRelatedStream,
} from '../../server/src/dicomweb/multipart.js';

const B = 'XyZ-boundary';
const CT = `multipart/related; type="application/dicom"; boundary=${B}`;

function body(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

function errCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MultipartError);
    expect((e as MultipartError).reason.length).toBeGreaterThan(0);
    return (e as MultipartError).code;
  }
  throw new Error('expected a MultipartError');
}

/** Feed `buf` to the stream parser in chunks of `size` bytes. */
async function streamParse(buf: Buffer, size: number, ct = CT): Promise<MultipartPart[]> {
  async function* chunks() {
    for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
  }
  const parts: MultipartPart[] = [];
  for await (const p of parseMultipartRelatedStream(chunks(), ct)) parts.push(p);
  return parts;
}

describe('parseMultipartContentType', () => {
  it.each([
    [CT, { boundary: B, type: 'application/dicom' }],
    [
      'multipart/related; boundary="quoted boundary:x"; type=application/dicom',
      { boundary: 'quoted boundary:x', type: 'application/dicom' },
    ],
    [
      'Multipart/Related;Boundary=abc;TYPE="Application/DICOM; transfer-syntax=1.2"',
      { boundary: 'abc', type: 'application/dicom' },
    ],
    ['multipart/related; boundary=abc', { boundary: 'abc', type: undefined }],
  ])('%j', (header, expected) => {
    const ct = parseMultipartContentType(header);
    expect(ct.boundary).toBe(expected.boundary);
    expect(ct.type).toBe(expected.type);
  });

  it.each([
    [undefined, 'invalid-content-type'],
    ['application/dicom', 'invalid-content-type'],
    ['multipart/form-data; boundary=abc', 'invalid-content-type'],
    ['multipart/related; type="application/dicom"', 'missing-boundary'],
    ['multipart/related; boundary=', 'missing-boundary'],
    ['multipart/related; boundary="ends with space "', 'missing-boundary'],
    [`multipart/related; boundary=${'a'.repeat(71)}`, 'missing-boundary'],
    ['multipart/related; boundary="bad\u00e9char"', 'missing-boundary'],
  ])('%j → %s', (header, code) => {
    expect(errCode(() => parseMultipartContentType(header))).toBe(code);
  });
});

describe('parseMultipartRelated', () => {
  const ok: Array<[string, string, string, Array<[string | undefined, string]>]> = [
    [
      'two parts, no preamble',
      CT,
      `--${B}\r\nContent-Type: application/dicom\r\n\r\nAAA\r\n--${B}\r\nContent-Type: application/dicom\r\n\r\nBB\r\n--${B}--\r\n`,
      [
        ['application/dicom', 'AAA'],
        ['application/dicom', 'BB'],
      ],
    ],
    [
      'preamble and epilogue ignored',
      CT,
      `This is a preamble\r\n--${B}\r\nContent-Type: application/dicom\r\n\r\nX\r\n--${B}--\r\nepilogue --${B}\r\n`,
      [['application/dicom', 'X']],
    ],
    [
      'LF before the first delimiter (lenient)',
      CT,
      `preamble\n--${B}\r\n\r\nX\r\n--${B}--`,
      [['application/dicom', 'X']],
    ],
    [
      'no headers → root type, no trailing CRLF after close',
      CT,
      `--${B}\r\n\r\npayload\r\n--${B}--`,
      [['application/dicom', 'payload']],
    ],
    [
      'empty body part',
      CT,
      `--${B}\r\nContent-Type: application/dicom\r\n\r\n\r\n--${B}--\r\n`,
      [['application/dicom', '']],
    ],
    [
      'boundary inside data without CRLF does not split',
      CT,
      `--${B}\r\nContent-Type: application/octet-stream\r\n\r\nab--${B}cd\n--${B}\r\n--${B}x\r\n--${B}--\r\n`,
      [['application/octet-stream', `ab--${B}cd\n--${B}\r\n--${B}x`]],
    ],
    [
      'transport padding after delimiter',
      CT,
      `--${B}  \t\r\nContent-Type: a/b\r\n\r\nX\r\n--${B} \r\n\r\nY\r\n--${B}--`,
      [
        ['a/b', 'X'],
        ['application/dicom', 'Y'],
      ],
    ],
    [
      'quoted boundary with spaces',
      'multipart/related; type="application/dicom"; boundary="a b:c"',
      `--a b:c\r\nContent-Type: application/dicom\r\n\r\nQ\r\n--a b:c--\r\n`,
      [['application/dicom', 'Q']],
    ],
    [
      'CRLF inside the body is kept',
      CT,
      `--${B}\r\n\r\nline1\r\nline2\r\n\r\n\r\n--${B}--`,
      [['application/dicom', 'line1\r\nline2\r\n\r\n']],
    ],
  ];

  it.each(ok)('%s', async (_name, ct, raw, expected) => {
    const parts = parseMultipartRelated(body(raw), ct);
    expect(parts.map((p) => [p.contentType, p.body.toString('latin1')])).toEqual(expected);
    // The streaming parser must agree byte for byte, for every chunking.
    for (const size of [1, 2, 3, 7, 64]) {
      const streamed = await streamParse(body(raw), size, ct);
      expect(streamed.map((p) => [p.contentType, p.body.toString('latin1')])).toEqual(expected);
    }
  });

  it('parses headers: names lower-cased, folded lines joined, repeats combined', () => {
    const raw = `--${B}\r\nContent-Type: application/dicom\r\nContent-Location: /a\r\n  /b\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\nZ\r\n--${B}--`;
    const [p] = parseMultipartRelated(body(raw), CT);
    expect(p!.headers).toEqual({
      'content-type': 'application/dicom',
      'content-location': '/a /b',
      'x-dup': '1, 2',
    });
  });

  it('returns zero-copy subarrays of the input', () => {
    const raw = body(`--${B}\r\n\r\nABC\r\n--${B}--`);
    const [p] = parseMultipartRelated(raw, CT);
    expect(p!.body.buffer).toBe(raw.buffer);
  });

  const bad: Array<[string, string, string, Parameters<typeof parseMultipartRelated>[2]?]> = [
    ['close delimiter only', `--${B}--\r\n`, 'no-parts'],
    ['no delimiter at all', 'just some bytes', 'no-parts'],
    ['empty body', '', 'no-parts'],
    ['truncated in body', `--${B}\r\n\r\nABC`, 'truncated'],
    ['truncated in headers', `--${B}\r\nContent-Type: app`, 'truncated'],
    ['truncated after a complete part', `--${B}\r\n\r\nA\r\n--${B}\r\n`, 'truncated'],
    ['truncated: delimiter without close', `--${B}\r\n\r\nA\r\n--${B}`, 'truncated'],
    [
      'header line without colon',
      `--${B}\r\nContent-Type application/dicom\r\n\r\nA\r\n--${B}--`,
      'malformed-part-headers',
    ],
    ['header with empty name', `--${B}\r\n: x\r\n\r\nA\r\n--${B}--`, 'malformed-part-headers'],
    ['garbage after delimiter', `--${B}garbage\r\n\r\nA\r\n--${B}--`, 'malformed-part-headers'],
    ['part too large', `--${B}\r\n\r\n${'x'.repeat(11)}\r\n--${B}--`, 'part-too-large', { maxPartBytes: 10 }],
    [
      'too many parts',
      `--${B}\r\n\r\na\r\n--${B}\r\n\r\nb\r\n--${B}\r\n\r\nc\r\n--${B}--`,
      'too-many-parts',
      { maxParts: 2 },
    ],
    [
      'headers too large',
      `--${B}\r\nX: ${'h'.repeat(100)}\r\n\r\nA\r\n--${B}--`,
      'malformed-part-headers',
      { maxHeaderBytes: 50 },
    ],
    ['preamble too large', `${'p'.repeat(200)}`, 'preamble-too-large', { maxPreambleBytes: 100 }],
  ];

  it.each(bad)('%s → %s', async (_name, raw, code, limits) => {
    expect(errCode(() => parseMultipartRelated(body(raw), CT, limits))).toBe(code);
    // Streaming, byte by byte: same error.
    let streamCode: string | undefined;
    async function* chunks() {
      const b = body(raw);
      for (let i = 0; i < b.length; i++) yield b.subarray(i, i + 1);
    }
    try {
      for await (const _p of parseMultipartRelatedStream(chunks(), CT, limits)) {
        /* drain */
      }
    } catch (e) {
      streamCode = (e as MultipartError).code;
    }
    expect(streamCode).toBe(code);
  });

  it('exactly maxPartBytes is allowed', () => {
    const parts = parseMultipartRelated(body(`--${B}\r\n\r\n${'x'.repeat(10)}\r\n--${B}--`), CT, {
      maxPartBytes: 10,
    });
    expect(parts[0]!.body.length).toBe(10);
  });

  it('agrees with the whole-body parse for every chunk size, near-delimiters straddling chunk edges', async () => {
    // Bodies full of delimiter prefixes, a delimiter followed by neither `--` nor CRLF, and
    // transport padding: every chunk size from 1 byte to past the body's length puts each of
    // them across a chunk edge at some offset, including edges right after a carried tail.
    const d = `\r\n--${B}`;
    const payloads = [
      body(`a${d.slice(0, 5)}b${d.slice(0, -1)}c${d}Xd\r\n-\r\n--`),
      body(`${d.slice(0, 3)}${d.slice(0, 9)}`),
      Buffer.alloc(0),
      body(`${d}x${d.slice(0, 2)}`),
    ];
    const { body: raw, contentType } = buildMultipartRelated(
      payloads.map((p) => ({ contentType: 'application/dicom', body: p })),
      'application/dicom',
      { boundary: B },
    );
    const padded = Buffer.concat([
      raw.subarray(0, raw.lastIndexOf(`\r\n--${B}--`)),
      body(`\r\n--${B} \t\r\nContent-Type: application/dicom\r\n\r\n${d.slice(0, 7)}\r\n--${B}--`),
    ]);
    for (const whole of [raw, padded]) {
      const expected = parseMultipartRelated(whole, contentType).map((p) => p.body.toString('latin1'));
      expect(expected.slice(0, 4)).toEqual(payloads.map((p) => p.toString('latin1')));
      for (let size = 1; size <= whole.length + 1; size++) {
        const streamed = await streamParse(whole, size, contentType);
        expect(
          streamed.map((p) => p.body.toString('latin1')),
          `chunks of ${size}`,
        ).toEqual(expected);
      }
    }
  });

  it('parses a 10 MB body of random binary quickly and exactly', () => {
    const payloads = [randomBytes(6 * 1024 * 1024), randomBytes(4 * 1024 * 1024), Buffer.alloc(0)];
    // Plant near-delimiters inside the payload: they must not split it.
    body(`\r\n--${B}X`).copy(payloads[0]!, 1000);
    body(`--${B}--`).copy(payloads[0]!, 5000);
    const { body: raw, contentType } = buildMultipartRelated(
      payloads.map((p) => ({ contentType: 'application/dicom', body: p })),
      'application/dicom',
      { boundary: B },
    );
    const t0 = performance.now();
    const parts = parseMultipartRelated(raw, contentType);
    const ms = performance.now() - t0;
    expect(parts).toHaveLength(3);
    for (const [i, p] of parts.entries()) expect(p.body.equals(payloads[i]!)).toBe(true);
    expect(ms).toBeLessThan(500);
  });

  it('streams a 10 MB body in 64 KiB chunks with the same result', async () => {
    const payloads = [randomBytes(7 * 1024 * 1024), randomBytes(3 * 1024 * 1024)];
    const { body: raw, contentType } = buildMultipartRelated(
      payloads.map((p) => ({ contentType: 'application/dicom', body: p })),
      'application/dicom',
    );
    const t0 = performance.now();
    const parts = await streamParse(raw, 64 * 1024, contentType);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(parts.map((p) => p.body.length)).toEqual([payloads[0]!.length, payloads[1]!.length]);
    for (const [i, p] of parts.entries()) expect(p.body.equals(payloads[i]!)).toBe(true);
  });

  it('streaming stops at part-too-large before reading the whole body', async () => {
    let pulled = 0;
    async function* chunks() {
      yield body(`--${B}\r\n\r\n`);
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield Buffer.alloc(1024, 0x41);
      }
    }
    await expect(async () => {
      for await (const _ of parseMultipartRelatedStream(chunks(), CT, { maxPartBytes: 10 * 1024 })) {
        /* drain */
      }
    }).rejects.toMatchObject({ code: 'part-too-large' });
    expect(pulled).toBeLessThan(20);
  });
});

describe('MultipartRelatedStream (Transform)', () => {
  it('emits parts as objects', async () => {
    const raw = body(`--${B}\r\n\r\nA\r\n--${B}\r\nContent-Type: x/y\r\n\r\nBB\r\n--${B}--\r\n`);
    const out: MultipartPart[] = [];
    await pipeline(
      Readable.from([raw.subarray(0, 5), raw.subarray(5)]),
      new MultipartRelatedStream(CT),
      async (src) => {
        for await (const p of src) out.push(p as MultipartPart);
      },
    );
    expect(out.map((p) => [p.contentType, p.body.toString()])).toEqual([
      ['application/dicom', 'A'],
      ['x/y', 'BB'],
    ]);
  });

  it('emits a truncated error', async () => {
    const raw = body(`--${B}\r\n\r\nA`);
    await expect(
      pipeline(Readable.from([raw]), new MultipartRelatedStream(CT), async (src) => {
        for await (const _ of src) {
          /* drain */
        }
      }),
    ).rejects.toMatchObject({ code: 'truncated' });
  });
});

describe('building', () => {
  it('round-trips parts, headers and content type', () => {
    const parts = [
      {
        contentType: 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1',
        body: Buffer.from('one'),
        headers: { 'Content-Location': '/x' },
      },
      { contentType: 'application/dicom', body: new Uint8Array([0, 13, 10, 45, 45]) },
    ];
    const built = buildMultipartRelated(parts, 'application/dicom', { params: { 'transfer-syntax': '*' } });
    expect(built.contentType).toBe(
      `multipart/related; type="application/dicom"; transfer-syntax=*; boundary=${built.boundary}`,
    );
    expect(built.boundary).toMatch(/^radlink-[0-9a-f]{32}$/);
    const parsed = parseMultipartRelated(built.body, built.contentType);
    expect(parsed.map((p) => [p.contentType, [...p.body]])).toEqual([
      ['application/dicom; transfer-syntax=1.2.840.10008.1.2.1', [...Buffer.from('one')]],
      ['application/dicom', [0, 13, 10, 45, 45]],
    ]);
    expect(parsed[0]!.headers['content-location']).toBe('/x');
  });

  it('uses a fresh random boundary each time', () => {
    const a = buildMultipartRelated([{ contentType: 'a/b', body: Buffer.from('x') }], 'a/b');
    const b = buildMultipartRelated([{ contentType: 'a/b', body: Buffer.from('x') }], 'a/b');
    expect(a.boundary).not.toBe(b.boundary);
  });

  it('rejects header injection', () => {
    expect(() =>
      buildMultipartRelated([{ contentType: 'a/b\r\nX-Evil: 1', body: Buffer.from('x') }], 'a/b'),
    ).toThrow(MultipartError);
  });

  it('MultipartRelatedWriter streams buffers and async iterables, honouring back-pressure', async () => {
    const received: Buffer[] = [];
    let drains = 0;
    const sink = new Writable({
      highWaterMark: 4,
      write(chunk: Buffer, _enc, cb) {
        received.push(chunk);
        setImmediate(cb);
      },
    });
    sink.on('drain', () => drains++);
    const w = new MultipartRelatedWriter(sink, 'application/octet-stream', {
      params: { 'transfer-syntax': '*' },
    });
    async function* gen() {
      yield Buffer.from('fr');
      yield Buffer.from('ame2');
    }
    await w.writePart('application/octet-stream', Buffer.from('frame1'), { 'Content-Location': '/frames/1' });
    await w.writePart('application/octet-stream', gen());
    await w.end();
    await w.end(); // idempotent
    const parts = parseMultipartRelated(Buffer.concat(received), w.contentType);
    expect(parts.map((p) => p.body.toString())).toEqual(['frame1', 'frame2']);
    expect(parts[0]!.headers['content-location']).toBe('/frames/1');
    expect(drains).toBeGreaterThan(0);
    await expect(w.writePart('a/b', Buffer.from('late'))).rejects.toThrow();
  });

  it('writer with no parts writes only the close delimiter (parser reports no-parts)', async () => {
    const pt = new PassThrough();
    const chunks: Buffer[] = [];
    pt.on('data', (c: Buffer) => chunks.push(c));
    const w = new MultipartRelatedWriter(pt, 'application/dicom');
    await w.end();
    expect(Buffer.concat(chunks).toString()).toBe(`--${w.boundary}--\r\n`);
    expect(errCode(() => parseMultipartRelated(Buffer.concat(chunks), w.contentType))).toBe('no-parts');
  });
});
