/**
 * For a signed study: give the patient a link instead of a film. Creates a share link (PIN or
 * birth year) and shows its QR code, URL and PIN once, with the printable slip.
 */
import { useState } from 'preact/hooks';
import { type CreatedShareLink, createShareLink } from '../../api/reading.js';
import { errorText } from '../errors.js';
import { dateTime } from '../format.js';
import { language } from '../session.js';
import { t } from '../t.js';

export function ShareLinkPanel({ studyUid }: { studyUid: string }) {
  const [secret, setSecret] = useState<'pin' | 'birth-year'>('pin');
  const [created, setCreated] = useState<CreatedShareLink | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const create = async () => {
    setBusy(true);
    setError(null);
    try {
      setCreated(await createShareLink(studyUid, secret));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <details class="share-panel">
      <summary>{t('share.title')}</summary>
      {created ? (
        <div class="stack" data-testid="share-created">
          <img
            class="qr"
            src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(created.qr.svg)}`}
            alt={t('share.qrAlt')}
            width={160}
            height={160}
          />
          <code>{created.url}</code>
          {created.pin && (
            <p>
              {t('share.pin')}: <strong data-share-pin>{created.pin}</strong>{' '}
              <span class="small muted">{t('share.pinOnce')}</span>
            </p>
          )}
          <p class="small muted">
            {t('patient.expires', { time: dateTime(created.link.expiresAt, language.value) })}
          </p>
          <a
            class="button"
            href={`data:application/pdf;base64,${created.slip.pdf}`}
            download="radlink-slip.pdf"
          >
            {t('share.slip')}
          </a>
        </div>
      ) : (
        <div class="stack">
          <fieldset>
            <legend>{t('share.secret')}</legend>
            <label class="check">
              <input
                type="radio"
                name="share-secret"
                checked={secret === 'pin'}
                onChange={() => setSecret('pin')}
              />
              {t('share.byPin')}
            </label>
            <label class="check">
              <input
                type="radio"
                name="share-secret"
                checked={secret === 'birth-year'}
                onChange={() => setSecret('birth-year')}
              />
              {t('share.byBirthYear')}
            </label>
          </fieldset>
          <button type="button" onClick={create} disabled={busy}>
            {t('share.create')}
          </button>
        </div>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </details>
  );
}
