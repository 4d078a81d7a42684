/**
 * multipart/related for DICOMweb (PS3.18 8.6.1.2 / 8.7.5; RFC 2387 multipart/related; RFC 2046
 * 5.1.1 body syntax).
 *
 * Parsing rules (RFC 2046 5.1.1):
 * - The first delimiter is `--boundary` at the start of the body or after a CRLF (the preamble is
 *   ignored). A body that starts directly with `--boundary` (no preamble, no CRLF) is normal.
 * - Every later delimiter is CRLF `--boundary`; the CRLF belongs to the delimiter, not the part.
 *   `--boundary` appearing inside binary data *without* a preceding CRLF never splits a part, and
 *   neither does CRLF `--boundary` followed by anything other than `--`, transport padding
 *   (spaces/tabs) and CRLF (e.g. `--boundaryX`).
 * - The close delimiter is CRLF `--boundary--`; anything after it (epilogue) is ignored. A body
 *   that ends before the close delimiter is truncated, and an error: a STOW body cut off by a
 *   dropped connection must not be stored as if complete.
 * - Part headers end at the first CRLFCRLF (or immediately, for a part with no headers).
 *
 * Performance: all scanning uses Buffer.indexOf (native), never per-byte JS loops, and part bodies
 * are zero-copy subarrays of the input when parsing a whole buffer. The streaming parser keeps only
 * the current part plus a small carry-over window, so its memory is bounded by `maxPartBytes`.
 */
import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback, type Writable } from 'node:stream';

export interface MultipartLimits {
  /** Largest part body. Default 1 GiB. */
  maxPartBytes?: number;
  /** Most parts. Default 10 000. */
  maxParts?: number;
  /** Largest header block of one part. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Largest preamble before the first delimiter. Default 64 KiB. */
  maxPreambleBytes?: number;
}

export interface MultipartPart {
  /** Header names lower-cased; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** The part's Content-Type, or the multipart `type` parameter when the part has none (RFC 2387 3.1). */
  contentType: string | undefined;
  body: Buffer;
}

export type MultipartErrorCode =
  | 'invalid-content-type'
  | 'missing-boundary'
  | 'no-parts'
  | 'malformed-part-headers'
  | 'part-too-large'
  | 'too-many-parts'
  | 'preamble-too-large'
  | 'truncated';

export class MultipartError extends Error {
  readonly status = 400;
  constructor(
    readonly code: MultipartErrorCode,
    /** Client-safe explanation (never contains payload bytes). */
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'MultipartError';
  }
}

export interface MultipartContentType {
  boundary: string;
  /** The `type` parameter (root media type), lower-cased, if present. */
  type?: string;
  /** All parameters, names lower-cased, values unquoted. */
  params: Record<string, string>;
}

// RFC 2046 5.1.1: 1–70 characters from bchars, not ending in a space.
const BOUNDARY_RE = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/**
 * Parse a `multipart/related` Content-Type header. Accepts quoted and unquoted parameters; the
 * DICOMweb `type` parameter may be quoted and contain `;` (e.g. `type="application/dicom"`).
 */
export function parseMultipartContentType(header: string | undefined): MultipartContentType {
  if (header === undefined) throw new MultipartError('invalid-content-type', 'Content-Type is missing.');
  const params: Record<string, string> = {};
  const re = /;\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g;
  const semi = header.indexOf(';');
  const mediaType = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
  if (mediaType !== 'multipart/related') {
    throw new MultipartError('invalid-content-type', 'Content-Type must be multipart/related.');
  }
  const rest = semi < 0 ? '' : header.slice(semi);
  for (const m of rest.matchAll(re)) {
    const raw = m[2]!.trim();
    params[m[1]!.toLowerCase()] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
  }
  const boundary = params['boundary'];
  if (boundary === undefined || boundary === '') {
    throw new MultipartError('missing-boundary', 'Content-Type has no boundary parameter.');
  }
  if (!BOUNDARY_RE.test(boundary)) {
    throw new MultipartError('missing-boundary', 'The boundary parameter is not a valid RFC 2046 boundary.');
  }
  const out: MultipartContentType = { boundary, params };
  if (params['type'] !== undefined) out.type = params['type'].split(';')[0]!.trim().toLowerCase();
  return out;
}

const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_PADDING = 256;

type State = 'preamble' | 'after-delimiter' | 'headers' | 'body' | 'epilogue';

/**
 * Incremental parser: `push` chunks, get complete parts back; `end` checks the body was complete.
 * Used by both the whole-buffer and the streaming API, so they share one set of rules.
 */
export class MultipartRelatedParser {
  private readonly dashBoundary: Buffer;
  private readonly delimiter: Buffer; // CRLF--boundary
  private readonly maxPartBytes: number;
  private readonly maxParts: number;
  private readonly maxHeaderBytes: number;
  private readonly maxPreambleBytes: number;
  private readonly rootType: string | undefined;

  private state: State = 'preamble';
  /** Unprocessed bytes (everything in states other than body; the carry window in body). */
  private buf: Buffer = Buffer.alloc(0);
  /** Body bytes of the current part already known not to contain its delimiter. */
  private bodyChunks: Buffer[] = [];
  private bodyLength = 0;
  private headers: Record<string, string> = {};
  private partCount = 0;
  /** Scanning resumes here within `buf` (avoids rescanning in preamble/headers). */
  private scanFrom = 0;
  /** An error met after some parts of the same push were complete; thrown on the next call. */
  private pendingError: Error | undefined;

  constructor(contentTypeHeader: string, limits: MultipartLimits = {}) {
    const ct = parseMultipartContentType(contentTypeHeader);
    this.dashBoundary = Buffer.from('--' + ct.boundary, 'latin1');
    this.delimiter = Buffer.concat([CRLF, this.dashBoundary]);
    this.rootType = ct.type;
    this.maxPartBytes = limits.maxPartBytes ?? 1024 ** 3;
    this.maxParts = limits.maxParts ?? 10_000;
    this.maxHeaderBytes = limits.maxHeaderBytes ?? 16 * 1024;
    this.maxPreambleBytes = limits.maxPreambleBytes ?? 64 * 1024;
  }

  /** Feed a chunk; returns the parts completed by it (possibly none). */
  push(chunk: Buffer): MultipartPart[] {
    if (this.pendingError) throw this.pendingError;
    if (this.state === 'epilogue') return [];
    const out: MultipartPart[] = [];
    this.buf = this.join(chunk);
    // Each step either consumes input and changes state, or returns false (needs more data).
    try {
      while (this.step(out)) {
        /* keep going */
      }
    } catch (err) {
      // Parts completed before the error are delivered first (a STOW client must learn that they
      // were stored); the error is raised by the next push or end.
      if (out.length === 0) throw err;
      this.pendingError = err as Error;
    }
    return out;
  }

  /**
   * The unprocessed bytes and a new chunk as one buffer. Inside a part body the carry is a tail
   * shorter than the delimiter, kept because it might begin one: when the chunk's first bytes show
   * that no delimiter starts in it, the carry is body and the chunk is used as it arrived.
   * (Copying every chunk behind its carry would copy an upload's bytes twice, not once, and
   * double the garbage a large STOW leaves for the collector.)
   */
  private join(chunk: Buffer): Buffer {
    const carry = this.buf;
    if (carry.length === 0) return chunk;
    const d = this.delimiter;
    if (this.state === 'body' && carry.length < d.length && chunk.length >= d.length) {
      // A delimiter starting in the carry ends within the probe; the first match decides.
      const at = Buffer.concat([carry, chunk.subarray(0, d.length)]).indexOf(d);
      if (at < 0 || at >= carry.length) {
        this.commitBody(carry.length);
        return chunk;
      }
    }
    return Buffer.concat([carry, chunk]);
  }

  /** Signal end of input. Throws if the close delimiter was not seen. */
  end(): void {
    if (this.pendingError) throw this.pendingError;
    if (this.state === 'epilogue') {
      if (this.partCount === 0) throw new MultipartError('no-parts', 'The multipart body contains no parts.');
      return;
    }
    if (this.state === 'preamble') {
      throw new MultipartError('no-parts', 'The multipart body contains no boundary delimiter.');
    }
    throw new MultipartError('truncated', 'The multipart body ended before its close delimiter.');
  }

  private step(out: MultipartPart[]): boolean {
    switch (this.state) {
      case 'preamble':
        return this.stepPreamble();
      case 'after-delimiter':
        return this.stepAfterDelimiter();
      case 'headers':
        return this.stepHeaders();
      case 'body':
        return this.stepBody(out);
      case 'epilogue':
        return false;
    }
  }

  private stepPreamble(): boolean {
    const buf = this.buf;
    let at = -1;
    if (
      buf.length >= this.dashBoundary.length &&
      buf.subarray(0, this.dashBoundary.length).equals(this.dashBoundary)
    ) {
      at = 0;
    } else {
      // Lenient: LF alone before the first delimiter (RFC says CRLF; the preamble is discarded anyway).
      const i = buf.indexOf(this.dashBoundary, Math.max(1, this.scanFrom));
      let j = i;
      while (j > 0 && buf[j - 1] !== 0x0a) j = buf.indexOf(this.dashBoundary, j + 1);
      at = j;
    }
    if (at < 0) {
      if (buf.length > this.maxPreambleBytes) {
        throw new MultipartError(
          'preamble-too-large',
          'No boundary delimiter found at the start of the body.',
        );
      }
      this.scanFrom = Math.max(0, buf.length - this.dashBoundary.length);
      return false;
    }
    this.buf = buf.subarray(at + this.dashBoundary.length);
    this.scanFrom = 0;
    this.state = 'after-delimiter';
    return true;
  }

  /** After `--boundary`: `--` closes; else optional padding then CRLF starts a part. */
  private stepAfterDelimiter(): boolean {
    const buf = this.buf;
    if (buf.length < 2) return false;
    if (buf[0] === 0x2d && buf[1] === 0x2d) {
      this.state = 'epilogue';
      this.buf = Buffer.alloc(0);
      return false;
    }
    let i = 0;
    while (i < buf.length && i <= MAX_PADDING && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
    if (i > MAX_PADDING)
      throw new MultipartError('malformed-part-headers', 'Malformed boundary delimiter line.');
    if (buf.length < i + 2) return false;
    if (buf[i] !== 0x0d || buf[i + 1] !== 0x0a) {
      throw new MultipartError('malformed-part-headers', 'Malformed boundary delimiter line.');
    }
    if (this.partCount >= this.maxParts) {
      throw new MultipartError('too-many-parts', `The multipart body has more than ${this.maxParts} parts.`);
    }
    this.buf = buf.subarray(i + 2);
    this.state = 'headers';
    return true;
  }

  private stepHeaders(): boolean {
    const buf = this.buf;
    let headerEnd: number;
    let bodyStart: number;
    if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) {
      headerEnd = 0; // no headers
      bodyStart = 2;
    } else {
      const i = buf.indexOf(CRLFCRLF, this.scanFrom);
      if (i < 0) {
        if (buf.length > this.maxHeaderBytes) {
          throw new MultipartError('malformed-part-headers', 'Part headers are too large or not terminated.');
        }
        this.scanFrom = Math.max(0, buf.length - 3);
        return false;
      }
      if (i > this.maxHeaderBytes) {
        throw new MultipartError('malformed-part-headers', 'Part headers are too large.');
      }
      headerEnd = i;
      bodyStart = i + 4;
    }
    this.headers = parseHeaderBlock(buf.subarray(0, headerEnd).toString('latin1'));
    this.buf = buf.subarray(bodyStart);
    this.scanFrom = 0;
    this.bodyChunks = [];
    this.bodyLength = 0;
    this.state = 'body';
    return true;
  }

  private stepBody(out: MultipartPart[]): boolean {
    const buf = this.buf;
    const delim = this.delimiter;
    let from = 0;
    for (;;) {
      const i = buf.indexOf(delim, from);
      if (i < 0) break;
      // Decide whether this is a real delimiter: must be followed by `--` or padding + CRLF.
      const after = i + delim.length;
      const verdict = delimiterVerdict(buf, after);
      if (verdict === 'need-more') {
        this.commitBody(i);
        return false;
      }
      if (verdict === 'no') {
        from = i + 1;
        continue;
      }
      this.checkPartSize(i);
      const body =
        this.bodyChunks.length === 0
          ? buf.subarray(0, i)
          : Buffer.concat([...this.bodyChunks, buf.subarray(0, i)]);
      out.push({ headers: this.headers, contentType: this.headers['content-type'] ?? this.rootType, body });
      this.partCount++;
      this.bodyChunks = [];
      this.bodyLength = 0;
      this.buf = buf.subarray(after);
      this.state = 'after-delimiter';
      return true;
    }
    // No delimiter: everything except a tail that could be the start of one is body.
    this.commitBody(Math.max(0, buf.length - (delim.length - 1)));
    return false;
  }

  /** Move buf[0..n) into the current part body; keep the rest as the carry window. */
  private commitBody(n: number): void {
    if (n <= 0) return;
    this.checkPartSize(n);
    // No copy here: these bytes belong to the part and are copied once, by the final concat.
    this.bodyChunks.push(this.buf.subarray(0, n));
    this.bodyLength += n;
    this.buf = this.buf.subarray(n);
  }

  private checkPartSize(extra: number): void {
    if (this.bodyLength + extra > this.maxPartBytes) {
      throw new MultipartError('part-too-large', `A part exceeds the limit of ${this.maxPartBytes} bytes.`);
    }
  }
}

function delimiterVerdict(buf: Buffer, at: number): 'yes' | 'no' | 'need-more' {
  if (buf.length < at + 2) return 'need-more';
  if (buf[at] === 0x2d && buf[at + 1] === 0x2d) return 'yes';
  let i = at;
  while (i < buf.length && i - at <= MAX_PADDING && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
  if (i - at > MAX_PADDING) return 'no';
  if (buf.length < i + 2) return 'need-more';
  return buf[i] === 0x0d && buf[i + 1] === 0x0a ? 'yes' : 'no';
}

/** RFC 5322-style header lines; folded continuation lines are joined. Names lower-cased. */
function parseHeaderBlock(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  if (text === '') return headers;
  const lines = text.split('\r\n');
  const unfolded: string[] = [];
  for (const line of lines) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && unfolded.length > 0) {
      unfolded[unfolded.length - 1] += ' ' + line.trim();
    } else {
      unfolded.push(line);
    }
  }
  for (const line of unfolded) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '';
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name) || /[\r\n]/.test(line)) {
      throw new MultipartError('malformed-part-headers', 'A part has a malformed header line.');
    }
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

/**
 * Parse a whole multipart/related body held in memory. Part bodies are subarrays of `body`
 * (zero-copy) — copy them if `body` is to be reused.
 * @throws MultipartError
 */
export function parseMultipartRelated(
  body: Buffer,
  contentTypeHeader: string,
  limits: MultipartLimits = {},
): MultipartPart[] {
  const parser = new MultipartRelatedParser(contentTypeHeader, limits);
  const parts = parser.push(body);
  parser.end();
  return parts;
}

/**
 * Stream parts out of a Readable (or any async iterable of chunks) without buffering the whole
 * body: memory is bounded by the largest part plus one chunk. Errors surface as MultipartError
 * thrown from the iterator; a stream that ends early throws `truncated`.
 */
export async function* parseMultipartRelatedStream(
  source: AsyncIterable<Buffer | Uint8Array | string>,
  contentTypeHeader: string,
  limits: MultipartLimits = {},
): AsyncGenerator<MultipartPart, void, undefined> {
  const parser = new MultipartRelatedParser(contentTypeHeader, limits);
  for await (const chunk of source) {
    const buf =
      typeof chunk === 'string'
        ? Buffer.from(chunk, 'latin1')
        : Buffer.isBuffer(chunk)
          ? chunk
          : Buffer.from(chunk);
    for (const part of parser.push(buf)) yield part;
  }
  parser.end();
}

/**
 * The same as a Node Transform: write body chunks in, read `MultipartPart` objects out
 * (readable side in object mode). Parse errors are emitted as 'error' with a MultipartError.
 */
export class MultipartRelatedStream extends Transform {
  private readonly parser: MultipartRelatedParser;

  constructor(contentTypeHeader: string, limits: MultipartLimits = {}) {
    super({ readableObjectMode: true });
    // Throws synchronously for a bad Content-Type, before any data flows.
    this.parser = new MultipartRelatedParser(contentTypeHeader, limits);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      for (const part of this.parser.push(chunk)) this.push(part);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.parser.end();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface OutgoingPart {
  /** Part Content-Type (e.g. `application/dicom; transfer-syntax=1.2.840.10008.1.2.1`). */
  contentType: string;
  body: Buffer | Uint8Array;
  /** Extra part headers (e.g. Content-Location). Names and values must not contain CR/LF. */
  headers?: Record<string, string>;
}

/** A random boundary: 128 bits, so a collision with payload bytes is negligible. */
export function randomBoundary(): string {
  return 'radlink-' + randomBytes(16).toString('hex');
}

/** `multipart/related; type="…"; boundary=…` plus extra parameters (e.g. transfer-syntax). */
export function multipartContentType(
  type: string,
  boundary: string,
  params: Record<string, string> = {},
): string {
  let s = `multipart/related; type="${type.replace(/["\\]/g, '\\$&')}"`;
  for (const [k, v] of Object.entries(params)) s += `; ${k}=${v}`;
  return `${s}; boundary=${boundary}`;
}

function partHead(
  boundary: string,
  part: Pick<OutgoingPart, 'contentType' | 'headers'>,
  first: boolean,
): Buffer {
  const lines = [`Content-Type: ${part.contentType}`];
  for (const [k, v] of Object.entries(part.headers ?? {})) lines.push(`${k}: ${v}`);
  for (const l of lines) {
    if (/[\r\n]/.test(l))
      throw new MultipartError('malformed-part-headers', 'Part header contains a line break.');
  }
  return Buffer.from(`${first ? '' : '\r\n'}--${boundary}\r\n${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/**
 * Build a complete multipart/related body. The boundary is random and re-drawn in the (absurdly
 * unlikely) case that it occurs in a part body.
 */
export function buildMultipartRelated(
  parts: OutgoingPart[],
  type: string,
  options: { boundary?: string; params?: Record<string, string> } = {},
): { body: Buffer; contentType: string; boundary: string } {
  let boundary = options.boundary ?? randomBoundary();
  while (
    options.boundary === undefined &&
    parts.some((p) =>
      Buffer.from(p.body.buffer, p.body.byteOffset, p.body.byteLength).includes('--' + boundary),
    )
  ) {
    boundary = randomBoundary();
  }
  const chunks: Buffer[] = [];
  parts.forEach((p, i) => {
    chunks.push(
      partHead(boundary, p, i === 0),
      Buffer.from(p.body.buffer, p.body.byteOffset, p.body.byteLength),
    );
  });
  chunks.push(Buffer.from(`${parts.length === 0 ? '' : '\r\n'}--${boundary}--\r\n`, 'latin1'));
  return {
    body: Buffer.concat(chunks),
    contentType: multipartContentType(type, boundary, options.params),
    boundary,
  };
}

/**
 * The framing around the body of a one-part multipart/related answer (delimiter and part headers
 * before it, close delimiter after it), for a body written as it is, without copying it into a
 * bigger buffer. The caller's boundary is used as is (see MultipartRelatedWriter on collisions).
 */
export function onePartFraming(boundary: string, contentType: string): { head: Buffer; tail: Buffer } {
  return {
    head: partHead(boundary, { contentType }, true),
    tail: Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'),
  };
}

/**
 * Streaming writer: write parts to a Writable (an HTTP response) one at a time, honouring
 * back-pressure. Read `contentType` before the first write to set the response header.
 * Part bodies may be Buffers or async iterables (e.g. an Orthanc response body) and are not
 * scanned for the boundary (128 random bits make a collision negligible).
 */
export class MultipartRelatedWriter {
  readonly boundary: string;
  readonly contentType: string;
  private first = true;
  private ended = false;

  constructor(
    private readonly out: Writable,
    type: string,
    options: { boundary?: string; params?: Record<string, string> } = {},
  ) {
    this.boundary = options.boundary ?? randomBoundary();
    this.contentType = multipartContentType(type, this.boundary, options.params);
  }

  async writePart(
    contentType: string,
    body: Buffer | Uint8Array | AsyncIterable<Buffer | Uint8Array>,
    headers?: Record<string, string>,
  ): Promise<void> {
    if (this.ended) throw new Error('MultipartRelatedWriter: writePart after end');
    await this.write(
      partHead(this.boundary, headers ? { contentType, headers } : { contentType }, this.first),
    );
    this.first = false;
    if (body instanceof Uint8Array) await this.write(body);
    else for await (const chunk of body) await this.write(chunk);
  }

  /** Write the close delimiter. Does not end the Writable (the caller may, e.g. reply.raw.end()). */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.write(Buffer.from(`${this.first ? '' : '\r\n'}--${this.boundary}--\r\n`, 'latin1'));
  }

  private write(chunk: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.out.once('error', onError);
      const ok = this.out.write(chunk, (err) => {
        if (err) reject(err);
      });
      const done = () => {
        this.out.off('error', onError);
        resolve();
      };
      if (ok) done();
      else this.out.once('drain', done);
    });
  }
}
