/**
 * Shared set-up of the remote-reading tests: three facilities (a district requester, a central
 * reader, an unrelated provincial one), their users, and studies inserted straight into the
 * index (no Orthanc needed for the reading workflow).
 */
import { expect } from 'vitest';
import { bearer, type TestApp } from '../helpers/app.js';

export const PASSWORD = 'correct horse battery';
export const PIN = '246810';

export interface ReadingWorld {
  district: string;
  central: string;
  other: string;
  tokens: Record<'doctor' | 'rad1' | 'rad2' | 'otherRad' | 'otherDoctor' | 'centralAdmin', string>;
  ids: Record<'doctor' | 'rad1' | 'rad2' | 'otherRad', string>;
}

let uidSeq = 0;
export function newStudyUid(): string {
  return `2.25.${Date.now()}${process.pid}${++uidSeq}`;
}

export async function insertStudy(
  t: TestApp,
  facilityId: string,
  uid = newStudyUid(),
  extra: { aiFlag?: boolean; modality?: string } = {},
) {
  await t.db.query(
    `INSERT INTO studies (study_uid, facility_id, patient_id, issuer_of_patient_id, patient_name, patient_name_folded,
                          patient_sex, patient_birth_date, study_date, study_description, modalities, num_instances, ai_flag)
     VALUES ($1, $2, $3, 'BV', 'Trần^Thị Thử', 'tran thi thu', 'F', '19700101', '20250101', 'CT sọ não', $4, 120, $5)`,
    [uid, facilityId, `P${uid.slice(-8)}`, [extra.modality ?? 'CT'], extra.aiFlag ?? null],
  );
  return uid;
}

export async function setupWorld(t: TestApp, suffix: string): Promise<ReadingWorld> {
  const admin = await t.adminToken();
  const district = `huyen-${suffix}`;
  const central = `trung-uong-${suffix}`;
  const other = `tinh-${suffix}`;
  for (const [id, name, tier] of [
    [central, 'Bệnh viện Trung ương Thử', 'central'],
    [district, 'Trung tâm Y tế Huyện Thử', 'district'],
    [other, 'Bệnh viện Tỉnh Khác', 'provincial'],
  ] as const) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/facilities',
      headers: bearer(admin),
      payload: { id, name, tier, parentId: null },
    });
    expect(res.statusCode, res.body).toBe(201);
  }
  const ids: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  const users: [string, string, string, string][] = [
    ['doctor', 'referring_doctor', district, 'Bác sĩ Lê Văn Huyện'],
    ['rad1', 'radiologist', central, 'BS. Phạm Thị Đọc'],
    ['rad2', 'radiologist', central, 'BS. Hoàng Văn Hai'],
    ['otherRad', 'radiologist', other, 'BS. Ngô Khác'],
    ['otherDoctor', 'referring_doctor', other, 'BS. Đinh Khác'],
    ['centralAdmin', 'facility_admin', central, 'Quản trị Trung ương'],
  ];
  for (const [key, role, facilityId, displayName] of users) {
    const username = `${key.toLowerCase()}.${suffix}`;
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/users',
      headers: bearer(admin),
      payload: { username, displayName, role, facilityId, password: PASSWORD },
    });
    expect(res.statusCode, res.body).toBe(201);
    ids[key] = (res.json() as { id: string }).id;
    tokens[key] = await t.login(username, PASSWORD);
  }
  return { district, central, other, tokens, ids } as ReadingWorld;
}

export async function api(
  t: TestApp,
  token: string,
  method: 'GET' | 'POST' | 'PUT',
  url: string,
  payload?: object,
) {
  return t.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
}
