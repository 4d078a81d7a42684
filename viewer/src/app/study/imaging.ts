/**
 * The study viewer (Cornerstone3D, `viewer/src/imaging`) is loaded on demand through a dynamic
 * import: login, worklist, search, upload and the patient page never download it, which keeps
 * them small on phones. It is initialised once per page load.
 */
export type ImagingModule = typeof import('../../imaging/index.js');
export type { StudyViewerProps, ViewerMeasurement } from '../../imaging/index.js';

let loading: Promise<ImagingModule> | null = null;

/** The initialised imaging module; a failed load (network) is retried by the next call. */
export function loadImaging(): Promise<ImagingModule> {
  loading ??= (async () => {
    const m = await import('../../imaging/index.js');
    await m.initImaging();
    return m;
  })();
  loading.catch(() => {
    loading = null;
  });
  return loading;
}
