/**
 * Key images of a study through the gateway (`/api/studies/:studyUid/key-images`): one shared
 * list per study, read when the viewer opens, changed by a radiologist marking or unmarking the
 * current slice. Frames are 1-based, as the API and DICOM count them.
 */
export interface KeyImage {
  sopInstanceUid: string;
  seriesUid: string;
  frame: number;
  note: string | null;
  markedBy: { userId: string | null; name: string };
  markedAt: string;
}

/** The identity of a key image within a study. */
export const keyOf = (sopInstanceUid: string, frame = 1): string => `${sopInstanceUid}#${frame}`;

const url = (studyUid: string, sop?: string, frame?: number) =>
  `/api/studies/${encodeURIComponent(studyUid)}/key-images${sop ? `/${encodeURIComponent(sop)}/${frame ?? 1}` : ''}`;

export async function fetchKeyImages(studyUid: string, signal?: AbortSignal): Promise<KeyImage[]> {
  const res = await fetch(url(studyUid), { credentials: 'same-origin', signal });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return ((await res.json()) as { keyImages: KeyImage[] }).keyImages;
}

/** Marks (or re-marks with a new note) an image; returns the stored entry. */
export async function markKeyImage(
  studyUid: string,
  sopInstanceUid: string,
  frame: number,
  note: string | null,
): Promise<KeyImage> {
  const res = await fetch(url(studyUid, sopInstanceUid, frame), {
    method: 'PUT',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ note }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return (await res.json()) as KeyImage;
}

export async function unmarkKeyImage(studyUid: string, sopInstanceUid: string, frame: number): Promise<void> {
  const res = await fetch(url(studyUid, sopInstanceUid, frame), {
    method: 'DELETE',
    credentials: 'same-origin',
  });
  // Already unmarked (by a colleague meanwhile) is the state asked for.
  if (!res.ok && res.status !== 404) throw new Error(`HTTP ${res.status}`);
}
