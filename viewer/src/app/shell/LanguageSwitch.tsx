/** Vietnamese / English switch; the choice is remembered (localStorage) by the i18n module. */
import { LANGUAGES } from '../../i18n/index.js';
import { language, switchLanguage } from '../session.js';
import { t } from '../t.js';

export function LanguageSwitch() {
  return (
    <fieldset class="lang-switch">
      <legend class="sr-only">{t('lang.label')}</legend>
      {LANGUAGES.map((l) => (
        <button
          key={l}
          type="button"
          lang={l}
          aria-pressed={language.value === l}
          data-lang={l}
          onClick={() => switchLanguage(l)}
        >
          {t(`lang.${l}`)}
        </button>
      ))}
    </fieldset>
  );
}
