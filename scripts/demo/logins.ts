/**
 * Demo accounts created by scripts/demo/load.ts. DEMO ONLY: these passwords are published in
 * README; a real installation starts with RADLINK_DEMO=0 and sets its own.
 */
import type { Role } from '../../contracts/roles.js';

export interface DemoLogin {
  username: string;
  password: string;
  role: Role;
  facilityId: string | null;
  displayName: string;
}

export const DEMO_ADMIN_PASSWORD = 'demo-admin-2026';

export const DEMO_LOGINS: readonly DemoLogin[] = [
  {
    username: 'admin',
    password: DEMO_ADMIN_PASSWORD,
    role: 'system_admin',
    facilityId: null,
    displayName: 'Quản trị hệ thống',
  },
  {
    username: 'bs.hoa',
    password: 'demo-radiologist-2026',
    role: 'radiologist',
    facilityId: 'bv-trung-uong',
    displayName: 'BS. Nguyễn Thị Hoa (CĐHA)',
  },
  {
    username: 'bs.minh',
    password: 'demo-referrer-2026',
    role: 'referring_doctor',
    facilityId: 'ttyt-huyen-demo',
    displayName: 'BS. Lê Văn Minh',
  },
  {
    username: 'qt.tinh',
    password: 'demo-facadmin-2026',
    role: 'facility_admin',
    facilityId: 'bv-tinh-demo',
    displayName: 'Quản trị BV Tỉnh',
  },
  {
    username: 'ai.manager',
    password: 'demo-models-2026',
    role: 'model_manager',
    facilityId: null,
    displayName: 'Quản lý mô hình AI',
  },
];
