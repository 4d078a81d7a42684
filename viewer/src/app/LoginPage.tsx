/**
 * Login: user name and password, then the TOTP code when the server asks for it
 * (RADLINK_TOTP_REQUIRED comes only after a right password).
 */
import { useRef, useState } from 'preact/hooks';
import { login } from '../api/auth.js';
import { ApiError } from '../api/http.js';
import { errorText } from './errors.js';
import { currentUser } from './session.js';
import { LanguageSwitch } from './shell/LanguageSwitch.js';
import { t } from './t.js';

export function LoginPage() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [totp, setTotp] = useState('');
  const [needTotp, setNeedTotp] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const totpRef = useRef<HTMLInputElement>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      currentUser.value = await login({ username, password, ...(needTotp ? { totp } : {}) });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'RADLINK_TOTP_REQUIRED') {
        setNeedTotp(true);
        setTimeout(() => totpRef.current?.focus(), 0);
      } else setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="card login-card" onSubmit={submit} aria-labelledby="login-title">
        <div class="login-head">
          <h1 id="login-title">{t('login.title')}</h1>
          <LanguageSwitch />
        </div>
        <p class="muted">{t('login.subtitle')}</p>
        <label for="login-user">{t('login.username')}</label>
        <input
          id="login-user"
          name="username"
          autocomplete="username"
          required
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
        />
        <label for="login-password">{t('login.password')}</label>
        <input
          id="login-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        {needTotp && (
          <>
            <label for="login-totp">{t('login.totp')}</label>
            <input
              id="login-totp"
              ref={totpRef}
              name="totp"
              inputMode="numeric"
              autocomplete="one-time-code"
              pattern="[0-9]{6}"
              maxLength={6}
              required
              value={totp}
              onInput={(e) => setTotp(e.currentTarget.value)}
            />
            <p class="hint">{t('login.totpHint')}</p>
          </>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? t('common.working') : t('login.submit')}
        </button>
      </form>
    </main>
  );
}
