/**
 * `#/request/:studyUid`: ask another facility to read a study of mine — clinical information,
 * question, priority, target facility (higher tiers first) and optional specialty pool, and an
 * optional photo of the paper referral.
 */
import { useEffect, useState } from 'preact/hooks';
import { facilities as listFacilities } from '../../api/admin.js';
import { dicomDate, personName } from '../../api/dicom-json.js';
import { type StudyRow, studyByUid } from '../../api/dicomweb.js';
import { attach, createRequest, type Pool, poolsOf } from '../../api/reading.js';
import type { Facility, Priority } from '../../api/types.js';
import { errorText } from '../errors.js';
import { currentUser, navigate } from '../session.js';
import { t } from '../t.js';

const TIER_ORDER: Record<string, number> = { central: 0, provincial: 1, district: 2, commune: 3 };

export function RequestFormPage({ studyUid }: { studyUid: string }) {
  const me = currentUser.value!;
  const [study, setStudy] = useState<StudyRow | null | undefined>(undefined);
  const [targets, setTargets] = useState<Facility[]>([]);
  const [target, setTarget] = useState('');
  const [pools, setPools] = useState<Pool[]>([]);
  const [pool, setPool] = useState('');
  const [priority, setPriority] = useState<Priority>('routine');
  const [clinicalInfo, setClinicalInfo] = useState('');
  const [question, setQuestion] = useState('');
  const [photo, setPhoto] = useState<File | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    studyByUid(studyUid).then(setStudy, (e) => {
      setStudy(null);
      setError(errorText(e));
    });
    listFacilities().then(
      (fs) => {
        const others = fs
          .filter((f) => f.id !== me.facilityId)
          .sort(
            (a, b) => (TIER_ORDER[a.tier] ?? 9) - (TIER_ORDER[b.tier] ?? 9) || a.name.localeCompare(b.name),
          );
        setTargets(others);
        if (others[0]) setTarget(others[0].id);
      },
      (e) => setError(errorText(e)),
    );
  }, [studyUid]);
  useEffect(() => {
    setPool('');
    if (!target) return;
    poolsOf(target).then(setPools, () => setPools([]));
  }, [target]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await createRequest({
        studyUid,
        targetFacilityId: target,
        ...(pool ? { specialtyPool: pool } : {}),
        priority,
        clinicalInfo,
        question,
      });
      if (photo) {
        try {
          await attach(r.id, photo);
        } catch (err) {
          // The request exists: say the attachment failed rather than undoing the request.
          setError(t('newRequest.attachFailed', { reason: errorText(err) }));
          setBusy(false);
          return;
        }
      }
      navigate('#/requests');
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="page narrow" aria-labelledby="nr-title">
      <h1 id="nr-title">{t('newRequest.title')}</h1>
      {study && (
        <p class="card">
          <strong data-patient>{personName(study.patientName)}</strong> · {study.patientId} ·{' '}
          {dicomDate(study.date)} · {study.modalities.join('/')} · {study.description}
        </p>
      )}
      {study === null && <p class="error">{t('study.notFound')}</p>}
      <form class="stack" onSubmit={submit}>
        <label for="nr-target">{t('newRequest.target')}</label>
        <select id="nr-target" required value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
          {targets.map((f) => (
            <option key={f.id} value={f.id}>
              {f.name} ({t(`tier.${f.tier}`)})
            </option>
          ))}
        </select>
        {pools.length > 0 && (
          <>
            <label for="nr-pool">{t('newRequest.pool')}</label>
            <select id="nr-pool" value={pool} onChange={(e) => setPool(e.currentTarget.value)}>
              <option value="">{t('newRequest.anyRadiologist')}</option>
              {pools.map((p) => (
                <option key={p.pool} value={p.pool}>
                  {p.name}
                </option>
              ))}
            </select>
          </>
        )}
        <fieldset class="priority">
          <legend>{t('worklist.priority')}</legend>
          {(['routine', 'urgent', 'stat'] as const).map((p) => (
            <label key={p} class="check">
              <input
                type="radio"
                name="priority"
                value={p}
                checked={priority === p}
                onChange={() => setPriority(p)}
              />
              {t(`priority.${p}`)}
            </label>
          ))}
        </fieldset>
        <label for="nr-clinical">{t('newRequest.clinicalInfo')}</label>
        <textarea
          id="nr-clinical"
          required
          maxLength={4000}
          rows={4}
          value={clinicalInfo}
          onInput={(e) => setClinicalInfo(e.currentTarget.value)}
        />
        <label for="nr-question">{t('newRequest.question')}</label>
        <textarea
          id="nr-question"
          required
          maxLength={2000}
          rows={2}
          value={question}
          onInput={(e) => setQuestion(e.currentTarget.value)}
        />
        <label for="nr-photo">{t('newRequest.photo')}</label>
        <input
          id="nr-photo"
          type="file"
          accept="image/jpeg,image/png,application/pdf"
          capture="environment"
          onChange={(e) => setPhoto(e.currentTarget.files?.[0] ?? null)}
        />
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy || !target || study === null}>
          {busy ? t('common.working') : t('newRequest.submit')}
        </button>
      </form>
    </section>
  );
}
