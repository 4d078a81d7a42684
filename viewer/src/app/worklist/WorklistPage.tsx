/**
 * The radiologist's queue: read requests for my facility in the server's order (priority, AI
 * flag, then waiting time), with the waiting time against the turnaround target, the claim lock,
 * filters, and live updates. Claiming opens the study with its report panel.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { facilities as listFacilities } from '../../api/admin.js';
import { dicomDate, personName } from '../../api/dicom-json.js';
import { acknowledge, claim, release, type WorklistFilter, worklist } from '../../api/reading.js';
import type { Facility, WorklistItem } from '../../api/types.js';
import { errorText } from '../errors.js';
import { duration, turnaround } from '../format.js';
import { LiveIndicator, useLive } from '../live.js';
import { href } from '../routes.js';
import { currentUser, navigate } from '../session.js';
import { t } from '../t.js';

const MODALITIES = ['CT', 'MR', 'CR', 'DX', 'US', 'MG', 'XA', 'NM', 'PT'];

export function WorklistPage() {
  const [filter, setFilter] = useState<WorklistFilter>({ status: 'open' });
  const [items, setItems] = useState<WorklistItem[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [facilityList, setFacilityList] = useState<Facility[]>([]);
  const [now, setNow] = useState(Date.now());
  const [busy, setBusy] = useState<string | null>(null);
  const [acked, setAcked] = useState<Set<string>>(new Set());
  const me = currentUser.value!;

  const load = useCallback(() => {
    worklist(filter)
      .then((r) => {
        setItems(r);
        setError(null);
        setNow(Date.now());
      })
      .catch((e) => setError(errorText(e)));
  }, [JSON.stringify(filter)]);
  useEffect(load, [load]);
  useEffect(() => {
    listFacilities().then(setFacilityList, () => setFacilityList([]));
    const id = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(id);
  }, []);
  const live = useLive(load, [
    'request.created',
    'request.claimed',
    'request.released',
    'request.status-changed',
    'report.signed',
    'stat.new',
    'stat.escalated',
  ]);

  const act = async (id: string, what: 'claim' | 'release' | 'acknowledge', studyUid: string) => {
    setBusy(id);
    setError(null);
    try {
      if (what === 'acknowledge') {
        await acknowledge(id);
        setAcked((s) => new Set([...s, id]));
      } else if (what === 'claim') {
        await claim(id);
        navigate(href({ name: 'study', studyUid, requestId: id }));
      } else {
        await release(id);
        load();
      }
    } catch (e) {
      setError(errorText(e));
      load();
    } finally {
      setBusy(null);
    }
  };

  const set = (patch: Partial<WorklistFilter>) => setFilter((f) => ({ ...f, ...patch }));

  return (
    <section class="page" aria-labelledby="wl-title">
      <div class="page-head">
        <h1 id="wl-title">{t('worklist.title')}</h1>
        <LiveIndicator state={live} />
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label={t('worklist.filters')}>
        <label>
          {t('worklist.status')}
          <select
            value={filter.status}
            onChange={(e) => set({ status: e.currentTarget.value as WorklistFilter['status'] })}
          >
            {(['open', 'requested', 'claimed', 'signed', 'cancelled', 'all'] as const).map((s) => (
              <option key={s} value={s}>
                {t(`status.${s}`)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('worklist.modality')}
          <select
            value={filter.modality ?? ''}
            onChange={(e) => set({ modality: e.currentTarget.value || undefined })}
          >
            <option value="">{t('common.any')}</option>
            {MODALITIES.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('worklist.facility')}
          <select
            value={filter.facilityId ?? ''}
            onChange={(e) => set({ facilityId: e.currentTarget.value || undefined })}
          >
            <option value="">{t('common.any')}</option>
            {facilityList
              .filter((f) => f.id !== me.facilityId)
              .map((f) => (
                <option key={f.id} value={f.id}>
                  {f.name}
                </option>
              ))}
          </select>
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={filter.flagged === true}
            onChange={(e) => set({ flagged: e.currentTarget.checked || undefined })}
          />
          {t('worklist.flaggedOnly')}
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={filter.mine === true}
            onChange={(e) => set({ mine: e.currentTarget.checked || undefined })}
          />
          {t('worklist.mineOnly')}
        </label>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {items === null ? (
        <p role="status">{t('common.loading')}</p>
      ) : items.length === 0 ? (
        <p class="empty">{t('worklist.empty')}</p>
      ) : (
        <div class="table-wrap">
          <table class="list" data-testid="worklist">
            <thead>
              <tr>
                <th scope="col">{t('worklist.priority')}</th>
                <th scope="col">{t('worklist.ai')}</th>
                <th scope="col">{t('worklist.patient')}</th>
                <th scope="col">{t('worklist.study')}</th>
                <th scope="col">{t('worklist.from')}</th>
                <th scope="col">{t('worklist.waiting')}</th>
                <th scope="col">{t('worklist.status')}</th>
                <th scope="col">
                  <span class="sr-only">{t('common.actions')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((it) => {
                const r = it.request;
                const tat = turnaround(r.createdAt, r.dueAt, now);
                const mine = r.claimedBy?.id === me.id;
                const breached = r.breached || tat.urgency === 'breached';
                return (
                  <tr key={r.id} data-request={r.id} class={`prio-${r.priority}`}>
                    <td>
                      <span class={`badge prio prio-${r.priority}`}>{t(`priority.${r.priority}`)}</span>
                    </td>
                    <td>
                      {it.aiFlag === true ? (
                        <span class="badge ai-flag" title={t('worklist.aiFlagged')}>
                          {t('worklist.aiFlaggedShort')}
                        </span>
                      ) : it.aiFlag === false ? (
                        <span class="muted">{t('worklist.aiClear')}</span>
                      ) : (
                        <span class="muted" title={t('worklist.aiNone')}>
                          —
                        </span>
                      )}
                    </td>
                    <td>
                      <strong data-patient>{personName(it.patient.name)}</strong>
                      <div class="muted small">
                        {it.patient.id} · {it.patient.sex ?? ''} {dicomDate(it.patient.birthDate)}
                      </div>
                    </td>
                    <td>
                      {it.study.modalities.join('/')} {it.study.description ?? ''}
                      <div class="muted small">
                        {dicomDate(it.study.date)} · {r.accessionNumber} ·{' '}
                        {t('worklist.images', { count: it.study.numInstances })}
                      </div>
                      <div class="small question" title={r.clinicalInfo}>
                        {r.question}
                      </div>
                    </td>
                    <td>{it.requestingFacilityName}</td>
                    <td class={`tat tat-${breached ? 'breached' : tat.urgency}`}>
                      {duration(it.waitingMinutes)}
                      <div class="small">
                        {breached
                          ? t('worklist.overdue', { time: duration(-tat.leftMinutes) })
                          : t('worklist.dueIn', { time: duration(tat.leftMinutes) })}
                      </div>
                    </td>
                    <td>
                      {t(`status.${r.status}`)}
                      {r.claimedBy && <div class="small">{mine ? t('worklist.byMe') : r.claimedBy.name}</div>}
                    </td>
                    <td class="actions">
                      {r.status === 'requested' && (
                        <button
                          type="button"
                          class="primary"
                          data-action="claim"
                          disabled={busy === r.id}
                          onClick={() => act(r.id, 'claim', r.studyUid)}
                        >
                          {t('worklist.claimOpen')}
                        </button>
                      )}
                      {r.status === 'requested' &&
                        r.priority === 'stat' &&
                        (acked.has(r.id) ? (
                          <span class="small muted">{t('worklist.acknowledged')}</span>
                        ) : (
                          <button
                            type="button"
                            data-action="acknowledge"
                            disabled={busy === r.id}
                            onClick={() => act(r.id, 'acknowledge', r.studyUid)}
                          >
                            {t('worklist.acknowledge')}
                          </button>
                        ))}
                      {mine && ['claimed', 'reported'].includes(r.status) && (
                        <>
                          <a
                            class="button primary"
                            data-action="open"
                            href={href({ name: 'study', studyUid: r.studyUid, requestId: r.id })}
                          >
                            {t('worklist.open')}
                          </a>
                          <button
                            type="button"
                            data-action="release"
                            disabled={busy === r.id}
                            onClick={() => act(r.id, 'release', r.studyUid)}
                          >
                            {t('worklist.release')}
                          </button>
                        </>
                      )}
                      {!mine && r.status !== 'requested' && (
                        <a
                          class="button"
                          href={href({ name: 'study', studyUid: r.studyUid, requestId: r.id })}
                        >
                          {t('worklist.view')}
                        </a>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
