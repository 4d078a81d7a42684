/**
 * The study viewer's keyboard shortcuts: one table drives both the key handler and the shell's
 * help overlay (IMAGING_SHORTCUTS). Keys are `KeyboardEvent.key` values (case-insensitive letters).
 */

export type ShortcutAction =
  | 'prev'
  | 'next'
  | 'prev10'
  | 'next10'
  | 'first'
  | 'last'
  | 'preset-1'
  | 'preset-2'
  | 'preset-3'
  | 'preset-4'
  | 'preset-5'
  | 'preset-6'
  | 'auto-window'
  | 'tool-WindowLevel'
  | 'tool-Pan'
  | 'tool-Zoom'
  | 'tool-PlanarRotate'
  | 'tool-Length'
  | 'tool-Angle'
  | 'tool-EllipticalROI'
  | 'tool-RectangleROI'
  | 'tool-Probe'
  | 'invert'
  | 'flip-h'
  | 'flip-v'
  | 'rotate-right'
  | 'rotate-left'
  | 'reset'
  | 'cine'
  | 'key-image'
  | 'mpr'
  | 'segmentation';

export interface Shortcut {
  keys: string;
  action: ShortcutAction;
  i18nKey: string;
}

export const SHORTCUTS: readonly Shortcut[] = [
  { keys: 'ArrowUp', action: 'prev', i18nKey: 'imaging:shortcut.prev' },
  { keys: 'ArrowDown', action: 'next', i18nKey: 'imaging:shortcut.next' },
  { keys: 'PageUp', action: 'prev10', i18nKey: 'imaging:shortcut.prev10' },
  { keys: 'PageDown', action: 'next10', i18nKey: 'imaging:shortcut.next10' },
  { keys: 'Home', action: 'first', i18nKey: 'imaging:shortcut.first' },
  { keys: 'End', action: 'last', i18nKey: 'imaging:shortcut.last' },
  { keys: '1', action: 'preset-1', i18nKey: 'imaging:preset.brain' },
  { keys: '2', action: 'preset-2', i18nKey: 'imaging:preset.lung' },
  { keys: '3', action: 'preset-3', i18nKey: 'imaging:preset.mediastinum' },
  { keys: '4', action: 'preset-4', i18nKey: 'imaging:preset.abdomen' },
  { keys: '5', action: 'preset-5', i18nKey: 'imaging:preset.liver' },
  { keys: '6', action: 'preset-6', i18nKey: 'imaging:preset.bone' },
  { keys: '7', action: 'auto-window', i18nKey: 'imaging:preset.auto' },
  { keys: 'W', action: 'tool-WindowLevel', i18nKey: 'imaging:tool.WindowLevel' },
  { keys: 'P', action: 'tool-Pan', i18nKey: 'imaging:tool.Pan' },
  { keys: 'Z', action: 'tool-Zoom', i18nKey: 'imaging:tool.Zoom' },
  { keys: 'T', action: 'tool-PlanarRotate', i18nKey: 'imaging:tool.PlanarRotate' },
  { keys: 'L', action: 'tool-Length', i18nKey: 'imaging:tool.Length' },
  { keys: 'A', action: 'tool-Angle', i18nKey: 'imaging:tool.Angle' },
  { keys: 'E', action: 'tool-EllipticalROI', i18nKey: 'imaging:tool.EllipticalROI' },
  { keys: 'R', action: 'tool-RectangleROI', i18nKey: 'imaging:tool.RectangleROI' },
  { keys: 'D', action: 'tool-Probe', i18nKey: 'imaging:tool.Probe' },
  { keys: 'I', action: 'invert', i18nKey: 'imaging:action.invert' },
  { keys: 'H', action: 'flip-h', i18nKey: 'imaging:action.flipH' },
  { keys: 'V', action: 'flip-v', i18nKey: 'imaging:action.flipV' },
  { keys: ']', action: 'rotate-right', i18nKey: 'imaging:action.rotateRight' },
  { keys: '[', action: 'rotate-left', i18nKey: 'imaging:action.rotateLeft' },
  { keys: '0', action: 'reset', i18nKey: 'imaging:action.reset' },
  { keys: 'C', action: 'cine', i18nKey: 'imaging:action.cine' },
  { keys: 'K', action: 'key-image', i18nKey: 'imaging:action.keyImage' },
  { keys: 'M', action: 'mpr', i18nKey: 'imaging:layout.mpr' },
  { keys: 'S', action: 'segmentation', i18nKey: 'imaging:ai.overlay' },
];

/** The action bound to a key event, or null (modifier combinations belong to the browser/shell). */
export function actionFor(e: {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
}): ShortcutAction | null {
  if (e.ctrlKey || e.metaKey || e.altKey) return null;
  const key = e.key.length === 1 ? e.key.toUpperCase() : e.key;
  return SHORTCUTS.find((s) => s.keys === key)?.action ?? null;
}
