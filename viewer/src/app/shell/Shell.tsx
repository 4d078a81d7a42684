/**
 * The frame around every staff page: brand, the role's navigation, language, the user and
 * logout, and the keyboard-shortcut help. A skip link jumps over the navigation.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo } from 'preact/hooks';
import { logout } from '../../api/auth.js';
import type { User } from '../../api/types.js';
import { navFor } from '../routes.js';
import { currentUser, language, navigate, route, switchLanguage } from '../session.js';
import { t } from '../t.js';
import type { Shortcut } from './keys.js';
import { LanguageSwitch } from './LanguageSwitch.js';
import { HelpOverlay, helpOpen, installKeyHandler } from './shortcuts.js';

const GO_KEYS: Record<string, string> = {
  worklist: 'g w',
  requests: 'g r',
  search: 'g s',
  upload: 'g u',
  users: 'g a',
  facilities: 'g f',
};

export function Shell({ user, children }: { user: User; children: ComponentChildren }) {
  const nav = navFor(user.role);
  const globals = useMemo<Shortcut[]>(
    () => [
      { keys: '?', i18nKey: 'shortcuts.help', run: () => (helpOpen.value = !helpOpen.value) },
      { keys: 'Escape', i18nKey: 'shortcuts.close', run: () => (helpOpen.value = false) },
      {
        keys: '/',
        i18nKey: 'shortcuts.focusSearch',
        run: () => document.querySelector<HTMLInputElement>('[data-search]')?.focus(),
      },
      {
        keys: 'g l',
        i18nKey: 'shortcuts.language',
        run: () => switchLanguage(language.value === 'vi' ? 'en' : 'vi'),
      },
      ...nav.map((n) => ({
        keys: GO_KEYS[n.route] ?? '',
        i18nKey: `shortcuts.go.${n.route}`,
        run: () => navigate(`#/${n.route}`),
      })),
    ],
    [user.role],
  );
  useEffect(() => installKeyHandler(() => globals), [globals]);

  const doLogout = async () => {
    try {
      await logout();
    } finally {
      currentUser.value = null;
      navigate('#/login');
    }
  };

  const active = route.value.name;
  return (
    <div class="shell">
      {/* A button, not an anchor: `#main` would be taken for a route by the hash router. */}
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        {t('shell.skip')}
      </button>
      <header class="topbar">
        <a class="brand" href={`#/${nav[0]?.route ?? 'search'}`}>
          RadLink
        </a>
        <nav aria-label={t('shell.navigation')}>
          <ul>
            {nav.map((n) => (
              <li key={n.route}>
                <a
                  href={`#/${n.route}`}
                  data-nav={n.route}
                  aria-current={active === n.route ? 'page' : undefined}
                >
                  {t(n.i18nKey)}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="topbar-right">
          <LanguageSwitch />
          <button
            type="button"
            class="icon"
            aria-label={t('shortcuts.help')}
            title={t('shortcuts.help')}
            onClick={() => (helpOpen.value = true)}
          >
            ?
          </button>
          <span class="who" title={t(`roles.${user.role}`)}>
            {user.displayName}
            <small>{t(`roles.${user.role}`)}</small>
          </span>
          <button type="button" onClick={doLogout} data-action="logout">
            {t('shell.logout')}
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
      <HelpOverlay globals={globals} />
    </div>
  );
}
