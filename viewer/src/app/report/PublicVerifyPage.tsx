/**
 * The page a printed report's QR code opens: the signature's standing (valid, altered, revoked),
 * who signed and when, the content fingerprint and certificate — checked by the gateway against
 * the signed record and every delivered copy. No account, and no patient data: the printed code
 * is the only credential, and the answer carries nothing the paper does not already show.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../../api/http.js';
import { type PublicVerification, verifyPublic } from '../../api/reading.js';
import { LanguageSwitch } from '../shell/LanguageSwitch.js';
import { t } from '../t.js';
import { VerificationBadge } from './VerificationBadge.js';

type State =
  | { kind: 'checking' }
  | { kind: 'done'; v: PublicVerification }
  | { kind: 'not-found' }
  | { kind: 'error'; reason: string };

export function PublicVerifyPage(props: { reportId: string; code: string }) {
  const [state, setState] = useState<State>({ kind: 'checking' });
  useEffect(() => {
    setState({ kind: 'checking' });
    verifyPublic(props.reportId, props.code)
      .then((v) => setState({ kind: 'done', v }))
      .catch((e) =>
        setState(
          e instanceof ApiError && e.status === 404
            ? { kind: 'not-found' }
            : { kind: 'error', reason: (e as Error).message },
        ),
      );
  }, [props.reportId, props.code]);

  return (
    <main class="patient" id="main">
      <header class="patient-head">
        <strong class="brand">RadLink</strong>
        <LanguageSwitch />
      </header>
      <h1>{t('verify.publicTitle')}</h1>
      <p class="muted">{t('verify.publicIntro')}</p>
      {state.kind === 'checking' && <VerificationBadge status="checking" />}
      {state.kind === 'not-found' && (
        <p class="error" role="alert" data-testid="verify-not-found">
          {t('verify.publicNotFound')}
        </p>
      )}
      {state.kind === 'error' && <VerificationBadge status="error" reason={state.reason} />}
      {state.kind === 'done' && (
        <section data-testid="public-verify">
          {state.v.addendum && <p>{t('verify.addendum')}</p>}
          <VerificationBadge
            status={state.v.status}
            reason={state.v.reason}
            signedAt={state.v.signedAt}
            revokedAt={state.v.revokedAt}
            demo={state.v.demo}
            signer={state.v.signerName}
          />
          <dl class="small">
            {state.v.contentHash && (
              <>
                <dt>{t('verify.hash')}</dt>
                <dd>
                  <code>{state.v.contentHash}</code>
                </dd>
              </>
            )}
            {state.v.certificate && (
              <>
                <dt>{t('verify.certificate')}</dt>
                <dd>
                  {state.v.certificate.subject} — {state.v.certificate.issuer} ({state.v.certificate.serial})
                </dd>
              </>
            )}
          </dl>
        </section>
      )}
    </main>
  );
}
