/** Facilities and users (admin lists; the facility list also addresses read requests). */
import { json } from './http.js';
import type { Facility, User } from './types.js';

export const facilities = () => json<Facility[]>('GET', '/api/facilities');
export const users = () => json<User[]>('GET', '/api/users');
