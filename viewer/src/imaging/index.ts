/**
 * The imaging feature's public surface (the contract with the shell): the study viewer component,
 * Cornerstone start-up, the measurement type it reports and its keyboard shortcuts.
 */
import { SHORTCUTS } from './shortcuts.js';

export { initImaging } from './init.js';
export type { ViewerMeasurement } from './measurements.js';
export { StudyViewer, type StudyViewerProps } from './StudyViewer.js';

/** For the shell's help overlay (keys as `KeyboardEvent.key`, i18n keys in the imaging namespace). */
export const IMAGING_SHORTCUTS: { keys: string; i18nKey: string }[] = SHORTCUTS.map((s) => ({
  keys: s.keys,
  i18nKey: s.i18nKey,
}));
