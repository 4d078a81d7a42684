/**
 * Studies of my facility that an AI model flagged and nobody has asked a radiologist to read yet
 * (`GET /api/ai/flagged-studies`), each with a prompt to request a read. Shown above the
 * requests list to the requesting side; hidden when there are none or when the list is refused.
 */
import { useEffect, useState } from 'preact/hooks';
import { json } from '../../api/http.js';
import { href } from '../routes.js';
import { t } from '../t.js';

interface FlaggedStudy {
  studyUid: string;
  studyDate: string | null;
  studyDescription: string | null;
  modalities: string[];
  patient: { name: string | null; id: string | null };
  reasons: string[];
}

/** DICOM PN (`Family^Given`) for display. */
const personName = (pn: string | null) => (pn ?? '').replace(/\^/g, ' ').trim();

export function AiFlaggedPrompt() {
  const [items, setItems] = useState<FlaggedStudy[]>([]);
  useEffect(() => {
    json<FlaggedStudy[]>('GET', '/api/ai/flagged-studies').then(setItems, () => setItems([]));
  }, []);
  if (items.length === 0) return null;
  return (
    <section class="ai-flagged" aria-labelledby="ai-flagged-title" data-testid="ai-flagged">
      <h2 id="ai-flagged-title">{t('requests.aiFlaggedTitle')}</h2>
      <ul class="cards">
        {items.map((s) => (
          <li key={s.studyUid} class="card" data-study={s.studyUid}>
            <p>
              <strong>{personName(s.patient.name)}</strong> {s.patient.id ? `· ${s.patient.id}` : ''}
            </p>
            <p class="muted small">
              {[s.studyDate, s.modalities.join('/'), s.studyDescription].filter(Boolean).join(' · ')}
            </p>
            <p class="small">{t('requests.aiFlaggedPrompt')}</p>
            <a class="button primary" href={href({ name: 'new-request', studyUid: s.studyUid })}>
              {t('requests.aiFlaggedAction')}
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
