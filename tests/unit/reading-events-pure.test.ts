/**
 * Who receives which live event (the SSE filter), and the event-stream syntax.
 */
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../server/src/identity/principal.js';
import type { ReadingEvent } from '../../server/src/reading/events.js';
import { formatEvent, mayReceive } from '../../server/src/reading/events-stream.js';

const event = (recipients: string[] | null = null): ReadingEvent => ({
  id: '12',
  type: recipients ? 'stat.escalated' : 'request.created',
  at: '2026-01-01T00:00:00.000Z',
  recipients,
  data: {
    requestId: 'req-1',
    studyUid: '1.2.3',
    status: 'requested',
    priority: 'stat',
    specialtyPool: 'neuro',
    requestingFacilityId: 'huyen',
    targetFacilityId: 'trung-uong',
    claimedById: null,
    ...(recipients ? { recipients, level: 1, audience: 'pool' as const } : {}),
  },
});

const who = (role: Principal['role'], facilityId: string | null, userId = 'u1'): Principal => ({
  kind: 'user',
  userId,
  username: userId,
  role,
  facilityId,
  sessionId: 's',
  via: 'bearer',
});

describe('mayReceive', () => {
  it.each([
    ['a referring doctor of the requesting facility', who('referring_doctor', 'huyen'), true],
    ['a radiologist of the requesting facility', who('radiologist', 'huyen'), true],
    ['a radiologist of the target', who('radiologist', 'trung-uong'), true],
    ['a facility admin of the target', who('facility_admin', 'trung-uong'), true],
    ['a referring doctor of the target (not a reader)', who('referring_doctor', 'trung-uong'), false],
    ['a radiologist of a third facility', who('radiologist', 'tinh'), false],
    ['a system admin', who('system_admin', null), true],
    ['a model manager', who('model_manager', null), false],
    ['a share-link holder', { ...who('patient', null), kind: 'share' as const }, false],
  ])('an unaddressed event reaches %s: %s', (_, p, expected) => {
    expect(mayReceive(p, event())).toBe(expected);
  });

  it('an addressed event reaches its recipients only, and only if they may see the request', () => {
    const e = event(['u1', 'u2']);
    expect(mayReceive(who('radiologist', 'trung-uong', 'u1'), e)).toBe(true);
    expect(mayReceive(who('radiologist', 'trung-uong', 'u3'), e)).toBe(false);
    expect(mayReceive(who('system_admin', null, 'u9'), e)).toBe(false);
    expect(mayReceive(who('radiologist', 'tinh', 'u2'), e)).toBe(false);
  });
});

describe('formatEvent', () => {
  it('writes id, event and one data line of JSON, ended by a blank line', () => {
    const text = formatEvent(event());
    expect(text).toBe(`id: 12\nevent: request.created\ndata: ${JSON.stringify(event().data)}\n\n`);
    expect(text.split('\n')).toHaveLength(5);
  });
});
