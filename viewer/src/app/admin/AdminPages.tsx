/**
 * Basic admin views: the users an admin administers and the facilities. Read-only lists here;
 * changes go through the API (`/api/docs`), linked from each page.
 */
import { useEffect, useState } from 'preact/hooks';
import { facilities, users } from '../../api/admin.js';
import type { Facility, User } from '../../api/types.js';
import { errorText } from '../errors.js';
import { t } from '../t.js';

function useLoad<T>(load: () => Promise<T>): { data: T | null; error: string | null } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    load().then(setData, (e) => setError(errorText(e)));
  }, []);
  return { data, error };
}

export function AdminUsersPage() {
  const { data, error } = useLoad(users);
  const { data: fs } = useLoad(facilities);
  const name = (id: string | null) => (id ? (fs?.find((f) => f.id === id)?.name ?? id) : '—');
  const [filter, setFilter] = useState('');
  const shown = (data ?? []).filter((u: User) =>
    `${u.username} ${u.displayName}`.toLowerCase().includes(filter.toLowerCase()),
  );
  return (
    <section class="page" aria-labelledby="users-title">
      <h1 id="users-title">{t('admin.users')}</h1>
      <label>
        {t('admin.filter')}
        <input data-search value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {!data && !error && <p role="status">{t('common.loading')}</p>}
      {data && (
        <div class="table-wrap">
          <table class="list" data-testid="users">
            <thead>
              <tr>
                <th scope="col">{t('admin.username')}</th>
                <th scope="col">{t('admin.displayName')}</th>
                <th scope="col">{t('admin.role')}</th>
                <th scope="col">{t('admin.facility')}</th>
                <th scope="col">{t('admin.totp')}</th>
                <th scope="col">{t('admin.state')}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((u) => (
                <tr key={u.id}>
                  <td>{u.username}</td>
                  <td>{u.displayName}</td>
                  <td>{t(`roles.${u.role}`)}</td>
                  <td>{name(u.facilityId)}</td>
                  <td>{u.totpEnabled ? t('common.yes') : t('common.no')}</td>
                  <td>{u.disabled ? t('admin.disabled') : t('admin.active')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="small muted">
        {t('admin.changesViaApi')} <a href="/api/docs">/api/docs</a>
      </p>
    </section>
  );
}

export function AdminFacilitiesPage() {
  const { data, error } = useLoad(facilities);
  return (
    <section class="page" aria-labelledby="fac-title">
      <h1 id="fac-title">{t('admin.facilities')}</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {!data && !error && <p role="status">{t('common.loading')}</p>}
      {data && (
        <div class="table-wrap">
          <table class="list" data-testid="facilities">
            <thead>
              <tr>
                <th scope="col">{t('admin.facilityId')}</th>
                <th scope="col">{t('admin.facilityName')}</th>
                <th scope="col">{t('admin.tier')}</th>
                <th scope="col">{t('admin.parent')}</th>
                <th scope="col">{t('admin.aeTitles')}</th>
              </tr>
            </thead>
            <tbody>
              {data.map((f: Facility) => (
                <tr key={f.id}>
                  <td>
                    <code>{f.id}</code>
                  </td>
                  <td>{f.name}</td>
                  <td>{t(`tier.${f.tier}`)}</td>
                  <td>{f.parentId ? (data.find((x) => x.id === f.parentId)?.name ?? f.parentId) : '—'}</td>
                  <td>{(f.aeTitles ?? []).map((a) => a.aeTitle).join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="small muted">
        {t('admin.changesViaApi')} <a href="/api/docs">/api/docs</a>
      </p>
    </section>
  );
}
