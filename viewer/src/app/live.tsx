/**
 * Live status for list pages: reloads on reading events (server-sent events), and says plainly
 * when the gateway has no event stream, falling back to a periodic reload (real data, only later).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { type LiveEventName, type LiveState, subscribe } from '../api/events.js';
import { t } from './t.js';

const FALLBACK_POLL_MS = 30_000;

export function useLive(reload: () => void, names: readonly LiveEventName[]): LiveState {
  const [state, setState] = useState<LiveState>('connecting');
  const reloadRef = useRef(reload);
  reloadRef.current = reload;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Events come in bursts (claim + status change): one reload per burst.
    const onEvent = (name: LiveEventName) => {
      if (!names.includes(name)) return;
      clearTimeout(timer);
      timer = setTimeout(() => reloadRef.current(), 150);
    };
    const sub = subscribe(onEvent, (s) => {
      setState(s);
      // Reconnected: events may have been missed before the stream was open.
      if (s === 'open') reloadRef.current();
    });
    return () => {
      clearTimeout(timer);
      sub.close();
    };
  }, []);
  useEffect(() => {
    if (state !== 'unavailable') return;
    const id = setInterval(() => reloadRef.current(), FALLBACK_POLL_MS);
    return () => clearInterval(id);
  }, [state]);
  return state;
}

export function LiveIndicator({ state }: { state: LiveState }) {
  return (
    <span class={`live live-${state}`} role="status" data-live={state}>
      {t(`live.${state}`)}
    </span>
  );
}
