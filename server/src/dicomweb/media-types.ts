/**
 * Content negotiation for WADO-RS / WADO-URI, and the allow-list of what may be asked of Orthanc.
 *
 * Why an allow-list: Orthanc 1.10.1 with the GDCM plugin loaded segfaults when asked to produce
 * JPEG-LS, and every request the gateway forwards is attacker-controlled. So the gateway never
 * forwards the client's Accept header; it negotiates here against a fixed list and forwards only
 * the chosen, known-safe transfer syntax (`orthancTransferSyntax`).
 *
 * Invariant: no result of this module ever has `orthancTransferSyntax` equal to a JPEG-LS UID
 * (1.2.840.10008.1.2.4.80 / .81), and `image/jls` is only chosen with `storedOnly: true`, which
 * means "serve the stored bytes, which already are JPEG-LS; ask Orthanc for `*` (no transcoding)".
 *
 * Rules follow PS3.18 8.7 (Media Types and Transfer Syntaxes): a media type without a
 * `transfer-syntax` parameter means that media type's default transfer syntax (8.7.3.5.2; Explicit
 * VR Little Endian for application/dicom and application/octet-stream), `transfer-syntax=*` means
 * "as stored" (8.7.3.5.2), and multipart payloads are named by the `type` parameter of
 * multipart/related (8.7.3.3, 8.7.5). Accept header syntax and q-value precedence: RFC 7231 5.3.
 */

/** Transfer syntax UIDs used here (PS3.5 Annex A / PS3.6 Table A-1). */
export const TS = {
  IMPLICIT_LE: '1.2.840.10008.1.2',
  EXPLICIT_LE: '1.2.840.10008.1.2.1',
  JPEG_BASELINE: '1.2.840.10008.1.2.4.50',
  JPEG_LOSSLESS_P14: '1.2.840.10008.1.2.4.57',
  JPEG_LOSSLESS_SV1: '1.2.840.10008.1.2.4.70',
  JPEG_LS_LOSSLESS: '1.2.840.10008.1.2.4.80',
  JPEG_LS_NEAR_LOSSLESS: '1.2.840.10008.1.2.4.81',
  JPEG_2000_LOSSLESS: '1.2.840.10008.1.2.4.90',
  JPEG_2000: '1.2.840.10008.1.2.4.91',
  RLE: '1.2.840.10008.1.2.5',
} as const;

/** `transfer-syntax=*`: the stored transfer syntax, no transcoding (PS3.18 8.7.3.5.2). */
export const AS_STORED = '*';

/** Transfer syntaxes that must never be requested from Orthanc (GDCM segfault). */
export const FORBIDDEN_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  TS.JPEG_LS_LOSSLESS,
  TS.JPEG_LS_NEAR_LOSSLESS,
]);

/**
 * Transfer syntaxes the gateway may ask Orthanc to produce (`*` = as stored), in the server's
 * order of preference when a client's q-values tie. Negotiation offers exactly these, so an
 * offered syntax can never fail the forwarding guard below.
 */
const FORWARDABLE_IN_ORDER: readonly string[] = [
  AS_STORED,
  TS.EXPLICIT_LE,
  TS.IMPLICIT_LE,
  TS.JPEG_BASELINE,
  TS.JPEG_LOSSLESS_P14,
  TS.JPEG_LOSSLESS_SV1,
  TS.JPEG_2000_LOSSLESS,
  TS.JPEG_2000,
  TS.RLE,
];
export const FORWARDABLE_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set(FORWARDABLE_IN_ORDER);

/** True if `ts` may be sent to Orthanc. A last guard for callers that build requests by hand. */
export function isForwardableTransferSyntax(ts: string): boolean {
  return FORWARDABLE_TRANSFER_SYNTAXES.has(ts);
}

/**
 * A DICOM UID safe to put in a URL path or SQL: digits and dots only, no empty or leading-zero
 * components (PS3.5 9.1: "0" alone is allowed), at most 64 characters (PS3.5 9.1, VR UI).
 * Every UID path parameter goes through this (path traversal and injection defence).
 */
export function isSafeUid(s: string): boolean {
  return s.length > 0 && s.length <= 64 && /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/.test(s);
}

// ---------------------------------------------------------------------------------------------
// Accept header parsing (RFC 7231 5.3.1, 5.3.2)

export interface MediaRange {
  /** Lower-cased type, `*` allowed. */
  type: string;
  /** Lower-cased subtype, `*` allowed. */
  subtype: string;
  /** Media-type parameters before `q`, names lower-cased; values unquoted. */
  params: Record<string, string>;
  /** 0..1; 1 when absent. */
  q: number;
  /** Position in the header (for stable ordering). */
  index: number;
}

export interface ParsedAccept {
  ranges: MediaRange[];
  /** Number of comma-separated elements that could not be parsed (they are ignored). */
  invalid: number;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const QVALUE = /^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/;

/** Split on `sep` outside double-quoted strings (quoted-pair aware). */
function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quoted && c === '\\' && i + 1 < s.length) {
      cur += c + s[++i]!;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

function unquote(v: string): string | undefined {
  if (v.startsWith('"')) {
    if (v.length < 2 || !v.endsWith('"')) return undefined;
    return v.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  // Strictly a media type in a parameter value must be quoted ('/' is not a token character),
  // but DICOMweb clients send `type=application/octet-stream` unquoted (OHIF with
  // omitQuotationForMultipartRequest, dcm4che); refusing it would 406 every frame they ask for.
  if (/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v)) return v;
  return TOKEN.test(v) ? v : undefined;
}

/** Parse one media range (no q handling); undefined when malformed. */
function parseMediaType(
  s: string,
): { type: string; subtype: string; params: Array<[string, string]> } | undefined {
  const pieces = splitOutsideQuotes(s, ';').map((p) => p.trim());
  const full = pieces[0]!.toLowerCase();
  const slash = full.indexOf('/');
  if (slash < 0) return undefined;
  const type = full.slice(0, slash);
  const subtype = full.slice(slash + 1);
  if (!TOKEN.test(type) || !TOKEN.test(subtype)) return undefined;
  if (type === '*' && subtype !== '*') return undefined;
  const params: Array<[string, string]> = [];
  for (const p of pieces.slice(1)) {
    if (p === '') continue; // tolerate "a/b;" and ";;"
    const eq = p.indexOf('=');
    if (eq <= 0) return undefined;
    const name = p.slice(0, eq).trim().toLowerCase();
    const value = unquote(p.slice(eq + 1).trim());
    if (!TOKEN.test(name) || value === undefined) return undefined;
    params.push([name, value]);
  }
  return { type, subtype, params };
}

/**
 * Parse an Accept header (or WADO-URI `contentType` list). Malformed elements are counted and
 * skipped, not fatal: RFC 7231 lets a server ignore a bad Accept, and one bad element must not
 * turn an otherwise satisfiable request into a 406.
 *
 * `q` ends the media-type parameters (RFC 7231 5.3.2); accept-ext after it is ignored. The DICOM
 * `type` parameter may itself carry parameters when quoted (`type="application/dicom;
 * transfer-syntax=…"`, seen in the wild); those are lifted onto the range unless already set.
 */
export function parseAccept(header: string | undefined): ParsedAccept {
  const ranges: MediaRange[] = [];
  let invalid = 0;
  if (header === undefined) return { ranges, invalid };
  const elements = splitOutsideQuotes(header, ',');
  elements.forEach((raw, index) => {
    if (raw.trim() === '') return; // RFC 7230 7: empty list elements are ignored
    const mt = parseMediaType(raw);
    if (!mt) {
      invalid++;
      return;
    }
    const params: Record<string, string> = {};
    let q = 1;
    let bad = false;
    for (const [name, value] of mt.params) {
      if (name === 'q') {
        if (!QVALUE.test(value)) bad = true;
        else q = Number(value);
        break;
      }
      params[name] = value;
    }
    if (params['type'] !== undefined) {
      const inner = parseMediaType(params['type']);
      if (!inner) bad = true;
      else {
        params['type'] = `${inner.type}/${inner.subtype}`;
        for (const [n, v] of inner.params) if (params[n] === undefined && n !== 'q') params[n] = v;
      }
    }
    if (bad) {
      invalid++;
      return;
    }
    ranges.push({ type: mt.type, subtype: mt.subtype, params, q, index });
  });
  return { ranges, invalid };
}

// ---------------------------------------------------------------------------------------------
// Allow-lists per WADO-RS resource kind

export type WadoResourceKind =
  | 'instance'
  | 'metadata'
  | 'frames'
  | 'bulkdata'
  | 'rendered'
  | 'rendered-series'
  | 'thumbnail';

interface Candidate {
  /** Media type of the (part) payload, e.g. application/dicom, image/jpeg. */
  mediaType: string;
  multipart: boolean;
  /** Transfer syntax of the payload, `*`, or undefined for non-DICOM-encoded payloads. */
  transferSyntax?: string;
  /** JPEG-LS: only servable from stored bytes. */
  storedOnly?: true;
}

/** Default transfer syntax per media type when the Accept carries none (PS3.18 8.7.3.5.2). */
const DEFAULT_TS: Record<string, string> = {
  'application/dicom': TS.EXPLICIT_LE,
  'application/octet-stream': TS.EXPLICIT_LE,
  'image/jpeg': TS.JPEG_BASELINE,
  'image/jls': TS.JPEG_LS_LOSSLESS,
  'image/jp2': TS.JPEG_2000_LOSSLESS,
  'image/dicom-rle': TS.RLE,
};

const mp = (mediaType: string, transferSyntax: string, storedOnly?: true): Candidate =>
  storedOnly
    ? { mediaType, multipart: true, transferSyntax, storedOnly }
    : { mediaType, multipart: true, transferSyntax };

/** Frame / pixel payloads (PS3.18 8.7.3.5.1 table "Transfer Syntax UIDs for bulk data"). */
const PIXEL_CANDIDATES: Candidate[] = [
  mp('application/octet-stream', AS_STORED),
  mp('application/octet-stream', TS.EXPLICIT_LE),
  mp('application/octet-stream', TS.IMPLICIT_LE),
  mp('image/jpeg', TS.JPEG_BASELINE),
  mp('image/jpeg', TS.JPEG_LOSSLESS_P14),
  mp('image/jpeg', TS.JPEG_LOSSLESS_SV1),
  mp('image/jp2', TS.JPEG_2000_LOSSLESS),
  mp('image/jp2', TS.JPEG_2000),
  mp('image/dicom-rle', TS.RLE),
  mp('image/jls', TS.JPEG_LS_LOSSLESS, true),
  mp('image/jls', TS.JPEG_LS_NEAR_LOSSLESS, true),
];

/**
 * Server preference order (first wins among equal q). `*` comes first wherever it exists because
 * serving stored bytes costs Orthanc nothing and cannot trigger a transcoder.
 */
const CANDIDATES: Record<WadoResourceKind, Candidate[]> = {
  instance: [
    ...FORWARDABLE_IN_ORDER.map((ts) => mp('application/dicom', ts)),
    mp('application/dicom', TS.JPEG_LS_LOSSLESS, true),
    mp('application/dicom', TS.JPEG_LS_NEAR_LOSSLESS, true),
  ],
  metadata: [
    { mediaType: 'application/dicom+json', multipart: false },
    { mediaType: 'application/json', multipart: false },
  ],
  frames: PIXEL_CANDIDATES,
  bulkdata: [mp('application/octet-stream', AS_STORED), mp('application/octet-stream', TS.EXPLICIT_LE)],
  rendered: [
    { mediaType: 'image/jpeg', multipart: false },
    { mediaType: 'image/png', multipart: false },
  ],
  // A series' rendered resource is its instances, one rendered part each (multipart, preferred);
  // a client accepting only a single image gets the series' representative image.
  'rendered-series': [
    { mediaType: 'image/jpeg', multipart: true },
    { mediaType: 'image/png', multipart: true },
    { mediaType: 'image/jpeg', multipart: false },
    { mediaType: 'image/png', multipart: false },
  ],
  thumbnail: [
    { mediaType: 'image/jpeg', multipart: false },
    { mediaType: 'image/png', multipart: false },
  ],
};

/** The media type a bare `multipart/related` (no `type`) stands for, per resource kind. */
const DEFAULT_MULTIPART_TYPE: Partial<Record<WadoResourceKind, string>> = {
  instance: 'application/dicom',
  frames: 'application/octet-stream',
  bulkdata: 'application/octet-stream',
  'rendered-series': 'image/jpeg',
};

export interface WadoRepresentation {
  kind: WadoResourceKind;
  /** Media type of the payload (of each part when multipart). */
  mediaType: string;
  /** Wrapped in multipart/related with `type` = mediaType. */
  multipart: boolean;
  /** Transfer syntax promised to the client: a UID or `*` (as stored); undefined if not DICOM-encoded. */
  transferSyntax?: string;
  /**
   * What to ask Orthanc for (`transfer-syntax` on the forwarded Accept). Never JPEG-LS: `*` when
   * `storedOnly`. Undefined when no transfer syntax applies (metadata, rendered, thumbnail).
   */
  orthancTransferSyntax?: string;
  /** Serve stored bytes only (no transcoding); set for JPEG-LS chosen because it is stored so. */
  storedOnly: boolean;
  /** The q-value of the client's most specific matching media range. */
  quality: number;
}

export type NotAcceptableCode = 'not-acceptable' | 'jpeg-ls-not-stored' | 'malformed-accept';

export type WadoNegotiation =
  | { ok: true; representation: WadoRepresentation }
  | {
      ok: false;
      status: 406;
      code: NotAcceptableCode;
      /** Client-safe explanation (no patient data). */
      reason: string;
      /**
       * For `jpeg-ls-not-stored`: the JPEG-LS transfer syntaxes the client would accept. A caller
       * that did not pass `storedTransferSyntax` may look it up and negotiate again.
       */
      storedOnlyTransferSyntaxes?: string[];
    };

export interface NegotiateOptions {
  /** The instance's stored transfer syntax, if known. Enables JPEG-LS pass-through (storedOnly). */
  storedTransferSyntax?: string;
}

/**
 * Specificity of `range` for `c`, or -1 if it does not match (RFC 7231 5.3.2: the most specific
 * matching range decides a representation's q). Higher = more specific.
 */
function matchSpecificity(range: MediaRange, c: Candidate, kind: WadoResourceKind): number {
  let inner: { type: string; subtype: string };
  let score: number;
  if (c.multipart) {
    if (range.type === '*' && range.subtype === '*') {
      inner = { type: '*', subtype: '*' };
      score = 0;
    } else if (range.type === 'multipart' && (range.subtype === 'related' || range.subtype === '*')) {
      const t = range.params['type'] ?? DEFAULT_MULTIPART_TYPE[kind];
      if (t === undefined) return -1;
      const [type, subtype] = t.split('/') as [string, string];
      inner = { type, subtype };
      score = range.subtype === 'related' ? 4 : 2;
    } else {
      return -1;
    }
  } else {
    inner = range;
    score = 0;
  }
  const [ctype, csubtype] = c.mediaType.split('/') as [string, string];
  if (inner.type === '*' && inner.subtype === '*') score += 0;
  else if (inner.type === ctype && inner.subtype === '*') score += 1;
  else if (inner.type === ctype && inner.subtype === csubtype) score += 2;
  else return -1;

  if (c.transferSyntax !== undefined) {
    const requested = range.params['transfer-syntax'];
    if (requested !== undefined) {
      if (requested !== c.transferSyntax) return -1;
      score += 1;
    } else if (DEFAULT_TS[c.mediaType] !== c.transferSyntax) {
      return -1;
    }
  }
  return score;
}

function qualityOf(ranges: MediaRange[], c: Candidate, kind: WadoResourceKind): number {
  let best = -1;
  let q = 0;
  for (const r of ranges) {
    const s = matchSpecificity(r, c, kind);
    if (s > best) {
      best = s;
      q = r.q;
    }
  }
  return best < 0 ? 0 : q;
}

/**
 * Choose the representation for a WADO-RS resource of `kind` given the request's Accept header.
 * A missing or empty Accept means any media type (RFC 7231 5.3.2). Highest q wins; ties go to the
 * server's preference order. JPEG-LS candidates are eligible only when
 * `options.storedTransferSyntax` equals their transfer syntax (then `storedOnly: true`).
 */
export function negotiateWado(
  kind: WadoResourceKind,
  acceptHeader: string | undefined,
  options: NegotiateOptions = {},
): WadoNegotiation {
  const parsed = parseAccept(acceptHeader);
  if (parsed.ranges.length === 0 && parsed.invalid > 0) {
    return notAcceptable('malformed-accept', 'The Accept header could not be parsed.');
  }
  const ranges = parsed.ranges.length > 0 ? parsed.ranges : parseAccept('*/*').ranges;
  return choose(kind, ranges, options);
}

function choose(kind: WadoResourceKind, ranges: MediaRange[], options: NegotiateOptions): WadoNegotiation {
  let best: { c: Candidate; q: number } | undefined;
  const wantedJls: string[] = [];
  for (const c of CANDIDATES[kind]) {
    const q = qualityOf(ranges, c, kind);
    if (q <= 0) continue;
    if (c.storedOnly && c.transferSyntax !== options.storedTransferSyntax) {
      wantedJls.push(c.transferSyntax!);
      continue;
    }
    if (!best || q > best.q) best = { c, q };
  }
  if (!best) {
    if (wantedJls.length > 0) {
      return {
        ...notAcceptable(
          'jpeg-ls-not-stored',
          'JPEG-LS is only served for objects stored as JPEG-LS; accept another transfer syntax or "*".',
        ),
        storedOnlyTransferSyntaxes: [...new Set(wantedJls)],
      };
    }
    return notAcceptable('not-acceptable', `None of the accepted media types is available for ${kind}.`);
  }
  const { c, q } = best;
  const storedOnly = c.storedOnly === true;
  const representation: WadoRepresentation = {
    kind,
    mediaType: c.mediaType,
    multipart: c.multipart,
    storedOnly,
    quality: q,
  };
  if (c.transferSyntax !== undefined) {
    representation.transferSyntax = c.transferSyntax;
    representation.orthancTransferSyntax = storedOnly ? AS_STORED : c.transferSyntax;
  }
  // Defence in depth: the candidate tables above are the only source, but assert the invariant.
  if (
    representation.orthancTransferSyntax !== undefined &&
    !isForwardableTransferSyntax(representation.orthancTransferSyntax)
  ) {
    return notAcceptable('not-acceptable', 'The requested transfer syntax is not available.');
  }
  return { ok: true, representation };
}

function notAcceptable(code: NotAcceptableCode, reason: string): Extract<WadoNegotiation, { ok: false }> {
  return { ok: false, status: 406, code, reason };
}

// ---------------------------------------------------------------------------------------------
// WADO-URI (PS3.18 9: requestType=WADO)

export interface WadoUriParams {
  /** `contentType` query parameter: one media type or a comma-separated list with optional q. */
  contentType?: string;
  /** `transferSyntax` query parameter; only meaningful with application/dicom. */
  transferSyntax?: string;
}

export type WadoUriNegotiation =
  | {
      ok: true;
      representation: {
        mediaType: 'application/dicom' | 'image/jpeg' | 'image/png';
        transferSyntax?: string;
        orthancTransferSyntax?: string;
        storedOnly: boolean;
      };
    }
  | Extract<WadoNegotiation, { ok: false }>
  | { ok: false; status: 400; code: 'bad-parameter'; reason: string };

const WADO_URI_TYPES: Record<string, 'application/dicom' | 'image/jpeg' | 'image/png'> = {
  'application/dicom': 'application/dicom',
  'image/jpeg': 'image/jpeg',
  'image/png': 'image/png',
  'image/*': 'image/jpeg',
  '*/*': 'image/jpeg',
};

/**
 * WADO-URI: `contentType` (default image/jpeg for images, PS3.18 9 "contentType") and
 * `transferSyntax` (only with application/dicom; default Explicit VR Little Endian). Same
 * allow-list and JPEG-LS rule as WADO-RS; `transferSyntax=*` is not part of WADO-URI and is
 * rejected, as is a transferSyntax that is not a UID.
 */
export function negotiateWadoUri(params: WadoUriParams, options: NegotiateOptions = {}): WadoUriNegotiation {
  const ts = params.transferSyntax?.trim();
  if (ts !== undefined && ts !== '' && !isSafeUid(ts)) {
    return { ok: false, status: 400, code: 'bad-parameter', reason: 'transferSyntax must be a UID.' };
  }
  const parsed = parseAccept(
    params.contentType === undefined || params.contentType.trim() === '' ? 'image/jpeg' : params.contentType,
  );
  if (parsed.ranges.length === 0) {
    return { ok: false, status: 400, code: 'bad-parameter', reason: 'contentType could not be parsed.' };
  }
  let best:
    | { mediaType: 'application/dicom' | 'image/jpeg' | 'image/png'; q: number; index: number }
    | undefined;
  for (const r of parsed.ranges) {
    if (r.q <= 0) continue;
    const mediaType = WADO_URI_TYPES[`${r.type}/${r.subtype}`];
    if (mediaType === undefined) continue;
    if (!best || r.q > best.q) best = { mediaType, q: r.q, index: r.index };
  }
  if (!best) return notAcceptable('not-acceptable', 'None of the requested content types is available.');
  if (best.mediaType !== 'application/dicom') {
    if (ts) {
      return {
        ok: false,
        status: 400,
        code: 'bad-parameter',
        reason: 'transferSyntax requires contentType=application/dicom.',
      };
    }
    return { ok: true, representation: { mediaType: best.mediaType, storedOnly: false } };
  }
  const accept = `multipart/related; type="application/dicom"` + (ts ? `; transfer-syntax=${ts}` : '');
  const res = choose('instance', parseAccept(accept).ranges, options);
  if (!res.ok) return res;
  const r = res.representation;
  return {
    ok: true,
    representation: {
      mediaType: 'application/dicom',
      transferSyntax: r.transferSyntax!,
      orthancTransferSyntax: r.orthancTransferSyntax!,
      storedOnly: r.storedOnly,
    },
  };
}

/**
 * Content-Type for the response (multipart: the `type` and, when not `*`, `transfer-syntax`
 * parameters; PS3.18 8.7.3.5.3 wants the actual syntax, so pass `actualTransferSyntax` when the
 * representation is `*` and the stored syntax is known). The boundary is added by the writer.
 */
export function partContentType(rep: WadoRepresentation, actualTransferSyntax?: string): string {
  const ts = rep.transferSyntax === AS_STORED ? actualTransferSyntax : rep.transferSyntax;
  return ts !== undefined && rep.transferSyntax !== undefined
    ? `${rep.mediaType}; transfer-syntax=${ts}`
    : rep.mediaType;
}
