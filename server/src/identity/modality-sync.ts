/**
 * Orthanc accepts C-STORE only from AE titles it knows (DicomAlwaysAllowStore: false). The
 * database is the source of truth for which AE title belongs to which facility; this pushes
 * that list to Orthanc's modality registry (DicomModalitiesInDatabase: true), adding new titles
 * and removing ones no longer configured. Run at start-up and after every change; idempotent.
 */
import type { OrthancClient } from '../plugins/orthanc.js';
import type { FacilityRepo } from './facilities.js';

/** Orthanc modality names are ours; the prefix keeps us from touching entries made by hand. */
const PREFIX = 'radlink-';

export async function syncModalities(
  orthanc: OrthancClient,
  facilities: FacilityRepo,
): Promise<{ added: number; removed: number }> {
  const wanted = await facilities.allAeTitles();
  const existing = await orthanc.json<string[]>('GET', '/modalities');
  const wantedNames = new Set(wanted.map((t) => `${PREFIX}${t.aeTitle.toLowerCase()}`));
  let added = 0;
  let removed = 0;
  for (const t of wanted) {
    await orthanc.json('PUT', `/modalities/${PREFIX}${encodeURIComponent(t.aeTitle.toLowerCase())}`, {
      AET: t.aeTitle,
      // Host/port matter only for C-MOVE/C-ECHO back to the modality; Orthanc does not check the host on store here.
      Host: t.host ?? '127.0.0.1',
      Port: t.port ?? 104,
      AllowEcho: true,
      AllowStore: true,
      AllowFind: false,
      AllowMove: false,
      AllowGet: false,
      AllowStorageCommitment: false,
    });
    added++;
  }
  for (const name of existing) {
    if (name.startsWith(PREFIX) && !wantedNames.has(name)) {
      await orthanc.json('DELETE', `/modalities/${encodeURIComponent(name)}`);
      removed++;
    }
  }
  return { added, removed };
}
