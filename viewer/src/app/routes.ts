/**
 * Hash routes (`#/…`): the gateway serves one index.html, and the share token of a patient link
 * stays in the fragment, which browsers never send to a server. Pure, unit-tested.
 */
import type { Role } from '../api/types.js';

export type Route =
  | { name: 'login' }
  | { name: 'worklist' }
  | { name: 'requests' }
  | { name: 'search' }
  | { name: 'upload' }
  | { name: 'new-request'; studyUid: string }
  | { name: 'study'; studyUid: string; requestId: string | null }
  | { name: 'users' }
  | { name: 'facilities' }
  | { name: 'share'; token: string }
  | { name: 'verify'; reportId: string; code: string }
  | { name: 'not-found'; path: string };

const UID = /^[0-9]+(\.[0-9]+)*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TOKEN = /^[A-Za-z0-9_-]{16,128}$/;
const VERIFY_CODE = /^[A-Za-z0-9_-]{16,64}$/;

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const [path = '', query = ''] = raw.split('?', 2);
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [head, arg] = parts;
  if (parts.length === 0) return { name: 'worklist' };
  if (parts.length === 1) {
    switch (head) {
      case 'login':
        return { name: 'login' };
      case 'worklist':
        return { name: 'worklist' };
      case 'requests':
        return { name: 'requests' };
      case 'search':
        return { name: 'search' };
      case 'upload':
        return { name: 'upload' };
      case 'users':
        return { name: 'users' };
      case 'facilities':
        return { name: 'facilities' };
    }
  }
  if (parts.length === 2 && arg) {
    if (head === 'study' && UID.test(arg)) {
      const r = params.get('request');
      return { name: 'study', studyUid: arg, requestId: r && UUID.test(r) ? r : null };
    }
    if (head === 'request' && UID.test(arg)) return { name: 'new-request', studyUid: arg };
    if (head === 's' && TOKEN.test(arg)) return { name: 'share', token: arg };
    const code = params.get('code');
    if (head === 'verify' && UUID.test(arg) && code && VERIFY_CODE.test(code))
      return { name: 'verify', reportId: arg, code };
  }
  return { name: 'not-found', path };
}

export function href(r: Route): string {
  switch (r.name) {
    case 'study':
      return `#/study/${r.studyUid}${r.requestId ? `?request=${r.requestId}` : ''}`;
    case 'new-request':
      return `#/request/${r.studyUid}`;
    case 'share':
      return `#/s/${r.token}`;
    case 'verify':
      return `#/verify/${r.reportId}?code=${r.code}`;
    case 'not-found':
      return `#/${r.path}`;
    default:
      return `#/${r.name}`;
  }
}

export interface NavItem {
  route: Route['name'];
  i18nKey: string;
}

/** What each role's navigation offers (the server enforces access; this only hides dead ends). */
export function navFor(role: Role): NavItem[] {
  const worklist = { route: 'worklist', i18nKey: 'nav.worklist' } as const;
  const requests = { route: 'requests', i18nKey: 'nav.requests' } as const;
  const search = { route: 'search', i18nKey: 'nav.search' } as const;
  const upload = { route: 'upload', i18nKey: 'nav.upload' } as const;
  const users = { route: 'users', i18nKey: 'nav.users' } as const;
  const facilities = { route: 'facilities', i18nKey: 'nav.facilities' } as const;
  switch (role) {
    case 'radiologist':
      return [worklist, requests, search];
    case 'referring_doctor':
      return [requests, upload, search];
    case 'facility_admin':
      return [worklist, requests, search, upload, users, facilities];
    case 'system_admin':
      return [worklist, requests, search, users, facilities];
    default:
      return [search];
  }
}

/** Where a role lands after login (and on `#/`). */
export function homeFor(role: Role): Route['name'] {
  return navFor(role)[0]?.route ?? 'search';
}

/** Whether a role may open a page (routes outside its navigation go home instead). */
export function allowed(role: Role, route: Route): boolean {
  if (route.name === 'study' || route.name === 'not-found' || route.name === 'login') return true;
  if (route.name === 'new-request')
    return navFor(role).some((n) => n.route === 'upload' || n.route === 'requests');
  if (route.name === 'share' || route.name === 'verify') return true;
  return navFor(role).some((n) => n.route === route.name);
}
