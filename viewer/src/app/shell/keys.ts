/**
 * Keyboard shortcuts: a key string is one chord ("?", "/", "Ctrl+S", "Escape") or a two-key
 * sequence ("g w"). Pure matching, unit-tested; the shell owns the single keydown listener.
 */

export interface KeyLike {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
}

export interface Shortcut {
  keys: string;
  i18nKey: string;
  /** Namespace of i18nKey: the shell's own ("core") or the study viewer's ("imaging"). */
  ns?: 'core' | 'imaging';
  run?: () => void;
}

function chordMatches(chord: string, e: KeyLike): boolean {
  const parts = chord.split('+');
  const key = parts.pop() ?? '';
  const ctrl = parts.includes('Ctrl');
  const alt = parts.includes('Alt');
  if (ctrl !== (e.ctrlKey || e.metaKey) || alt !== e.altKey) return false;
  return key.length === 1 ? e.key.toLowerCase() === key.toLowerCase() || e.key === key : e.key === key;
}

/**
 * The shortcut a key press completes, given the previous key of a pending sequence. Returns
 * `pending` when the press starts a sequence some shortcut continues.
 */
export function match(
  shortcuts: readonly Shortcut[],
  e: KeyLike,
  previous: string | null,
): { shortcut: Shortcut | null; pending: string | null } {
  for (const s of shortcuts) {
    const seq = s.keys.split(' ');
    if (seq.length === 2 && previous !== null && seq[0] === previous && chordMatches(seq[1]!, e))
      return { shortcut: s, pending: null };
  }
  for (const s of shortcuts) {
    const seq = s.keys.split(' ');
    if (seq.length === 1 && chordMatches(seq[0]!, e)) return { shortcut: s, pending: null };
  }
  const starts = shortcuts.some((s) => {
    const seq = s.keys.split(' ');
    return seq.length === 2 && chordMatches(seq[0]!, e);
  });
  return { shortcut: null, pending: starts ? e.key.toLowerCase() : null };
}
