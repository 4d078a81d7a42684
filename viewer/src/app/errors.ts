/**
 * An error as a person reads it: gateway error codes have translated messages; anything else
 * (network down) says so. Server messages are shown only as detail: they are English.
 */
import { ApiError, NetworkError } from '../api/http.js';
import { i18n } from '../i18n/index.js';
import { t } from './t.js';

export function errorText(e: unknown): string {
  if (e instanceof NetworkError) return t('errors.network');
  if (e instanceof ApiError) {
    const key = `errorCodes.${e.code}`;
    if (i18n.exists(key, { ns: 'core' })) {
      const base = t(key);
      // Validation and conflict messages name the field or the reason: worth showing.
      return ['RADLINK_VALIDATION', 'RADLINK_CONFLICT', 'RADLINK_SHARE_SECRET_WRONG'].includes(e.code) &&
        e.message
        ? `${base} (${e.message})`
        : base;
    }
    return t('errors.http', { status: e.status, message: e.message });
  }
  return t('errors.unexpected');
}
