/**
 * Translations: i18next with two namespaces — `core` (shell, worklists, reports, upload, patient
 * page) and `imaging` (the study viewer). Vietnamese is the default; the choice is remembered in
 * localStorage. Every user-visible string goes through `t`; a unit test checks that both languages
 * have the same keys.
 */
import i18next from 'i18next';
import coreEn from './core.en.json';
import coreVi from './core.vi.json';
import imagingEn from './imaging.en.json';
import imagingVi from './imaging.vi.json';

export const LANGUAGES = ['vi', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];
const STORAGE_KEY = 'radlink.lang';

export const resources = {
  vi: { core: coreVi, imaging: imagingVi },
  en: { core: coreEn, imaging: imagingEn },
} as const;

function initialLanguage(): Language {
  const saved = globalThis.localStorage?.getItem(STORAGE_KEY);
  return saved === 'en' || saved === 'vi' ? saved : 'vi';
}

export const i18n = i18next.createInstance();
void i18n.init({
  resources,
  lng: initialLanguage(),
  fallbackLng: 'vi',
  ns: ['core', 'imaging'],
  defaultNS: 'core',
  interpolation: { escapeValue: false },
  initAsync: false,
});

export function setLanguage(lang: Language): void {
  globalThis.localStorage?.setItem(STORAGE_KEY, lang);
  void i18n.changeLanguage(lang);
  document.documentElement.lang = lang;
}

export const t = i18n.t.bind(i18n);
