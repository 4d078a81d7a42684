/**
 * Study search over QIDO-RS: patient name without diacritics (the gateway folds them), patient
 * ID, date range, modality; each study shows its series thumbnails (rendered by the gateway and
 * cached). Opening a study goes to the viewer; referring doctors can request a read from here.
 */
import { useEffect, useState } from 'preact/hooks';
import { dicomDate, personName } from '../../api/dicom-json.js';
import {
  isImageSeries,
  type SeriesRow,
  type StudyRow,
  type StudySearch,
  searchStudies,
  seriesOf,
  seriesThumbnailUrl,
} from '../../api/dicomweb.js';
import { errorText } from '../errors.js';
import { href } from '../routes.js';
import { currentUser } from '../session.js';
import { t } from '../t.js';

const MODALITIES = ['CT', 'MR', 'CR', 'DX', 'US', 'MG', 'XA', 'NM', 'PT'];

export function SearchPage() {
  const [form, setForm] = useState<StudySearch>({});
  const [rows, setRows] = useState<StudyRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const role = currentUser.value?.role;

  const run = async (e?: Event) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setRows(await searchStudies(form));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    void run();
  }, []);

  const field = (k: keyof StudySearch) => ({
    value: form[k] ?? '',
    onInput: (e: Event) => setForm((f) => ({ ...f, [k]: (e.currentTarget as HTMLInputElement).value })),
  });

  return (
    <section class="page" aria-labelledby="search-title">
      <h1 id="search-title">{t('search.title')}</h1>
      <form class="filters search-form" onSubmit={run}>
        <label>
          {t('search.patientName')}
          <input
            data-search
            name="patientName"
            placeholder={t('search.namePlaceholder')}
            {...field('patientName')}
          />
        </label>
        <label>
          {t('search.patientId')}
          <input name="patientId" {...field('patientId')} />
        </label>
        <label>
          {t('search.from')}
          <input type="date" name="from" {...field('from')} />
        </label>
        <label>
          {t('search.to')}
          <input type="date" name="to" {...field('to')} />
        </label>
        <label>
          {t('worklist.modality')}
          <select
            value={form.modality ?? ''}
            onChange={(e) => setForm((f) => ({ ...f, modality: e.currentTarget.value || undefined }))}
          >
            <option value="">{t('common.any')}</option>
            {MODALITIES.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="primary" disabled={busy}>
          {t('search.submit')}
        </button>
      </form>
      <p class="hint">{t('search.hint')}</p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {rows === null ? (
        busy && <p role="status">{t('common.loading')}</p>
      ) : rows.length === 0 ? (
        <p class="empty">{t('search.empty')}</p>
      ) : (
        <ul class="cards" data-testid="search-results">
          {rows.map((s) => (
            <StudyCard
              key={s.studyUid}
              s={s}
              canRequest={role === 'referring_doctor' || role === 'facility_admin'}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

function StudyCard({ s, canRequest }: { s: StudyRow; canRequest: boolean }) {
  const [series, setSeries] = useState<SeriesRow[] | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    seriesOf(s.studyUid).then(setSeries, () => setFailed(true));
  }, [s.studyUid]);
  return (
    <li class="card study-card" data-study={s.studyUid}>
      <div class="card-row spread">
        <div>
          <strong data-patient>{personName(s.patientName)}</strong>
          <div class="muted small">
            {s.patientId} · {dicomDate(s.birthDate)}
          </div>
        </div>
        <div class="right small">
          {dicomDate(s.date)} · {s.modalities.join('/')}
          <div class="muted">{s.accession}</div>
        </div>
      </div>
      <p class="small">
        {s.description} {s.numInstances !== null && `· ${t('worklist.images', { count: s.numInstances })}`}
      </p>
      {failed && <p class="muted small">{t('search.seriesFailed')}</p>}
      {series && (
        <ul class="thumbs" aria-label={t('search.series')}>
          {series
            .filter((se) => isImageSeries(se.modality))
            .map((se) => (
              <li key={se.seriesUid}>
                <img
                  src={seriesThumbnailUrl(s.studyUid, se.seriesUid)}
                  alt={`${t('search.seriesN', { n: se.number ?? '?' })} ${se.description ?? ''}`}
                  loading="lazy"
                  width={64}
                  height={64}
                />
                <span class="small">
                  {se.modality} {se.number ?? ''} ({se.numInstances ?? '?'})
                </span>
              </li>
            ))}
        </ul>
      )}
      <div class="card-row">
        <a
          class="button primary"
          data-action="open-study"
          href={href({ name: 'study', studyUid: s.studyUid, requestId: null })}
        >
          {t('search.open')}
        </a>
        {canRequest && (
          <a class="button" href={href({ name: 'new-request', studyUid: s.studyUid })}>
            {t('search.requestRead')}
          </a>
        )}
      </div>
    </li>
  );
}
