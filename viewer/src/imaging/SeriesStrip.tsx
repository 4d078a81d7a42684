/**
 * The series strip: one thumbnail per image series of the study (and of each prior), rendered by
 * the gateway (`…/series/:se/thumbnail`, cached in S3). Clicking puts the series into the active
 * viewport; dragging is not needed on a tablet-sized screen.
 */
import type { SeriesSummary } from './dicomweb.js';
import { thumbnailUrl } from './dicomweb.js';
import type { TFunction } from './useT.js';

export interface StripStudy {
  studyUid: string;
  /** null for the current study; the prior's date otherwise. */
  priorLabel: string | null;
  series: SeriesSummary[];
}

export interface SeriesStripProps {
  studies: StripStudy[];
  activeSeriesUid: string | null;
  progress: Record<string, { loaded: number; total: number }>;
  t: TFunction;
  onSelect(studyUid: string, seriesUid: string): void;
  onCompare(studyUid: string): void;
}

export function SeriesStrip(p: SeriesStripProps) {
  return (
    <nav class="rl-strip" data-testid="series-strip" aria-label={p.t('strip.label')}>
      {p.studies.map((st) => (
        <section key={st.studyUid} class="rl-strip-study">
          <header class="rl-strip-head">
            {st.priorLabel === null ? p.t('strip.current') : p.t('strip.prior', { date: st.priorLabel })}
            {st.priorLabel !== null && (
              <button
                type="button"
                class="rl-btn rl-btn-small"
                data-testid={`compare-${st.studyUid}`}
                onClick={() => p.onCompare(st.studyUid)}
              >
                {p.t('strip.compare')}
              </button>
            )}
          </header>
          {st.series.map((s) => {
            const pr = p.progress[s.seriesUid];
            return (
              <button
                type="button"
                key={s.seriesUid}
                class={`rl-thumb${p.activeSeriesUid === s.seriesUid ? ' rl-thumb-active' : ''}`}
                data-testid={`series-${s.seriesUid}`}
                title={s.description}
                onClick={() => p.onSelect(st.studyUid, s.seriesUid)}
              >
                <img
                  src={thumbnailUrl(st.studyUid, s.seriesUid)}
                  alt=""
                  loading="lazy"
                  width={96}
                  height={96}
                />
                <span class="rl-thumb-text">
                  {s.modality} {s.number} · {p.t('strip.images', { count: s.instanceCount })}
                </span>
                <span class="rl-thumb-text">{s.description}</span>
                {pr && (
                  <progress
                    class="rl-thumb-progress"
                    max={pr.total}
                    value={pr.loaded}
                    aria-label={p.t('strip.loading')}
                  />
                )}
              </button>
            );
          })}
        </section>
      ))}
    </nav>
  );
}
