/**
 * Read requests my facility sent or received, newest first, with their live status (server-sent
 * events). Cards rather than a wide table: referring doctors follow them on a phone.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { facilities as listFacilities } from '../../api/admin.js';
import { cancelRequest, listRequests } from '../../api/reading.js';
import type { Facility, ReadRequest, RequestStatus } from '../../api/types.js';
import { errorText } from '../errors.js';
import { dateTime, duration, turnaround } from '../format.js';
import { LiveIndicator, useLive } from '../live.js';
import { href } from '../routes.js';
import { currentUser, language } from '../session.js';
import { t } from '../t.js';
import { AiFlaggedPrompt } from './AiFlaggedPrompt.js';

export function MyRequestsPage() {
  const [status, setStatus] = useState<RequestStatus | ''>('');
  const [items, setItems] = useState<ReadRequest[] | null>(null);
  const [names, setNames] = useState<Map<string, string>>(new Map());
  const [error, setError] = useState<string | null>(null);
  const [flash, setFlash] = useState<Set<string>>(new Set());
  const me = currentUser.value!;

  const load = useCallback(() => {
    listRequests(status || undefined)
      .then((rows) => {
        setItems((old) => {
          // Highlight what changed since the last load (a live status change is visible).
          if (old) {
            const before = new Map(old.map((r) => [r.id, r.status]));
            setFlash(new Set(rows.filter((r) => before.get(r.id) !== r.status).map((r) => r.id)));
          }
          return rows;
        });
        setError(null);
      })
      .catch((e) => setError(errorText(e)));
  }, [status]);
  useEffect(load, [load]);
  useEffect(() => {
    listFacilities().then(
      (fs: Facility[]) => setNames(new Map(fs.map((f) => [f.id, f.name]))),
      () => setNames(new Map()),
    );
  }, []);
  const live = useLive(load, [
    'request.created',
    'request.claimed',
    'request.released',
    'request.status-changed',
    'report.signed',
    'message.posted',
  ]);

  const cancel = async (r: ReadRequest) => {
    const reason = prompt(t('requests.cancelReason'));
    if (!reason) return;
    try {
      await cancelRequest(r.id, reason);
      load();
    } catch (e) {
      setError(errorText(e));
    }
  };

  const now = Date.now();
  return (
    <section class="page" aria-labelledby="rq-title">
      <div class="page-head">
        <h1 id="rq-title">{t('requests.title')}</h1>
        <LiveIndicator state={live} />
      </div>
      <div class="filters">
        <label>
          {t('worklist.status')}
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value as RequestStatus | '')}>
            <option value="">{t('status.all')}</option>
            {(['requested', 'claimed', 'reported', 'signed', 'cancelled'] as const).map((s) => (
              <option key={s} value={s}>
                {t(`status.${s}`)}
              </option>
            ))}
          </select>
        </label>
        {me.role === 'referring_doctor' && (
          <a class="button primary" href="#/upload">
            {t('requests.uploadNew')}
          </a>
        )}
      </div>
      {me.role !== 'radiologist' && <AiFlaggedPrompt />}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {items === null ? (
        <p role="status">{t('common.loading')}</p>
      ) : items.length === 0 ? (
        <p class="empty">{t('requests.empty')}</p>
      ) : (
        <ul class="cards" data-testid="requests">
          {items.map((r) => {
            const outgoing = r.requestingFacilityId === me.facilityId;
            const tat = turnaround(r.createdAt, r.dueAt, now);
            return (
              <li
                key={r.id}
                class={`card request-card${flash.has(r.id) ? ' changed' : ''}`}
                data-request={r.id}
                data-status={r.status}
              >
                <div class="card-row">
                  <span class={`badge prio prio-${r.priority}`}>{t(`priority.${r.priority}`)}</span>
                  <span class={`badge status status-${r.status}`} data-status-label>
                    {t(`status.${r.status}`)}
                  </span>
                  {r.breached && <span class="badge breached">{t('requests.breached')}</span>}
                </div>
                <p class="question">{r.question}</p>
                <p class="muted small">
                  {outgoing
                    ? t('requests.to', { facility: names.get(r.targetFacilityId) ?? r.targetFacilityId })
                    : t('requests.fromFacility', {
                        facility: names.get(r.requestingFacilityId) ?? r.requestingFacilityId,
                      })}
                  {r.specialtyPool ? ` · ${r.specialtyPool}` : ''} · {r.accessionNumber}
                </p>
                <p class="muted small">
                  {t('requests.created', { time: dateTime(r.createdAt, language.value) })}
                  {r.claimedBy && ` · ${t('requests.claimedBy', { name: r.claimedBy.name })}`}
                  {r.signedAt
                    ? ` · ${t('requests.signedAt', { time: dateTime(r.signedAt, language.value) })}`
                    : r.status !== 'cancelled'
                      ? ` · ${tat.urgency === 'breached' ? t('worklist.overdue', { time: duration(-tat.leftMinutes) }) : t('worklist.dueIn', { time: duration(tat.leftMinutes) })}`
                      : ''}
                </p>
                <div class="card-row">
                  <a class="button" href={href({ name: 'study', studyUid: r.studyUid, requestId: r.id })}>
                    {r.status === 'signed' ? t('requests.openReport') : t('requests.openStudy')}
                  </a>
                  {outgoing && r.status === 'requested' && (
                    <button type="button" onClick={() => cancel(r)}>
                      {t('requests.cancel')}
                    </button>
                  )}
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
