/**
 * The report panel beside the viewer. For the radiologist holding the request: template choice
 * (per modality and region, Vietnamese or English), structured fields and free text with
 * autosave (and the 409 stale-version conflict), insertion of viewer measurements and AI
 * findings, signing with the PIN, then the verification badge and signed addenda. Everyone
 * else who may see the request reads the signed report and its badge.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError } from '../../api/http.js';
import * as reading from '../../api/reading.js';
import type { AiFinding, ReadRequest, Report, ReportTemplate, Verification } from '../../api/types.js';
import { errorText } from '../errors.js';
import { currentUser, language } from '../session.js';
import type { ViewerMeasurement } from '../study/imaging.js';
import { t } from '../t.js';
import { DraftAutosave, type SaveState } from './draft.js';
import { isInsertable, measurementKey, toMeasurementInput } from './measurements.js';
import { RequestThread } from './RequestThread.js';
import { ShareLinkPanel } from './ShareLinkPanel.js';
import { rankTemplates } from './template-choice.js';
import { VerificationBadge } from './VerificationBadge.js';

const AUTOSAVE_MS = 1200;

export function ReportPanel(props: {
  request: ReadRequest;
  modalities: string[];
  /** The study description: the body region it names picks the template. */
  description: string | null;
  measurements: ViewerMeasurement[];
  onRequestChange: (r: ReadRequest) => void;
}) {
  const { request } = props;
  const me = currentUser.value!;
  const [report, setReport] = useState<Report | null>(null);
  const [addenda, setAddenda] = useState<Report[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [tpls, setTpls] = useState<ReportTemplate[]>([]);

  const holder = request.claimedBy?.id === me.id && ['claimed', 'reported'].includes(request.status);
  const load = async () => {
    try {
      const r = await reading.reportOf(request.id);
      setReport(r.report);
      setAddenda(r.addenda);
      setLoadError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        setReport(null);
        setAddenda([]);
      } else setLoadError(errorText(e));
    } finally {
      setLoaded(true);
    }
  };
  useEffect(() => {
    void load();
    reading.templates().then(setTpls, (e) => setLoadError(errorText(e)));
  }, [request.id, request.status]);

  if (!loaded) return <p role="status">{t('common.loading')}</p>;
  return (
    <div class="report" data-testid="report-panel">
      <RequestSummary request={request} />
      <RequestThread request={request} />
      {loadError && (
        <p class="error" role="alert">
          {loadError}
        </p>
      )}
      {report?.status === 'final' ? (
        <SignedReport report={report} addenda={addenda} templates={tpls} onChanged={load} request={request} />
      ) : holder ? (
        <DraftEditor
          key={request.id}
          request={request}
          initial={report}
          templates={tpls}
          modalities={props.modalities}
          description={props.description}
          measurements={props.measurements}
          onSigned={async () => {
            props.onRequestChange(await reading.getRequest(request.id));
            await load();
          }}
        />
      ) : (
        <p class="muted" data-report-state="none">
          {request.status === 'requested' && me.role === 'radiologist'
            ? t('report.claimFirst')
            : t('report.notYet')}
        </p>
      )}
    </div>
  );
}

function RequestSummary({ request }: { request: ReadRequest }) {
  return (
    <details class="request-summary" open>
      <summary>
        <span class={`badge prio prio-${request.priority}`}>{t(`priority.${request.priority}`)}</span>{' '}
        {t(`status.${request.status}`)} · {request.accessionNumber}
      </summary>
      <dl>
        <dt>{t('report.question')}</dt>
        <dd>{request.question}</dd>
        <dt>{t('report.clinicalInfo')}</dt>
        <dd>{request.clinicalInfo}</dd>
        <dt>{t('report.requester')}</dt>
        <dd>{request.requester.name}</dd>
      </dl>
    </details>
  );
}

function DraftEditor(props: {
  request: ReadRequest;
  initial: Report | null;
  templates: ReportTemplate[];
  modalities: string[];
  description: string | null;
  measurements: ViewerMeasurement[];
  onSigned: () => Promise<void>;
}) {
  const { request, templates } = props;
  const suitable = useMemo(
    () => rankTemplates(templates, props.modalities, props.description),
    [templates, props.modalities.join(), props.description],
  );
  const [templateId, setTemplateId] = useState(props.initial?.templateId ?? '');
  const [lang, setLang] = useState<'vi' | 'en'>(props.initial?.language ?? language.value);
  const [fields, setFields] = useState<Record<string, string>>(props.initial?.fields ?? {});
  const [freeText, setFreeText] = useState(props.initial?.freeText ?? '');
  const [report, setReport] = useState<Report | null>(props.initial);
  const [saveState, setSaveState] = useState<SaveState>('clean');
  const [error, setError] = useState<string | null>(null);
  const [pin, setPin] = useState('');
  const [signing, setSigning] = useState(false);
  const [signError, setSignError] = useState<string | null>(null);
  const [inserted, setInserted] = useState<Set<string>>(new Set());
  const [ai, setAi] = useState<{ state: 'loading' | 'ready' | 'unavailable' | 'none'; items: AiFinding[] }>({
    state: 'loading',
    items: [],
  });
  const [aiChosen, setAiChosen] = useState<Set<string>>(new Set());
  const [info, setInfo] = useState<string | null>(null);

  useEffect(() => {
    if (!templateId && suitable[0]) setTemplateId(suitable[0].id);
  }, [suitable]);

  const autosave = useRef<DraftAutosave | null>(null);
  autosave.current ??= new DraftAutosave(
    {
      save: (body) => reading.saveDraft(request.id, body),
      onSaved: (r) => setReport(r),
      onState: (s, e) => {
        setSaveState(s);
        if (s === 'error') setError(errorText(e));
        else if (s !== 'conflict') setError(null);
      },
      delayMs: AUTOSAVE_MS,
    },
    props.initial?.version,
  );
  useEffect(() => () => autosave.current?.dispose(), []);

  useEffect(() => {
    reading.aiResults(request.studyUid).then(
      (items) => setAi({ state: items.length ? 'ready' : 'none', items }),
      (e) =>
        setAi({
          state: e instanceof ApiError && (e.routeMissing || e.status === 404) ? 'unavailable' : 'none',
          items: [],
        }),
    );
  }, [request.studyUid]);

  const template = templates.find((x) => x.id === templateId);
  const edit = (next: {
    templateId?: string;
    lang?: 'vi' | 'en';
    fields?: Record<string, string>;
    freeText?: string;
  }) => {
    const body = {
      templateId: next.templateId ?? templateId,
      language: next.lang ?? lang,
      fields: next.fields ?? fields,
      freeText: next.freeText ?? freeText,
    };
    if (!body.templateId) return;
    autosave.current!.edit(body);
  };

  /** A draft exists and holds what is on screen. */
  const ensureSaved = async (): Promise<Report | null> => {
    if (!report && autosave.current!.current === 'clean' && templateId)
      autosave.current!.edit({ templateId, language: lang, fields, freeText });
    const saved = await autosave.current!.flush().catch(() => null);
    return saved ?? report;
  };

  const resolveConflict = async (keepMine: boolean) => {
    const server = await reading.reportOf(request.id);
    if (keepMine) {
      await autosave.current!.overwrite(server.report.version).catch(() => {});
    } else {
      autosave.current!.discard(server.report.version);
      const r = server.report;
      setReport(r);
      setTemplateId(r.templateId);
      setLang(r.language);
      setFields(r.fields);
      setFreeText(r.freeText);
    }
  };

  const newMeasurements = props.measurements.filter(
    (m) => isInsertable(m) && !inserted.has(measurementKey(m)),
  );
  const insertMeasurements = async () => {
    setError(null);
    const r = await ensureSaved();
    if (!r) return;
    try {
      const items = newMeasurements.slice(0, 50);
      const updated = await reading.addMeasurements(r.id, items.map(toMeasurementInput), r.version);
      setInserted((s) => new Set([...s, ...items.map(measurementKey)]));
      setReport(updated);
      setFreeText(updated.freeText);
      setFields(updated.fields);
      autosave.current!.setVersion(updated.version);
      setInfo(t('report.measurementsInserted', { count: items.length }));
    } catch (e) {
      setError(errorText(e));
    }
  };

  const insertAi = async () => {
    setError(null);
    const r = await ensureSaved();
    if (!r) return;
    try {
      const updated = await reading.addAiFindings(r.id, [...aiChosen]);
      setReport(updated);
      setFreeText(updated.freeText);
      setFields(updated.fields);
      autosave.current!.setVersion(updated.version);
      setAiChosen(new Set());
      setInfo(t('report.aiInserted'));
    } catch (e) {
      setError(e instanceof ApiError && e.routeMissing ? t('report.aiInsertUnavailable') : errorText(e));
    }
  };

  const doSign = async (e: Event) => {
    e.preventDefault();
    setSignError(null);
    setSigning(true);
    try {
      const r = await ensureSaved();
      if (!r) {
        setSignError(t('report.nothingToSign'));
        return;
      }
      if (autosave.current!.current === 'conflict') {
        setSignError(t('report.conflict'));
        return;
      }
      await reading.sign(r.id, pin);
      setPin('');
      await props.onSigned();
    } catch (err) {
      setSignError(
        err instanceof ApiError && err.code === 'RADLINK_PIN_INVALID' ? t('report.wrongPin') : errorText(err),
      );
    } finally {
      setSigning(false);
    }
  };

  const missing = template?.fields.filter((f) => f.requiredToSign && !(fields[f.key] ?? '').trim()) ?? [];

  return (
    <form class="draft" onSubmit={doSign} aria-label={t('report.title')}>
      <div class="row">
        <label>
          {t('report.template')}
          <select
            data-field="template"
            value={templateId}
            onChange={(e) => {
              setTemplateId(e.currentTarget.value);
              edit({ templateId: e.currentTarget.value });
            }}
          >
            {suitable.map((x) => (
              <option key={x.id} value={x.id}>
                {x.title[lang]} ({x.modalities.join('/')})
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('report.language')}
          <select
            data-field="language"
            value={lang}
            onChange={(e) => {
              const l = e.currentTarget.value as 'vi' | 'en';
              setLang(l);
              edit({ lang: l });
            }}
          >
            <option value="vi">{t('lang.vi')}</option>
            <option value="en">{t('lang.en')}</option>
          </select>
        </label>
      </div>
      {template?.fields.map((f) => (
        <div key={f.key} class="field">
          <label for={`rf-${f.key}`}>
            {f.label[lang]}
            {f.requiredToSign && (
              <span class="req" title={t('report.required')}>
                {' '}
                *<span class="sr-only">{t('report.required')}</span>
              </span>
            )}
          </label>
          {f.kind === 'choice' ? (
            <select
              id={`rf-${f.key}`}
              data-field={f.key}
              value={fields[f.key] ?? ''}
              onChange={(e) => {
                const next = { ...fields, [f.key]: e.currentTarget.value };
                setFields(next);
                edit({ fields: next });
              }}
            >
              <option value="">—</option>
              {f.options?.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label[lang]}
                </option>
              ))}
            </select>
          ) : (
            <textarea
              id={`rf-${f.key}`}
              data-field={f.key}
              rows={f.key === 'findings' ? 5 : 2}
              value={fields[f.key] ?? ''}
              onInput={(e) => {
                const next = { ...fields, [f.key]: e.currentTarget.value };
                setFields(next);
                edit({ fields: next });
              }}
            />
          )}
        </div>
      ))}
      <label class="field">
        {t('report.freeText')}
        <textarea
          data-field="freeText"
          rows={4}
          value={freeText}
          onInput={(e) => {
            setFreeText(e.currentTarget.value);
            edit({ freeText: e.currentTarget.value });
          }}
        />
      </label>
      <p class={`save-state save-${saveState}`} data-save={saveState} role="status" aria-live="polite">
        {t(`report.save.${saveState}`)}
      </p>
      {saveState === 'conflict' && (
        <div class="conflict" role="alert">
          <p>{t('report.conflict')}</p>
          <button type="button" onClick={() => resolveConflict(false)}>
            {t('report.loadTheirs')}
          </button>
          <button type="button" onClick={() => resolveConflict(true)}>
            {t('report.keepMine')}
          </button>
        </div>
      )}

      <fieldset class="inserts">
        <legend>{t('report.measurements')}</legend>
        {report && report.measurements.length > 0 && (
          <ol class="small">
            {report.measurements.map((m) => (
              <li key={m.n}>
                {t(`measure.${m.kind}`)} {m.value.toFixed(1)} {m.unit}
                {m.seriesNumber !== null &&
                  ` (${t('report.seriesImage', { s: m.seriesNumber, i: m.instanceNumber ?? '?' })})`}
              </li>
            ))}
          </ol>
        )}
        <button
          type="button"
          data-action="insert-measurements"
          disabled={newMeasurements.length === 0}
          onClick={insertMeasurements}
        >
          {t('report.insertMeasurements', { count: newMeasurements.length })}
        </button>
      </fieldset>
      <fieldset class="inserts">
        <legend>{t('report.aiFindings')}</legend>
        {ai.state === 'loading' && <p class="small">{t('common.loading')}</p>}
        {ai.state === 'unavailable' && (
          <p class="small muted" data-ai="unavailable">
            {t('report.aiUnavailable')}
          </p>
        )}
        {ai.state === 'none' && <p class="small muted">{t('report.aiNone')}</p>}
        {ai.state === 'ready' && (
          <>
            <ul class="plain">
              {ai.items.map((f) => (
                <li key={f.id}>
                  <label class="check">
                    <input
                      type="checkbox"
                      checked={aiChosen.has(f.id)}
                      onChange={(e) => {
                        const next = new Set(aiChosen);
                        if (e.currentTarget.checked) next.add(f.id);
                        else next.delete(f.id);
                        setAiChosen(next);
                      }}
                    />
                    {f.label ?? f.description ?? f.id}
                    {f.model?.id && (
                      <span class="muted small">
                        {' '}
                        · {f.model.id} {f.model.version}
                      </span>
                    )}
                  </label>
                </li>
              ))}
            </ul>
            <button type="button" disabled={aiChosen.size === 0} onClick={insertAi}>
              {t('report.insertAi', { count: aiChosen.size })}
            </button>
          </>
        )}
      </fieldset>
      {info && (
        <p class="info" role="status">
          {info}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}

      <fieldset class="sign">
        <legend>{t('report.signTitle')}</legend>
        {missing.length > 0 && (
          <p class="small muted">
            {t('report.missingToSign', { fields: missing.map((f) => f.label[lang]).join(', ') })}
          </p>
        )}
        <label for="sign-pin">{t('report.pin')}</label>
        <div class="row">
          <input
            id="sign-pin"
            type="password"
            inputMode="numeric"
            autocomplete="off"
            pattern="[0-9]{6,12}"
            minLength={6}
            maxLength={12}
            required
            value={pin}
            onInput={(e) => setPin(e.currentTarget.value)}
          />
          <button type="submit" class="primary" data-action="sign" disabled={signing || missing.length > 0}>
            {signing ? t('common.working') : t('report.sign')}
          </button>
        </div>
        {signError && (
          <p class="error" role="alert" data-sign-error>
            {signError}
          </p>
        )}
      </fieldset>
    </form>
  );
}

function SignedReport(props: {
  report: Report;
  addenda: Report[];
  templates: ReportTemplate[];
  request: ReadRequest;
  onChanged: () => Promise<void>;
}) {
  const me = currentUser.value!;
  const readerSide = me.role === 'radiologist' && me.facilityId === props.request.targetFacilityId;
  return (
    <div class="signed" data-report-state="signed">
      <ReportText report={props.report} templates={props.templates} />
      {props.addenda.map((a) => (
        <div key={a.id} class="addendum" data-addendum={a.id}>
          <h3>{t('report.addendum')}</h3>
          <ReportText report={a} templates={props.templates} />
        </div>
      ))}
      {readerSide && <AddendumForm report={props.report} onAdded={props.onChanged} />}
      {(readerSide || ['referring_doctor', 'facility_admin'].includes(me.role)) && (
        <ShareLinkPanel studyUid={props.request.studyUid} />
      )}
    </div>
  );
}

function ReportText({ report, templates }: { report: Report; templates: ReportTemplate[] }) {
  const [v, setV] = useState<Verification | null>(null);
  const [vError, setVError] = useState<string | null>(null);
  useEffect(() => {
    reading.verify(report.id).then(setV, (e) => setVError(errorText(e)));
  }, [report.id]);
  const tpl = templates.find((x) => x.id === report.templateId);
  return (
    <article class="report-text" lang={report.language}>
      {tpl && <h3>{tpl.title[report.language]}</h3>}
      {tpl?.fields
        .filter((f) => (report.fields[f.key] ?? '') !== '')
        .map((f) => (
          <section key={f.key}>
            <h4>{f.label[report.language]}</h4>
            <p class="pre">
              {f.options?.find((o) => o.value === report.fields[f.key])?.label[report.language] ??
                report.fields[f.key]}
            </p>
          </section>
        ))}
      {report.freeText && <p class="pre">{report.freeText}</p>}
      {v ? (
        <VerificationBadge
          status={v.status}
          reason={v.reason}
          signedAt={v.signedAt ?? report.signedAt}
          revokedAt={v.revokedAt}
          demo={v.demo}
          signer={v.signer?.name ?? report.signature?.signer.name}
        />
      ) : vError ? (
        <VerificationBadge status="error" reason={vError} />
      ) : (
        <VerificationBadge status="checking" />
      )}
      <a class="button small" href={`/api/reports/${report.id}/pdf`} target="_blank" rel="noopener">
        {t('report.pdf')}
      </a>
    </article>
  );
}

function AddendumForm({ report, onAdded }: { report: Report; onAdded: () => Promise<void> }) {
  const [open, setOpen] = useState(false);
  const [text, setText] = useState('');
  const [pin, setPin] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!open)
    return (
      <button type="button" data-action="addendum" onClick={() => setOpen(true)}>
        {t('report.addAddendum')}
      </button>
    );
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await reading.addAddendum(report.id, { language: report.language, freeText: text, pin });
      setOpen(false);
      setText('');
      await onAdded();
    } catch (err) {
      setError(
        err instanceof ApiError && err.code === 'RADLINK_PIN_INVALID' ? t('report.wrongPin') : errorText(err),
      );
    } finally {
      setPin('');
      setBusy(false);
    }
  };
  return (
    <form class="addendum-form" onSubmit={submit}>
      <label class="field">
        {t('report.addendumText')}
        <textarea required rows={3} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      </label>
      <label for="addendum-pin">{t('report.pin')}</label>
      <div class="row">
        <input
          id="addendum-pin"
          type="password"
          inputMode="numeric"
          pattern="[0-9]{6,12}"
          required
          value={pin}
          onInput={(e) => setPin(e.currentTarget.value)}
        />
        <button type="submit" class="primary" disabled={busy}>
          {t('report.signAddendum')}
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
