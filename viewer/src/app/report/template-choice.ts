/**
 * Which report template fits a study: the modality, and the body region read from the study
 * description (Vietnamese or English words). A template for another region ranks below the
 * generic one, so an abdominal CT never defaults to the CT head template. Pure, unit-tested.
 */
import type { ReportTemplate } from '../../api/types.js';

/** Whole words only; `\b` is ASCII-only and would split Vietnamese words at their marks. */
const words = (...w: string[]) => new RegExp(`(?<![\\p{L}\\p{N}])(${w.join('|')})(?![\\p{L}\\p{N}])`, 'iu');

const REGION_WORDS: Record<string, RegExp> = {
  head: words('head', 'brain', 'skull', 'sọ', 'não', 'đầu'),
  chest: words('chest', 'thorax', 'lung', 'ngực', 'phổi'),
  abdomen: words('abdomen', 'abd', 'abdominal', 'liver', 'bụng', 'gan'),
  pelvis: words('pelvis', 'pelvic', 'rectum', 'tiểu khung', 'chậu', 'trực tràng'),
  spine: words('spine', 'cột sống'),
};

export function regionOf(description: string | null | undefined): string | null {
  if (!description) return null;
  const text = description.normalize('NFC');
  for (const [region, re] of Object.entries(REGION_WORDS)) if (re.test(text)) return region;
  return null;
}

export function rankTemplates(
  templates: readonly ReportTemplate[],
  modalities: readonly string[],
  description: string | null | undefined,
): ReportTemplate[] {
  const region = regionOf(description);
  const score = (t: ReportTemplate) => {
    const modality = t.modalities.some((m) => modalities.includes(m)) ? 2 : t.modalities.length === 0 ? 1 : 0;
    const where = region === null ? 0 : t.region === region ? 2 : t.region === 'any' ? 1 : -2;
    return modality + where;
  };
  return templates
    .map((t, i) => ({ t, i, s: score(t) }))
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .map((x) => x.t);
}
