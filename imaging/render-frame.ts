/**
 * Renders one frame of a stored instance to JPEG or PNG with sharp; shared by the gateway and
 * the thumbnails worker (each hands in its own read-only view of Orthanc as a FrameSource).
 * Orthanc decodes (its decoders and the GDCM plugin know every stored syntax; nothing is encoded
 * to JPEG-LS on this path); the rescale, the VOI window and the photometric inversion are applied
 * here (windowing.ts), then the image is scaled.
 *  - greyscale: `/frames/{n}/image-(u)int16` as PAM — stored values, untouched by Orthanc's own
 *    windowing, so a requested window means exactly what PS3.18 says;
 *  - colour: `/frames/{n}/preview` (8-bit RGB PNG; no window applies to colour).
 * sharp runs in libvips' thread pool, so the event loop is not blocked by the resampling.
 */
import sharp, { type Sharp } from 'sharp';
import { applyWindow, minMaxWindow, type VoiFunction, type Window } from './windowing.js';

export interface Viewport {
  width: number;
  height: number;
  /** Source region (sx, sy, sw, sh) in image pixels, when given. */
  region?: { left: number; top: number; width: number; height: number };
}

export interface RenderOptions {
  format: 'jpeg' | 'png';
  window?: Window;
  /** JPEG quality 1..100. */
  quality?: number;
  viewport?: Viewport;
  /** Fit inside a square of this size (thumbnails). */
  maxSize?: number;
}

/** Tag values as Orthanc's `/instances/{id}/tags?short` gives them ("0028,0010" → "512"). */
export type ShortTags = Record<string, string | null | undefined>;

/** What rendering reads from the archive. Implementations map transport failures to their own errors. */
export interface FrameSource {
  tags(orthancId: string): Promise<ShortTags>;
  /**
   * GET an Orthanc path with an Accept header; resolves with the status and body. `404` means
   * no such frame; any other non-200 means the object cannot be rendered.
   */
  get(path: string, accept: string): Promise<{ statusCode: number; body: Buffer }>;
}

/** Why a frame could not be rendered; callers map it to their error vocabulary. */
export class RenderError extends Error {
  constructor(
    readonly kind: 'not-found' | 'not-renderable' | 'bad-parameters',
    message: string,
  ) {
    super(message);
  }
}

const num = (tags: ShortTags, tag: string): number | undefined => {
  const v = tags[tag];
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const n = Number(v.split('\\')[0]);
  return Number.isFinite(n) ? n : undefined;
};

/** PAM (Netpbm P7) header + 16-bit big-endian samples → width, height, values. */
export function parsePam16(
  buf: Buffer,
  signed: boolean,
): { width: number; height: number; depth: number; values: Float32Array } {
  const end = buf.indexOf('ENDHDR\n');
  if (end < 0) throw new Error('not a PAM image');
  const header = buf.subarray(0, end).toString('latin1');
  const field = (k: string) => Number(new RegExp(`^${k} (\\d+)$`, 'm').exec(header)?.[1]);
  const width = field('WIDTH');
  const height = field('HEIGHT');
  const depth = field('DEPTH');
  const maxval = field('MAXVAL');
  const data = buf.subarray(end + 7);
  const count = width * height * depth;
  const bytes = maxval > 255 ? 2 : 1;
  if (!(count > 0) || data.length < count * bytes) throw new Error('truncated PAM image');
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    values[i] = bytes === 1 ? data[i]! : signed ? data.readInt16BE(i * 2) : data.readUInt16BE(i * 2);
  }
  return { width, height, depth, values };
}

async function image(src: FrameSource, path: string, accept: string): Promise<Buffer> {
  const res = await src.get(path, accept);
  if (res.statusCode === 404) throw new RenderError('not-found', 'No such frame.');
  if (res.statusCode !== 200) throw new RenderError('not-renderable', 'This object cannot be rendered.');
  return res.body;
}

export async function renderFrame(
  src: FrameSource,
  orthancId: string,
  frame: number,
  opts: RenderOptions,
): Promise<Buffer> {
  const tags = await src.tags(orthancId);
  const samples = num(tags, '0028,0002') ?? 1;
  const photometric = String(tags['0028,0004'] ?? '').trim();
  let img: Sharp;
  if (samples === 1) {
    const signed = num(tags, '0028,0103') === 1;
    const pam = await image(
      src,
      `/instances/${orthancId}/frames/${frame - 1}/image-${signed ? 'int16' : 'uint16'}`,
      'image/x-portable-arbitrarymap',
    );
    const { width, height, values } = parsePam16(pam, signed);
    const slope = num(tags, '0028,1053') ?? 1;
    const intercept = num(tags, '0028,1052') ?? 0;
    if (slope !== 1 || intercept !== 0)
      for (let i = 0; i < values.length; i++) values[i] = values[i]! * slope + intercept;
    const center = num(tags, '0028,1050');
    const widthTag = num(tags, '0028,1051');
    const fnTag = String(tags['0028,1056'] ?? '')
      .trim()
      .toUpperCase();
    const fn: VoiFunction = fnTag === 'SIGMOID' || fnTag === 'LINEAR_EXACT' ? fnTag : 'LINEAR';
    const win =
      opts.window ??
      (center !== undefined && widthTag !== undefined && widthTag >= 1
        ? { center, width: widthTag, fn }
        : minMaxWindow(values));
    const grey = applyWindow(values, win, photometric === 'MONOCHROME1');
    img = sharp(Buffer.from(grey.buffer, grey.byteOffset, grey.byteLength), {
      raw: { width, height, channels: 1 },
    });
  } else {
    img = sharp(await image(src, `/instances/${orthancId}/frames/${frame - 1}/preview`, 'image/png'));
  }
  if (opts.viewport?.region) img = img.extract(opts.viewport.region);
  if (opts.viewport) img = img.resize(opts.viewport.width, opts.viewport.height, { fit: 'inside' });
  if (opts.maxSize)
    img = img.resize(opts.maxSize, opts.maxSize, { fit: 'inside', withoutEnlargement: false });
  try {
    return opts.format === 'png'
      ? await img.png().toBuffer()
      : await img.jpeg({ quality: opts.quality ?? 90 }).toBuffer();
  } catch (err) {
    // e.g. a viewport region outside the image
    throw new RenderError(
      'bad-parameters',
      `The image cannot be rendered with these parameters (${(err as Error).message.slice(0, 80)}).`,
    );
  }
}
