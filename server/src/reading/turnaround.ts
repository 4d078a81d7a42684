/**
 * Turnaround targets: each priority has a target from request to signed report (config keys
 * RADLINK_TAT_*_MINUTES). A request's due time is fixed when it is created, so changing the
 * configuration never moves the goalposts of requests already waiting.
 */
import type { GatewayConfig } from '../config.js';

export const PRIORITIES = ['stat', 'urgent', 'routine'] as const;
export type Priority = (typeof PRIORITIES)[number];

export function tatMinutes(config: GatewayConfig, p: Priority): number {
  switch (p) {
    case 'stat':
      return config.RADLINK_TAT_STAT_MINUTES;
    case 'urgent':
      return config.RADLINK_TAT_URGENT_MINUTES;
    case 'routine':
      return config.RADLINK_TAT_ROUTINE_MINUTES;
  }
}

/** SQL rank of a priority (0 first), for the worklist order. */
export const PRIORITY_RANK_SQL = "CASE r.priority WHEN 'stat' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END";

/** SQL: the request is past its target — unsigned and overdue, or signed late. */
export const BREACHED_SQL =
  "((r.status NOT IN ('signed', 'cancelled') AND r.due_at < now()) OR (r.status = 'signed' AND r.signed_at > r.due_at))";
