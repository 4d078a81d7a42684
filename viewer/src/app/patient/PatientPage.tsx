/**
 * `#/s/:token`: the patient's page, and nothing else of the app. The token (from the QR code)
 * plus the PIN or birth year opens a viewing session (HttpOnly cookie) for the one study; the
 * page then shows the images as server-rendered slices (light on a phone), the signed report
 * with its verification badge, and who accessed the study (the personal-data law's right to know).
 */
import { useEffect, useState } from 'preact/hooks';
import { isImageSeries } from '../../api/dicomweb.js';
import { ApiError } from '../../api/http.js';
import { accessLog, closeShare, openShare, shareMe } from '../../api/share.js';
import type { AccessLog, ShareMe } from '../../api/types.js';
import { errorText } from '../errors.js';
import { dateTime } from '../format.js';
import { VerificationBadge } from '../report/VerificationBadge.js';
import { language } from '../session.js';
import { LanguageSwitch } from '../shell/LanguageSwitch.js';
import { t } from '../t.js';
import { SliceBrowser } from './SliceBrowser.js';

type Gate = { kind: 'checking' } | { kind: 'ask' } | { kind: 'closed'; code: string } | { kind: 'open' };

const FINAL_CODES = [
  'RADLINK_SHARE_INVALID',
  'RADLINK_SHARE_EXPIRED',
  'RADLINK_SHARE_REVOKED',
  'RADLINK_SHARE_LOCKED',
];

export function PatientPage({ token }: { token: string }) {
  const [gate, setGate] = useState<Gate>({ kind: 'checking' });
  const [me, setMe] = useState<ShareMe | null>(null);
  const [log, setLog] = useState<AccessLog | null>(null);
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  void language.value;

  const showOpen = async () => {
    const m = await shareMe();
    setMe(m);
    setGate({ kind: 'open' });
    accessLog().then(setLog, (e) => setError(errorText(e)));
  };

  useEffect(() => {
    // A session opened earlier in this browser goes straight to the results; otherwise ask.
    showOpen().catch(() => setGate({ kind: 'ask' }));
  }, [token]);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (gate.kind !== 'ask') return;
    setBusy(true);
    setError(null);
    try {
      await openShare(
        token,
        // The PIN has 6 digits, a birth year 4: one field serves both kinds of link.
        secret.trim().length === 6 ? { pin: secret.trim() } : { birthYear: Number(secret.trim()) },
      );
      setSecret('');
      await showOpen();
    } catch (err) {
      if (err instanceof ApiError && FINAL_CODES.includes(err.code))
        setGate({ kind: 'closed', code: err.code });
      else setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="patient" id="main">
      <header class="patient-head">
        <strong class="brand">RadLink</strong>
        <LanguageSwitch />
      </header>
      {gate.kind === 'checking' && <p role="status">{t('common.loading')}</p>}
      {gate.kind === 'closed' && (
        <p class="error" role="alert" data-share="closed">
          {t(`errorCodes.${gate.code}`)}
        </p>
      )}
      {gate.kind === 'ask' && (
        <form class="card stack" onSubmit={submit} data-share="ask">
          <h1>{t('patient.title')}</h1>
          <p>{t('patient.enterSecret')}</p>
          <label for="share-secret">{t('patient.secret')}</label>
          <input
            id="share-secret"
            inputMode="numeric"
            autocomplete="off"
            pattern="[0-9]{4}|[0-9]{6}"
            maxLength={6}
            required
            value={secret}
            onInput={(e) => setSecret(e.currentTarget.value)}
          />
          {error && (
            <p class="error" role="alert" data-share-error>
              {error}
            </p>
          )}
          <button type="submit" class="primary" disabled={busy}>
            {busy ? t('common.working') : t('patient.open')}
          </button>
        </form>
      )}
      {gate.kind === 'open' && me && (
        <div class="patient-body" data-share="open">
          <section class="card">
            <h1>{me.study.description || t('patient.yourStudy')}</h1>
            <p class="muted">
              {me.facility.name} ·{' '}
              {me.study.date
                ? `${me.study.date.slice(6, 8)}/${me.study.date.slice(4, 6)}/${me.study.date.slice(0, 4)}`
                : ''}{' '}
              · {me.study.modalities.filter(isImageSeries).join('/')}
            </p>
            <p class="small muted">
              {t('patient.expires', { time: dateTime(me.link.expiresAt, language.value) })}
            </p>
          </section>
          <section class="card" aria-labelledby="p-images">
            <h2 id="p-images">{t('patient.images')}</h2>
            <SliceBrowser studyUid={me.studyUid} series={me.series} />
          </section>
          <section class="card" aria-labelledby="p-report" data-testid="patient-report">
            <h2 id="p-report">{t('patient.report')}</h2>
            {me.reports.length === 0 && <p class="muted">{t('patient.noReport')}</p>}
            {me.reports.map((r) => (
              <article key={r.id} class="report-text" lang={r.language} data-report={r.id}>
                <h3>{r.parentReportId ? t('report.addendum') : r.title}</h3>
                {r.sections.map((s) => (
                  <section key={s.label}>
                    <h4>{s.label}</h4>
                    <p class="pre">{s.text}</p>
                  </section>
                ))}
                {r.freeText && <p class="pre">{r.freeText}</p>}
                <VerificationBadge
                  status={r.verification.status}
                  reason={r.verification.reason}
                  signedAt={r.signedAt}
                  demo={r.verification.demo}
                  signer={r.signer.name}
                />
                {r.pdfAvailable && (
                  <a class="button" href={`/api/share/reports/${r.id}/pdf`} target="_blank" rel="noopener">
                    {t('report.pdf')}
                  </a>
                )}
              </article>
            ))}
          </section>
          <section class="card" aria-labelledby="p-access" data-testid="access-log">
            <h2 id="p-access">{t('patient.accessTitle')}</h2>
            {log ? (
              <>
                <p class="small muted">{log.note[language.value]}</p>
                <ul class="access">
                  {log.entries.map((e, i) => (
                    <li key={`${e.at}-${i}`} data-actor={e.actor.kind}>
                      <span class="small">{dateTime(e.at, language.value)}</span>{' '}
                      <strong>
                        {e.actor.kind === 'you'
                          ? t('patient.you')
                          : (e.actor.label?.[language.value] ?? t(`patient.actor.${e.actor.kind}`))}
                      </strong>
                      {e.actor.facility && <span class="muted"> · {e.actor.facility}</span>}
                      <div class="small">
                        {e.what[language.value]}
                        {e.outcome !== 'success' && ` (${t(`patient.outcome.${e.outcome}`)})`}
                      </div>
                    </li>
                  ))}
                </ul>
              </>
            ) : error ? (
              <p class="error">{error}</p>
            ) : (
              <p role="status">{t('common.loading')}</p>
            )}
          </section>
          <button
            type="button"
            onClick={async () => {
              await closeShare().catch(() => {});
              setMe(null);
              setGate({ kind: 'ask' });
            }}
          >
            {t('patient.close')}
          </button>
        </div>
      )}
    </main>
  );
}
