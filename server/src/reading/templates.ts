/**
 * Report templates per modality and body region, in Vietnamese and English. A template is data:
 * its fields (free text or a choice from fixed options) and which of them must be filled before
 * the report can be signed. Stored reports keep the template id and the field values only, so a
 * template's labels can be corrected without touching signed reports; a field key, once used,
 * is never reused with another meaning.
 */
import { AppError } from '../plugins/errors.js';
import type { Json } from './canonical.js';

export type Lang = 'vi' | 'en';
type Text = Record<Lang, string>;

export interface TemplateField {
  key: string;
  label: Text;
  kind: 'text' | 'choice';
  /** For `choice`: the stored value and its labels. */
  options?: { value: string; label: Text }[];
  requiredToSign?: boolean;
}

export interface ReportTemplate {
  id: string;
  modalities: string[];
  region: string;
  title: Text;
  fields: TemplateField[];
}

const YES_NO = [
  { value: 'no', label: { vi: 'Không', en: 'No' } },
  { value: 'yes', label: { vi: 'Có', en: 'Yes' } },
];
const technique: TemplateField = {
  key: 'technique',
  label: { vi: 'Kỹ thuật', en: 'Technique' },
  kind: 'text',
};
const comparison: TemplateField = {
  key: 'comparison',
  label: { vi: 'So sánh với phim cũ', en: 'Comparison' },
  kind: 'text',
};
const findings: TemplateField = { key: 'findings', label: { vi: 'Mô tả', en: 'Findings' }, kind: 'text' };
const impression: TemplateField = {
  key: 'impression',
  label: { vi: 'Kết luận', en: 'Impression' },
  kind: 'text',
  requiredToSign: true,
};
const recommendation: TemplateField = {
  key: 'recommendation',
  label: { vi: 'Đề nghị', en: 'Recommendation' },
  kind: 'text',
};

export const TEMPLATES: readonly ReportTemplate[] = [
  {
    id: 'ct-head',
    modalities: ['CT'],
    region: 'head',
    title: { vi: 'CT sọ não', en: 'CT head' },
    fields: [
      technique,
      comparison,
      {
        key: 'haemorrhage',
        label: { vi: 'Xuất huyết nội sọ', en: 'Intracranial haemorrhage' },
        kind: 'choice',
        options: YES_NO,
        requiredToSign: true,
      },
      {
        key: 'midline_shift',
        label: { vi: 'Di lệch đường giữa', en: 'Midline shift' },
        kind: 'choice',
        options: YES_NO,
      },
      { key: 'parenchyma', label: { vi: 'Nhu mô não', en: 'Brain parenchyma' }, kind: 'text' },
      { key: 'ventricles', label: { vi: 'Hệ thống não thất', en: 'Ventricular system' }, kind: 'text' },
      { key: 'bones', label: { vi: 'Xương sọ', en: 'Skull' }, kind: 'text' },
      impression,
      recommendation,
    ],
  },
  {
    id: 'ct-chest',
    modalities: ['CT'],
    region: 'chest',
    title: { vi: 'CT lồng ngực', en: 'CT chest' },
    fields: [
      technique,
      comparison,
      { key: 'lungs', label: { vi: 'Nhu mô phổi', en: 'Lungs' }, kind: 'text' },
      {
        key: 'nodules',
        label: { vi: 'Nốt phổi', en: 'Pulmonary nodules' },
        kind: 'choice',
        options: YES_NO,
        requiredToSign: true,
      },
      { key: 'pleura', label: { vi: 'Màng phổi', en: 'Pleura' }, kind: 'text' },
      { key: 'mediastinum', label: { vi: 'Trung thất', en: 'Mediastinum' }, kind: 'text' },
      impression,
      recommendation,
    ],
  },
  {
    id: 'mr-brain',
    modalities: ['MR'],
    region: 'head',
    title: { vi: 'Cộng hưởng từ sọ não', en: 'MR brain' },
    fields: [
      technique,
      comparison,
      {
        key: 'diffusion_restriction',
        label: { vi: 'Hạn chế khuếch tán', en: 'Diffusion restriction' },
        kind: 'choice',
        options: YES_NO,
        requiredToSign: true,
      },
      { key: 'parenchyma', label: { vi: 'Nhu mô não', en: 'Brain parenchyma' }, kind: 'text' },
      impression,
      recommendation,
    ],
  },
  {
    id: 'cr-chest',
    modalities: ['CR', 'DX'],
    region: 'chest',
    title: { vi: 'X-quang ngực thẳng', en: 'Chest radiograph' },
    fields: [findings, impression, recommendation],
  },
  {
    id: 'generic',
    modalities: [],
    region: 'any',
    title: { vi: 'Kết quả chẩn đoán hình ảnh', en: 'Imaging report' },
    fields: [technique, comparison, findings, impression, recommendation],
  },
];

const BY_ID = new Map(TEMPLATES.map((t) => [t.id, t]));

export function templateById(id: string): ReportTemplate | undefined {
  return BY_ID.get(id);
}

/** Templates for a modality (and the generic one, which fits every study). */
export function templatesFor(modality?: string): ReportTemplate[] {
  return TEMPLATES.filter((t) => !modality || t.modalities.length === 0 || t.modalities.includes(modality));
}

export const MAX_FIELD_CHARS = 8000;

/**
 * Checks draft field values against the template and returns them NFC-normalised (Vietnamese
 * typed on different keyboards arrives in NFC or NFD; the signed bytes must be one form).
 * Empty values are dropped, so "not filled" has one representation.
 */
export function normaliseFields(t: ReportTemplate, fields: Record<string, unknown>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [key, raw] of Object.entries(fields)) {
    const f = t.fields.find((x) => x.key === key);
    if (!f) throw new AppError('RADLINK_VALIDATION', `Template ${t.id} has no field "${key}".`);
    if (typeof raw !== 'string') throw new AppError('RADLINK_VALIDATION', `Field "${key}" must be a string.`);
    const value = raw.normalize('NFC').trim();
    if (value.length > MAX_FIELD_CHARS)
      throw new AppError(
        'RADLINK_VALIDATION',
        `Field "${key}" is longer than ${MAX_FIELD_CHARS} characters.`,
      );
    if (value === '') continue;
    if (f.kind === 'choice' && !f.options?.some((o) => o.value === value))
      throw new AppError(
        'RADLINK_VALIDATION',
        `Field "${key}" must be one of: ${f.options?.map((o) => o.value).join(', ')}.`,
      );
    out[key] = value;
  }
  return out;
}

/** The required fields still empty: a report cannot be signed until this is empty. */
export function missingToSign(t: ReportTemplate, fields: Record<string, Json>): string[] {
  return t.fields.filter((f) => f.requiredToSign && !fields[f.key]).map((f) => f.key);
}
