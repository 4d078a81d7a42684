/** `t` for the imaging namespace that re-renders the component when the language changes. */
import { useEffect, useState } from 'preact/hooks';
import { i18n } from '../i18n/index.js';

export type TFunction = (key: string, options?: Record<string, unknown>) => string;

export function useT(): TFunction {
  const [, setLang] = useState(i18n.language);
  useEffect(() => {
    const onChange = (lng: string) => setLang(lng);
    i18n.on('languageChanged', onChange);
    return () => i18n.off('languageChanged', onChange);
  }, []);
  return (key, options) => String(i18n.t(`imaging:${key}`, options ?? {}));
}
