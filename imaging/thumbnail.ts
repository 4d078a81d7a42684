/**
 * What makes a thumbnail, shared by the gateway (renders on demand, serves) and the thumbnails
 * worker (pre-renders series thumbnails when Orthanc declares a series stable): the S3 key, the
 * rendering options, which instance and frame of a series is drawn, and the marker of who
 * rendered the cached object. Both sides must agree on all of them, so they live in one place.
 */
import type { RenderOptions } from './render-frame.js';

/** Flat keys (`thumb-<uid>[-f<frame>]-<size>.jpg`): s3rver mis-lists nested prefixes. */
export function thumbnailKey(uid: string, size: number, frame?: number): string {
  return `thumb-${uid}${frame !== undefined ? `-f${frame}` : ''}-${size}.jpg`;
}

export function thumbnailRenderOptions(size: number): RenderOptions {
  return { format: 'jpeg', quality: 75, maxSize: size };
}

/** S3 user metadata naming the renderer of a cached thumbnail (x-amz-meta-rendered-by). */
export const RENDERED_BY_META = 'rendered-by';
export type ThumbnailRenderer = 'gateway' | 'thumbnails-worker';

export interface SeriesMember {
  sopInstanceUid: string;
  instanceNumber: number | null;
  numberOfFrames: number;
}

/** Series order: InstanceNumber (absent last), then SOP Instance UID. */
export function compareSeriesMembers(a: SeriesMember, b: SeriesMember): number {
  if (a.instanceNumber !== b.instanceNumber) {
    if (a.instanceNumber === null) return 1;
    if (b.instanceNumber === null) return -1;
    return a.instanceNumber - b.instanceNumber;
  }
  return a.sopInstanceUid < b.sopInstanceUid ? -1 : a.sopInstanceUid > b.sopInstanceUid ? 1 : 0;
}

/**
 * The picture of a series: its middle instance in series order (the most representative slice
 * of a stack) and that instance's middle frame. Undefined for an empty series.
 */
export function seriesThumbnailSubject<T extends SeriesMember>(
  members: T[],
): { member: T; frame: number } | undefined {
  const sorted = [...members].sort(compareSeriesMembers);
  const member = sorted[Math.floor((sorted.length - 1) / 2)];
  return member ? { member, frame: Math.ceil(Math.max(1, member.numberOfFrames) / 2) } : undefined;
}
