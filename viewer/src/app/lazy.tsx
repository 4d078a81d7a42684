/**
 * A page loaded on first use (dynamic import): heavy, role-specific code (the upload page's zip
 * and DICOM parsers) stays out of the bundle a patient or a radiologist downloads on a phone.
 */
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { errorText } from './errors.js';
import { t } from './t.js';

export function lazyPage<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let cached: ComponentType<P> | null = null;
  return function LazyPage(props: P) {
    const [Page, setPage] = useState<ComponentType<P> | null>(() => cached);
    const [error, setError] = useState<string | null>(null);
    useEffect(() => {
      if (Page) return;
      load().then(
        (c) => {
          cached = c;
          setPage(() => c);
        },
        (e) => setError(errorText(e)),
      );
    }, []);
    if (error)
      return (
        <p class="error" role="alert">
          {error}
        </p>
      );
    if (!Page) return <p role="status">{t('common.loading')}</p>;
    return <Page {...props} />;
  };
}
