/**
 * Beside the report: the request's attachments (e.g. the photographed referral) and its
 * discussion thread between the requester and the radiologist, kept live by message events.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import * as reading from '../../api/reading.js';
import type { Message, ReadRequest } from '../../api/types.js';
import { errorText } from '../errors.js';
import { dateTime } from '../format.js';
import { useLive } from '../live.js';
import { language } from '../session.js';
import { t } from '../t.js';

export function RequestThread({ request }: { request: ReadRequest }) {
  const [items, setItems] = useState<Message[] | null>(null);
  const [files, setFiles] = useState<reading.Attachment[]>([]);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    reading.messages(request.id).then(setItems, (e) => setError(errorText(e)));
  }, [request.id]);
  useEffect(() => {
    load();
    reading.attachments(request.id).then(setFiles, () => setFiles([]));
  }, [load]);
  useLive(load, ['message.posted']);

  const send = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await reading.postMessage(request.id, text.trim());
      setText('');
      load();
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <details class="thread" open={(items?.length ?? 0) > 0 || files.length > 0}>
      <summary>
        {t('thread.title')} ({items?.length ?? 0})
      </summary>
      {files.length > 0 && (
        <ul class="plain attachments">
          {files.map((f) => (
            <li key={f.id}>
              <a href={reading.attachmentUrl(request.id, f.id)} target="_blank" rel="noopener">
                {f.contentType === 'application/pdf' ? '📄' : '🖼'} {f.filename}
              </a>
            </li>
          ))}
        </ul>
      )}
      <ul class="plain messages" data-testid="messages">
        {(items ?? []).map((m) => (
          <li key={m.id}>
            <div class="small muted">
              {m.author.name} · {dateTime(m.createdAt, language.value)}
            </div>
            <p class="pre">{m.body}</p>
          </li>
        ))}
      </ul>
      <form class="stack" onSubmit={send}>
        <label for={`msg-${request.id}`}>{t('thread.new')}</label>
        <textarea
          id={`msg-${request.id}`}
          rows={2}
          maxLength={4000}
          required
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
        />
        <button type="submit" disabled={!text.trim()}>
          {t('thread.send')}
        </button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </details>
  );
}
