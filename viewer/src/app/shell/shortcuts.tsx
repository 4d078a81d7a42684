/**
 * The shortcut registry of the running page and the help overlay (`?`). The shell registers the
 * global shortcuts; each page adds its own while mounted (usePageShortcuts), so the overlay
 * always lists exactly what works on the current page.
 */
import { signal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { i18n } from '../../i18n/index.js';
import { t } from '../t.js';
import { match, type Shortcut } from './keys.js';

export const pageShortcuts = signal<Shortcut[]>([]);
export const helpOpen = signal(false);

export function usePageShortcuts(list: Shortcut[], deps: unknown[] = []): void {
  useEffect(() => {
    pageShortcuts.value = [...pageShortcuts.value, ...list];
    return () => {
      pageShortcuts.value = pageShortcuts.value.filter((s) => !list.includes(s));
    };
  }, deps);
}

/** Typing in a field must not trigger single-key shortcuts (chords with Ctrl still work). */
function isTypingTarget(el: EventTarget | null): boolean {
  if (!(el instanceof HTMLElement)) return false;
  return ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName) || el.isContentEditable;
}

/** Installs the one keydown listener; returns its removal. */
export function installKeyHandler(globals: () => Shortcut[]): () => void {
  let pending: string | null = null;
  const onKey = (e: KeyboardEvent) => {
    const typing = isTypingTarget(e.target);
    if (typing && !(e.ctrlKey || e.metaKey) && e.key !== 'Escape') return;
    const all = [...globals(), ...pageShortcuts.value];
    const m = match(all, e, pending);
    pending = m.pending;
    if (m.shortcut?.run) {
      e.preventDefault();
      m.shortcut.run();
    }
  };
  window.addEventListener('keydown', onKey);
  return () => window.removeEventListener('keydown', onKey);
}

export function HelpOverlay({ globals }: { globals: Shortcut[] }) {
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (helpOpen.value) closeRef.current?.focus();
  }, [helpOpen.value]);
  if (!helpOpen.value) return null;
  const rows = [...globals, ...pageShortcuts.value];
  return (
    <div class="overlay" role="dialog" aria-modal="true" aria-labelledby="help-title">
      <div class="overlay-box">
        <h2 id="help-title">{t('shortcuts.title')}</h2>
        <table class="shortcuts">
          <tbody>
            {rows.map((s) => (
              <tr key={`${s.keys}-${s.i18nKey}`}>
                <td>
                  {s.keys.split(' ').map((k) => (
                    <kbd key={k}>{k}</kbd>
                  ))}
                </td>
                <td>{i18n.t(s.i18nKey, { ns: s.ns ?? 'core' })}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <button type="button" ref={closeRef} onClick={() => (helpOpen.value = false)}>
          {t('common.close')}
        </button>
      </div>
    </div>
  );
}
