/**
 * `#/study/:studyUid[?request=id]`: the study viewer in the main area and, for a read request,
 * the report panel beside it (collapsible; collapsed by default on narrow screens). The viewer
 * module is loaded only here.
 */
import { useEffect, useState } from 'preact/hooks';
import { dicomDate, personName } from '../../api/dicom-json.js';
import { priorsOf, type StudyRow, studyByUid } from '../../api/dicomweb.js';
import { getRequest } from '../../api/reading.js';
import type { ReadRequest } from '../../api/types.js';
import { errorText } from '../errors.js';
import { ReportPanel } from '../report/ReportPanel.js';
import { href } from '../routes.js';
import { currentUser } from '../session.js';
import { usePageShortcuts } from '../shell/shortcuts.js';
import { t } from '../t.js';
import { type ImagingModule, loadImaging, type ViewerMeasurement } from './imaging.js';

const NARROW = '(max-width: 1100px)';
/** The priors query is a local index lookup; the first image must not wait longer than this for it. */
const PRIOR_WAIT_MS = 1500;

export function StudyPage({ studyUid, requestId }: { studyUid: string; requestId: string | null }) {
  const [study, setStudy] = useState<StudyRow | null | undefined>(undefined);
  const [request, setRequest] = useState<ReadRequest | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [imaging, setImaging] = useState<ImagingModule | null | undefined>(undefined);
  const [imagingError, setImagingError] = useState<string | null>(null);
  const [measurements, setMeasurements] = useState<ViewerMeasurement[]>([]);
  const [panelOpen, setPanelOpen] = useState(() => !window.matchMedia(NARROW).matches);
  const [lowBandwidth, setLowBandwidth] = useState(false);
  /** undefined until known: the viewer mounts once, with its priors (or after PRIOR_WAIT_MS without). */
  const [priors, setPriors] = useState<StudyRow[] | undefined>(undefined);
  const role = currentUser.value?.role;

  useEffect(() => {
    setPriors(undefined);
    const giveUp = setTimeout(() => setPriors((p) => p ?? []), PRIOR_WAIT_MS);
    const settle = (p: StudyRow[]) => setPriors((old) => old ?? p);
    studyByUid(studyUid).then(
      (s) => {
        setStudy(s);
        // Priors to compare with; not finding any is not an error worth showing.
        if (s) priorsOf(s).then(settle, () => settle([]));
        else settle([]);
      },
      (e) => {
        setStudy(null);
        settle([]);
        setError(errorText(e));
      },
    );
    if (requestId) getRequest(requestId).then(setRequest, (e) => setError(errorText(e)));
    return () => clearTimeout(giveUp);
  }, [studyUid, requestId]);
  useEffect(() => {
    loadImaging().then(setImaging, (e) => {
      setImaging(null);
      setImagingError(errorText(e));
    });
  }, []);

  usePageShortcuts(
    [
      { keys: '\\', i18nKey: 'shortcuts.togglePanel', run: () => setPanelOpen((o) => !o) },
      ...(imaging?.IMAGING_SHORTCUTS ?? []).map((s) => ({ ...s, ns: 'imaging' as const })),
    ],
    [imaging],
  );

  const Viewer = imaging?.StudyViewer;
  return (
    <div class={`study-page${panelOpen && request ? ' with-panel' : ''}`}>
      <div class="study-bar">
        <div class="study-title">
          {study ? (
            <>
              <strong data-patient>{personName(study.patientName)}</strong>{' '}
              <span class="muted small">
                {study.patientId} · {dicomDate(study.date)} · {study.modalities.join('/')} ·{' '}
                {study.description}
              </span>
            </>
          ) : study === null ? (
            <span class="error">{t('study.notFound')}</span>
          ) : (
            <span role="status">{t('common.loading')}</span>
          )}
        </div>
        {priors && priors.length > 0 && (
          <span class="small muted" data-priors={priors.length}>
            {t('study.priors', { count: priors.length })}
          </span>
        )}
        <label class="check small">
          <input
            type="checkbox"
            checked={lowBandwidth}
            onChange={(e) => setLowBandwidth(e.currentTarget.checked)}
          />
          {t('study.lowBandwidth')}
        </label>
        {!request && (role === 'referring_doctor' || role === 'facility_admin') && study && (
          <a class="button" href={href({ name: 'new-request', studyUid })}>
            {t('search.requestRead')}
          </a>
        )}
        {request && (
          <button
            type="button"
            aria-expanded={panelOpen}
            aria-controls="report-panel"
            data-action="toggle-report"
            onClick={() => setPanelOpen((o) => !o)}
          >
            {panelOpen ? t('study.hideReport') : t('study.showReport')}
          </button>
        )}
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="study-main">
        <div class="viewer-area" data-testid="viewer-area">
          {imaging === undefined || priors === undefined ? (
            <p role="status">{t('study.loadingViewer')}</p>
          ) : Viewer ? (
            <Viewer
              key={`${studyUid}-${lowBandwidth}`}
              studyUid={studyUid}
              priorStudyUids={(priors ?? []).slice(0, 3).map((p) => p.studyUid)}
              lowBandwidth={lowBandwidth}
              onMeasurementsChange={setMeasurements}
              canMarkKeyImages={role === 'radiologist'}
            />
          ) : (
            <p class="error" role="alert" data-viewer="missing">
              {imagingError ?? t('study.viewerMissing')}
            </p>
          )}
        </div>
        {request && panelOpen && (
          <aside id="report-panel" class="report-panel" aria-label={t('report.title')}>
            <ReportPanel
              request={request}
              modalities={study?.modalities ?? []}
              description={study?.description ?? null}
              measurements={measurements}
              onRequestChange={setRequest}
            />
          </aside>
        )}
      </div>
    </div>
  );
}
