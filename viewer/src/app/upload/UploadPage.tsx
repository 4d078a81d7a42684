/**
 * The referring doctor's upload: drop a folder or zip (or pick a folder), see each file's
 * progress, failures with the server's reason explained, resume an interrupted upload, then
 * request a read of the uploaded study. Works on a phone (one column, large targets).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../errors.js';
import { fileSize } from '../format.js';
import { href } from '../routes.js';
import { t } from '../t.js';
import { fromDataTransfer, fromFileList } from './files.js';
import { hex, reasonKey } from './plan.js';
import { type Phase, runUpload, toUploadFiles, type UploadFile } from './uploader.js';

const SHOWN_ROWS = 300;

export function UploadPage() {
  const [files, setFiles] = useState<UploadFile[]>([]);
  const [phase, setPhase] = useState<Phase>('idle');
  const [error, setError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const [online, setOnline] = useState(navigator.onLine);
  const current = useRef<UploadFile[]>([]);
  const abort = useRef<AbortController | null>(null);

  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    return () => {
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
      abort.current?.abort();
    };
  }, []);

  const start = async (list: UploadFile[]) => {
    current.current = list;
    setError(null);
    abort.current = new AbortController();
    try {
      await runUpload(
        list,
        {
          onChange: (fs, p) => {
            setFiles(fs);
            setPhase(p);
          },
        },
        abort.current.signal,
      );
    } catch (e) {
      setPhase('error');
      setError(errorText(e));
    }
  };

  const accept = async (get: () => Promise<Awaited<ReturnType<typeof fromFileList>>>) => {
    if (busy) return;
    try {
      const src = await get();
      if (src.length === 0) {
        setError(t('upload.noFiles'));
        return;
      }
      await start(toUploadFiles(src));
    } catch (e) {
      setError(e instanceof Error && /zip|invalid/i.test(e.message) ? t('upload.badZip') : errorText(e));
    }
  };

  const busy = phase === 'reading' || phase === 'checking' || phase === 'sending';
  const count = (s: UploadFile['state']) => files.filter((f) => f.state === s).length;
  const failed = files.filter((f) => f.state === 'failed');
  const skipped = files.filter((f) => f.state === 'skipped');
  const studies = [
    ...new Set(files.filter((f) => f.state === 'stored' || f.state === 'already').map((f) => f.studyUid)),
  ];
  const sentBytes = files.reduce(
    (a, f) => a + (f.state === 'already' || f.state === 'duplicate' ? 0 : f.size * f.progress),
    0,
  );
  const toSendBytes = files.reduce(
    (a, f) => a + (['queued', 'sending', 'stored', 'pending'].includes(f.state) ? f.size : 0),
    0,
  );

  return (
    <section class="page upload" aria-labelledby="up-title">
      <h1 id="up-title">{t('upload.title')}</h1>
      {/* biome-ignore lint/a11y/noStaticElementInteractions: a drop target only; keyboard and screen-reader users use the two file inputs inside it */}
      <div
        class={`dropzone${dragging ? ' dragging' : ''}`}
        data-testid="dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          const dt = e.dataTransfer;
          if (dt) void accept(() => fromDataTransfer(dt));
        }}
      >
        <p>{t('upload.drop')}</p>
        <div class="row center">
          <label class="button primary">
            {t('upload.pickFolder')}
            <input
              // The folder picker (a DOM property every current browser has) is not in the JSX types.
              {...{ webkitdirectory: true }}
              class="sr-only"
              type="file"
              multiple
              data-input="folder"
              disabled={busy}
              onChange={(e) => {
                const list = e.currentTarget.files;
                if (list) void accept(() => fromFileList(list));
                e.currentTarget.value = '';
              }}
            />
          </label>
          <label class="button">
            {t('upload.pickFiles')}
            <input
              class="sr-only"
              type="file"
              multiple
              accept=".dcm,.zip,application/dicom,application/zip,*/*"
              data-input="files"
              disabled={busy}
              onChange={(e) => {
                const list = e.currentTarget.files;
                if (list) void accept(() => fromFileList(list));
                e.currentTarget.value = '';
              }}
            />
          </label>
        </div>
      </div>
      {!online && (
        <p class="warn" role="status">
          {t('upload.offline')}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {files.length > 0 && (
        <div class="upload-status" data-phase={phase}>
          <p role="status" aria-live="polite" data-testid="upload-summary">
            <strong>{t(`upload.phase.${phase}`)}</strong> ·{' '}
            {t('upload.summary', {
              stored: count('stored'),
              already: count('already'),
              failed: failed.length,
              pending: count('pending') + count('queued') + count('sending'),
              skipped: skipped.length,
              total: files.length,
            })}
          </p>
          <progress max={Math.max(1, toSendBytes)} value={sentBytes} aria-label={t('upload.overall')} />
          {phase === 'interrupted' && (
            <div class="warn" role="alert">
              <p>{t('upload.interrupted')}</p>
              <button
                type="button"
                class="primary"
                data-action="resume"
                onClick={() => start(current.current)}
              >
                {t('upload.resume')}
              </button>
            </div>
          )}
          {busy && (
            <button type="button" onClick={() => abort.current?.abort()}>
              {t('upload.stop')}
            </button>
          )}
          {failed.length > 0 && (
            <div class="failures" data-testid="upload-failures">
              <h2>{t('upload.failedTitle', { count: failed.length })}</h2>
              <ul>
                {failed.map((f) => (
                  <li key={f.index} data-reason={hex(f.reason ?? null)}>
                    <code>{f.path}</code>: {t(reasonKey(f.reason ?? null))}{' '}
                    {f.reason != null && <small>({hex(f.reason)})</small>}
                    {f.comment && <div class="muted small">{f.comment}</div>}
                  </li>
                ))}
              </ul>
            </div>
          )}
          {skipped.length > 0 && (
            <details>
              <summary>{t('upload.skippedTitle', { count: skipped.length })}</summary>
              <ul>
                {skipped.map((f) => (
                  <li key={f.index}>
                    <code>{f.path}</code>: {t(`upload.skip.${f.skipWhy ?? 'not-dicom'}`)}
                  </li>
                ))}
              </ul>
            </details>
          )}
          <ul class="file-list" data-testid="file-list">
            {files.slice(0, SHOWN_ROWS).map((f) => (
              <li key={f.index} data-state={f.state}>
                <span class="path">{f.path}</span>
                <span class="small muted">{fileSize(f.size)}</span>
                <progress max={1} value={f.progress} aria-label={f.path} />
                <span class={`small state-${f.state}`}>{t(`upload.state.${f.state}`)}</span>
              </li>
            ))}
          </ul>
          {files.length > SHOWN_ROWS && (
            <p class="muted small">{t('upload.more', { count: files.length - SHOWN_ROWS })}</p>
          )}
          {phase === 'done' && studies.length > 0 && (
            <div class="next">
              <h2>{t('upload.nextTitle')}</h2>
              {studies.map((uid) => (
                <a
                  key={uid}
                  class="button primary"
                  data-action="request-read"
                  href={href({ name: 'new-request', studyUid: uid })}
                >
                  {t('upload.requestRead')}
                  {studies.length > 1 && ` (${uid.slice(-12)})`}
                </a>
              ))}
            </div>
          )}
        </div>
      )}
    </section>
  );
}
