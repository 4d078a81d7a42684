/**
 * Transcoding through Orthanc's DICOMweb plugin: the only path on which Orthanc converts between
 * transfer syntaxes. The requested syntax comes from media-types.ts negotiation and is checked
 * against the allow-list again here, because a JPEG-LS request segfaults Orthanc 1.10 with GDCM.
 * Orthanc's multipart answer is parsed and its parts handed back, so the gateway writes its own
 * multipart (own boundary, own headers).
 */
import { AppError } from '../plugins/errors.js';
import type { OrthancClient } from '../plugins/orthanc.js';
import { isForwardableTransferSyntax } from './media-types.js';
import { parseMultipartRelated } from './multipart.js';

export async function transcodedParts(
  orthanc: OrthancClient,
  path: string,
  mediaType: string,
  transferSyntax: string,
): Promise<Buffer[]> {
  if (!isForwardableTransferSyntax(transferSyntax)) {
    throw new AppError('RADLINK_NOT_ACCEPTABLE', 'The requested transfer syntax is not available.');
  }
  const res = await orthanc.request('GET', path, {
    headers: { accept: `multipart/related; type="${mediaType}"; transfer-syntax=${transferSyntax}` },
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  if (res.statusCode === 404)
    throw new AppError('RADLINK_NOT_FOUND', 'The instance is no longer in the archive.');
  if (res.statusCode !== 200) {
    // Orthanc could not convert (e.g. no codec for that pair): the client may ask for another syntax or "*".
    throw new AppError(
      'RADLINK_NOT_ACCEPTABLE',
      'The archive cannot convert this object to the requested transfer syntax.',
    );
  }
  const ct = res.headers['content-type'];
  return parseMultipartRelated(body, typeof ct === 'string' ? ct : '').map((p) => Buffer.from(p.body));
}
