/** The signed report's verification verdict, as a badge anyone can read (with the reason). */
import type { VerifyStatus } from '../../api/types.js';
import { dateTime } from '../format.js';
import { language } from '../session.js';
import { t } from '../t.js';

export function VerificationBadge(props: {
  status: VerifyStatus | 'checking' | 'error';
  reason?: string;
  signedAt?: string | null;
  revokedAt?: string | null;
  demo?: boolean;
  signer?: string | null;
}) {
  const { status } = props;
  const tone =
    status === 'valid'
      ? 'good'
      : status === 'revoked-since'
        ? 'warn'
        : status === 'checking'
          ? 'neutral'
          : 'bad';
  return (
    <div class={`verify verify-${tone}`} data-verify={status} role="status">
      <span class="verify-icon" aria-hidden="true">
        {tone === 'good' ? '✔' : tone === 'warn' ? '!' : tone === 'neutral' ? '…' : '✖'}
      </span>
      <div>
        <strong>{t(`verify.${status}`)}</strong>
        {props.signer && props.signedAt && (
          <div class="small">
            {t('verify.signedBy', { name: props.signer, time: dateTime(props.signedAt, language.value) })}
          </div>
        )}
        {status === 'revoked-since' && props.revokedAt && (
          <div class="small">
            {t('verify.revokedAt', { time: dateTime(props.revokedAt, language.value) })}
          </div>
        )}
        {status !== 'valid' && props.reason && <div class="small muted">{props.reason}</div>}
        {props.demo && <div class="small muted">{t('verify.demo')}</div>}
      </div>
    </div>
  );
}
