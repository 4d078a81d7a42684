/**
 * Images for the patient page: series as thumbnails, then one series as server-rendered JPEG
 * slices with a slider (and arrow keys). Server rendering keeps a phone's download to what is
 * looked at, and needs no decoder in the page.
 */
import { useEffect, useState } from 'preact/hooks';
import { num, str } from '../../api/dicom-json.js';
import { isImageSeries, seriesThumbnailUrl } from '../../api/dicomweb.js';
import { request } from '../../api/http.js';
import type { ShareMe } from '../../api/types.js';
import { errorText } from '../errors.js';
import { t } from '../t.js';

async function instancesOf(studyUid: string, seriesUid: string): Promise<string[]> {
  const res = await request('GET', `/dicom-web/studies/${studyUid}/series/${seriesUid}/instances`, {
    query: { includefield: '00200013', limit: 2000 },
    headers: { accept: 'application/dicom+json' },
  });
  const text = await res.text();
  const rows = text ? (JSON.parse(text) as Parameters<typeof str>[0][]) : [];
  return rows
    .map((ds) => ({ uid: str(ds, '00080018') ?? '', n: num(ds, '00200013') ?? 0 }))
    .filter((r) => r.uid)
    .sort((a, b) => a.n - b.n)
    .map((r) => r.uid);
}

export function SliceBrowser({ studyUid, series: all }: { studyUid: string; series: ShareMe['series'] }) {
  // The report's own DICOM copy (Encapsulated PDF) is a series too: it is read as the report below.
  const series = all.filter((s) => isImageSeries(s.modality));
  const [chosen, setChosen] = useState(series[0]?.seriesUid ?? null);
  const [sops, setSops] = useState<string[]>([]);
  const [index, setIndex] = useState(0);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!chosen) return;
    setSops([]);
    instancesOf(studyUid, chosen).then(
      (s) => {
        setSops(s);
        setIndex(Math.floor(s.length / 2));
      },
      (e) => setError(errorText(e)),
    );
  }, [studyUid, chosen]);
  const sop = sops[index];
  return (
    <div class="slices">
      <ul class="thumbs" aria-label={t('search.series')}>
        {series.map((s) => (
          <li key={s.seriesUid}>
            <button
              type="button"
              aria-pressed={s.seriesUid === chosen}
              onClick={() => setChosen(s.seriesUid)}
            >
              <img
                src={seriesThumbnailUrl(studyUid, s.seriesUid)}
                alt={s.description ?? s.modality ?? ''}
                width={64}
                height={64}
              />
              <span class="small">
                {s.modality} {s.seriesNumber ?? ''} ({s.numInstances})
              </span>
            </button>
          </li>
        ))}
      </ul>
      {error && <p class="error">{error}</p>}
      {chosen && sop && (
        <figure class="slice">
          <img
            data-testid="patient-slice"
            src={`/dicom-web/studies/${studyUid}/series/${chosen}/instances/${sop}/rendered?quality=85`}
            alt={t('patient.sliceAlt', { n: index + 1, total: sops.length })}
          />
          <figcaption>
            <input
              type="range"
              min={0}
              max={sops.length - 1}
              value={index}
              aria-label={t('patient.slice')}
              onInput={(e) => setIndex(Number(e.currentTarget.value))}
            />
            <span class="small">
              {index + 1} / {sops.length}
            </span>
          </figcaption>
        </figure>
      )}
    </div>
  );
}
