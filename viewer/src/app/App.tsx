/**
 * The application: the patient share page and the public check of a printed report stand alone
 * (no shell, no staff session); every
 * other route needs a logged-in user and is drawn inside the shell, as allowed by the role.
 */
import { useEffect } from 'preact/hooks';
import { me } from '../api/auth.js';
import { ApiError } from '../api/http.js';
import { AdminFacilitiesPage, AdminUsersPage } from './admin/AdminPages.js';
import { LoginPage } from './LoginPage.js';
import { lazyPage } from './lazy.js';
import { PatientPage } from './patient/PatientPage.js';
import { PublicVerifyPage } from './report/PublicVerifyPage.js';
import { MyRequestsPage } from './requests/MyRequestsPage.js';
import { RequestFormPage } from './requests/RequestFormPage.js';
import { allowed, homeFor } from './routes.js';
import { SearchPage } from './search/SearchPage.js';
import { currentUser, language, navigate, route, watchRoute } from './session.js';
import { Shell } from './shell/Shell.js';
import { StudyPage } from './study/StudyPage.js';
import { t } from './t.js';
import { WorklistPage } from './worklist/WorklistPage.js';

const UploadPage = lazyPage(() => import('./upload/UploadPage.js').then((m) => m.UploadPage));

export function App() {
  // Read so that a language switch re-renders every page.
  void language.value;
  const r = route.value;
  useEffect(() => watchRoute(), []);
  useEffect(() => {
    if (r.name === 'share' || r.name === 'verify' || currentUser.value !== undefined) return;
    me()
      .then((u) => {
        currentUser.value = u;
      })
      .catch((e) => {
        if (!(e instanceof ApiError)) console.warn('session check failed', e);
        currentUser.value = null;
      });
  }, [r.name]);

  if (r.name === 'share') return <PatientPage token={r.token} />;
  // A printed report's QR code: anyone may check it, without an account.
  if (r.name === 'verify') return <PublicVerifyPage reportId={r.reportId} code={r.code} />;
  const user = currentUser.value;
  if (user === undefined)
    return (
      <p class="loading" role="status">
        {t('common.loading')}
      </p>
    );
  if (user === null) return <LoginPage />;
  if (r.name === 'login' || !allowed(user.role, r)) {
    navigate(`#/${homeFor(user.role)}`);
    return null;
  }
  return <Shell user={user}>{page(r)}</Shell>;
}

function page(r: typeof route.value) {
  switch (r.name) {
    case 'worklist':
      return <WorklistPage />;
    case 'requests':
      return <MyRequestsPage />;
    case 'search':
      return <SearchPage />;
    case 'upload':
      return <UploadPage />;
    case 'new-request':
      return <RequestFormPage studyUid={r.studyUid} />;
    case 'study':
      return <StudyPage studyUid={r.studyUid} requestId={r.requestId} />;
    case 'users':
      return <AdminUsersPage />;
    case 'facilities':
      return <AdminFacilitiesPage />;
    default:
      return (
        <section class="page">
          <h1>{t('errors.notFoundTitle')}</h1>
          <p>{t('errors.notFound')}</p>
        </section>
      );
  }
}
