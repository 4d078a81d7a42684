/**
 * `t` for the shell's components. It reads the language signal, so every component that
 * translates during render subscribes to it and re-renders on a language switch (the signals
 * integration otherwise skips re-rendering children whose props did not change).
 */
import { i18n } from '../i18n/index.js';
import { language } from './session.js';

export function t(key: string, options?: Record<string, unknown>): string {
  void language.value;
  return String(i18n.t(key, options ?? {}));
}
