/**
 * Live reading events over server-sent events (`GET /api/events`, server/src/reading). The
 * browser reconnects by itself and sends Last-Event-ID, so events missed while offline are
 * replayed by the server. Pages subscribe to the event names they care about and reload what
 * changed through the normal API: event data carries ids and statuses only.
 */

export const LIVE_EVENTS = [
  'request.created',
  'request.claimed',
  'request.released',
  'request.status-changed',
  'report.signed',
  'stat.new',
  'stat.escalated',
  'stat.acknowledged',
  'message.posted',
] as const;
export type LiveEventName = (typeof LIVE_EVENTS)[number];

export interface LiveEventData {
  requestId: string;
  studyUid: string;
  status: string;
  priority: string;
  reportId?: string;
}

export type LiveState = 'connecting' | 'open' | 'unavailable';

export interface LiveSubscription {
  close(): void;
}

/**
 * Subscribes to the stream. `onState('unavailable')` when the gateway has no event stream
 * (checked once with a HEAD-less probe: EventSource hides the HTTP status of a failed connect).
 */
export function subscribe(
  onEvent: (name: LiveEventName, data: LiveEventData) => void,
  onState: (s: LiveState) => void,
): LiveSubscription {
  let closed = false;
  let source: EventSource | null = null;
  onState('connecting');
  const open = () => {
    if (closed) return;
    source = new EventSource('/api/events', { withCredentials: true });
    source.onopen = () => onState('open');
    source.onerror = () => {
      // readyState CLOSED: the server refused (404/401/…) and the browser will not retry.
      if (source?.readyState === EventSource.CLOSED) onState('unavailable');
      else onState('connecting');
    };
    for (const name of LIVE_EVENTS)
      source.addEventListener(name, (e) => {
        try {
          onEvent(name, JSON.parse((e as MessageEvent<string>).data) as LiveEventData);
        } catch {
          // A malformed event is skipped; the next reload shows the truth anyway.
        }
      });
  };
  open();
  return {
    close() {
      closed = true;
      source?.close();
    },
  };
}
