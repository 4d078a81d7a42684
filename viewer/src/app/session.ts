/**
 * App-wide state, kept small: who is logged in, the interface language and the current route.
 * Signals, so a change re-renders exactly the components that read them.
 */
import { signal } from '@preact/signals';
import type { User } from '../api/types.js';
import { i18n, type Language, setLanguage } from '../i18n/index.js';
import { parseRoute, type Route } from './routes.js';

/** undefined: not known yet (the `me` call is in flight); null: logged out. */
export const currentUser = signal<User | null | undefined>(undefined);
export const language = signal<Language>(i18n.language === 'en' ? 'en' : 'vi');
export const route = signal<Route>(parseRoute(globalThis.location?.hash ?? ''));

export function switchLanguage(lang: Language): void {
  setLanguage(lang);
  language.value = lang;
}

export function navigate(hash: string): void {
  if (location.hash === hash) route.value = parseRoute(hash);
  else location.hash = hash;
}

export function watchRoute(): () => void {
  const onHash = () => {
    route.value = parseRoute(location.hash);
  };
  window.addEventListener('hashchange', onHash);
  return () => window.removeEventListener('hashchange', onHash);
}
