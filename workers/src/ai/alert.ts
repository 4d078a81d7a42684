/**
 * The manifest's alert rule: a study is flagged when at least `minCount` findings (of the
 * listed channels, or any finding channel) have a longest diameter (axial or 3-D, as the rule
 * says) ≥ minLongestDiameterMm and a confidence ≥ minConfidence. The reason names the rule and
 * the findings that fired it, for the worklist and the audit trail.
 */
import type { AlertRule } from '../../../contracts/model-manifest.js';
import type { Finding } from './postprocess.js';

export interface AlertDecision {
  flagged: boolean;
  /** 1-based finding indices that satisfy the rule. */
  matching: number[];
  reason: string;
}

export function evaluateAlert(findings: readonly Finding[], rule: AlertRule): AlertDecision {
  const matching = findings.filter((f) => {
    if (rule.labels && !rule.labels.includes(f.label)) return false;
    const d = rule.diameter === 'axial' ? f.axialLongestDiameterMm : f.longestDiameterMm;
    return d >= rule.minLongestDiameterMm && f.confidence >= rule.minConfidence;
  });
  const flagged = matching.length >= rule.minCount;
  const sizes = matching
    .map(
      (f) => `${(rule.diameter === 'axial' ? f.axialLongestDiameterMm : f.longestDiameterMm).toFixed(0)} mm`,
    )
    .join(', ');
  return {
    flagged,
    matching: matching.map((f) => f.index),
    reason: flagged
      ? `${matching.length} finding(s) meet "${rule.description}" (${sizes})`
      : `no finding meets "${rule.description}" (${matching.length} of ${rule.minCount} required)`,
  };
}
