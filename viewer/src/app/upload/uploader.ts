/**
 * Runs an upload: reads each file's identifiers, asks QIDO which instances of those studies
 * the server already holds, then STOWs the rest in batches with per-file progress. An
 * interruption (network gone) stops the run with the unsent files pending; running again
 * starts from the QIDO check, so only what the server does not hold is sent.
 */
import { storedInstanceUids, stow } from '../../api/dicomweb.js';
import { NetworkError } from '../../api/http.js';
import { readIds } from './dicom-header.js';
import type { SourceFile } from './files.js';
import { batches, planUpload } from './plan.js';

export type FileState =
  | 'queued'
  | 'skipped'
  | 'already'
  | 'duplicate'
  | 'sending'
  | 'stored'
  | 'failed'
  | 'pending';

export interface UploadFile {
  index: number;
  path: string;
  size: number;
  blob: Blob;
  state: FileState;
  /** 0..1 while sending. */
  progress: number;
  studyUid: string;
  sopInstanceUid: string;
  /** skipped: why ('not-dicom' | 'dicomdir' | 'no-uids'); failed: the STOW FailureReason. */
  skipWhy?: string;
  reason?: number | null;
  comment?: string | null;
}

export type Phase = 'idle' | 'reading' | 'checking' | 'sending' | 'done' | 'interrupted' | 'error';

export interface UploadHooks {
  onChange(files: UploadFile[], phase: Phase): void;
}

export function toUploadFiles(src: SourceFile[]): UploadFile[] {
  return src.map((s, index) => ({
    index,
    path: s.path,
    size: s.size,
    blob: s.blob,
    state: 'queued',
    progress: 0,
    studyUid: '',
    sopInstanceUid: '',
  }));
}

export async function runUpload(
  files: UploadFile[],
  hooks: UploadHooks,
  signal: AbortSignal,
): Promise<Phase> {
  const emit = (phase: Phase) => hooks.onChange([...files], phase);

  emit('reading');
  for (const f of files) {
    if (f.studyUid || f.state === 'skipped') continue;
    const r = await readIds(f.blob);
    if (r.ok) {
      f.studyUid = r.ids.studyUid;
      f.sopInstanceUid = r.ids.sopInstanceUid;
    } else {
      f.state = 'skipped';
      f.skipWhy = r.why;
    }
  }

  emit('checking');
  const candidates = files.filter((f) => f.studyUid && f.state !== 'stored' && f.state !== 'skipped');
  const stored = new Map<string, Set<string>>();
  try {
    for (const uid of new Set(candidates.map((f) => f.studyUid)))
      stored.set(uid, await storedInstanceUids(uid));
  } catch (e) {
    if (e instanceof NetworkError) {
      for (const f of candidates) f.state = 'pending';
      emit('interrupted');
      return 'interrupted';
    }
    throw e;
  }
  const plan = planUpload(candidates, stored);
  for (const f of plan.already) {
    f.state = 'already';
    f.progress = 1;
  }
  for (const f of plan.duplicates) f.state = 'duplicate';
  for (const f of plan.toSend) {
    f.state = 'queued';
    f.progress = 0;
  }

  emit('sending');
  for (const batch of batches(plan.toSend)) {
    if (signal.aborted) break;
    for (const f of batch) f.state = 'sending';
    emit('sending');
    try {
      const result = await stow(
        batch.map((f) => f.blob),
        (fractions) => {
          batch.forEach((f, i) => {
            f.progress = fractions[i] ?? 0;
          });
          emit('sending');
        },
        signal,
      );
      const ok = new Set(result.stored);
      const failed = new Map(
        result.failed.filter((x) => x.sopInstanceUid).map((x) => [x.sopInstanceUid!, x]),
      );
      const anonymousFailure = result.failed.find((x) => !x.sopInstanceUid);
      for (const f of batch) {
        if (ok.has(f.sopInstanceUid)) {
          f.state = 'stored';
          f.progress = 1;
          continue;
        }
        const why = failed.get(f.sopInstanceUid) ?? anonymousFailure;
        f.state = 'failed';
        f.reason = why?.reason ?? null;
        f.comment = why?.comment ?? null;
      }
    } catch (e) {
      if (e instanceof NetworkError || (e instanceof DOMException && e.name === 'AbortError')) {
        for (const f of files) if (f.state === 'sending' || f.state === 'queued') f.state = 'pending';
        emit('interrupted');
        return 'interrupted';
      }
      for (const f of batch) {
        f.state = 'failed';
        f.reason = null;
        f.comment = e instanceof Error ? e.message : String(e);
      }
    }
    emit('sending');
  }
  emit('done');
  return 'done';
}
