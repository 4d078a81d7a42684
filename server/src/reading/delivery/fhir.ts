/**
 * FHIR R4 resources for hospital systems: the read request as a ServiceRequest and the signed
 * report as a DiagnosticReport. Pure mapping from the stored records; the routes (fhir-routes.ts)
 * decide who may see what.
 *
 * Choices, with the R4 rule each follows:
 *  - The patient, the signing radiologist and the facilities are `contained` resources
 *    (DomainResource.contained; each is referenced from the resource, as dom-3 requires), since
 *    RadLink serves no Patient/Practitioner endpoints. The patient carries every identifier we
 *    hold, each with its issuer (hospital ID, BHXH, CCCD), never merged by name.
 *  - The study is referenced by its DICOM Study Instance UID as an identifier
 *    (system `urn:dicom:uid`, value `urn:oid:<uid>`), the convention of ImagingStudy.identifier.
 *  - Status maps: a read request requested/claimed/reported → active, signed → completed,
 *    cancelled → revoked; a report draft → preliminary, signed → final, signed with signed
 *    addenda → appended.
 *  - presentedForm is the signed PDF: url, size, and hash (base64 SHA-1, as Attachment.hash
 *    defines it).
 */

import type { Measurement } from './measurements.js';
import { displayName } from './pdf.js';

export const FHIR_JSON = 'application/fhir+json';

export interface FhirPatientData {
  name: string | null;
  id: string | null;
  issuer: string | null;
  otherIds: { id: string; issuer: string | null; type: string | null }[];
  sex: string | null;
  birthDate: string | null;
}

export interface FhirStudyData {
  uid: string;
  date: string | null;
  time: string | null;
  description: string | null;
  modalities: string[];
}

export interface FhirRequestData {
  id: string;
  status: 'requested' | 'claimed' | 'reported' | 'signed' | 'cancelled';
  priority: 'routine' | 'urgent' | 'stat';
  accessionNumber: string;
  clinicalInfo: string;
  question: string;
  createdAt: string;
  requester: { id: string; name: string };
  requestingFacility: { id: string; name: string };
  targetFacility: { id: string; name: string };
}

export interface FhirReportData {
  id: string;
  parentReportId: string | null;
  status: 'draft' | 'final';
  hasAddenda: boolean;
  language: 'vi' | 'en';
  title: string;
  conclusion: string | null;
  signer: { id: string; name: string } | null;
  signedAt: string | null;
  updatedAt: string;
  measurements: Measurement[];
  /** sha1Base64 is null when the PDF could not be read just now (S3 unreachable). */
  pdf: { url: string; sizeBytes: number; sha1Base64: string | null } | null;
  addenda: { id: string }[];
}

const DICOM_UID = 'urn:dicom:uid';
const RADLINK = 'https://radlink.example/fhir';
const ns = (what: string) => `${RADLINK}/sid/${what}`;

type Json = Record<string, unknown>;
export type Resource = { resourceType: string; id?: string } & Json;

/** DICOM DA YYYYMMDD → FHIR date; anything malformed is left out rather than guessed. */
export function fhirDate(da: string | null): string | undefined {
  const m = da ? /^(\d{4})(\d{2})(\d{2})$/.exec(da) : null;
  return m ? `${m[1]}-${m[2]}-${m[3]}` : undefined;
}

export function fhirGender(sex: string | null): 'male' | 'female' | 'other' | 'unknown' {
  return sex === 'M' ? 'male' : sex === 'F' ? 'female' : sex === 'O' ? 'other' : 'unknown';
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function narrative(lines: string[]): Json {
  return {
    status: 'generated',
    div: `<div xmlns="http://www.w3.org/1999/xhtml">${lines.map((l) => `<p>${escapeXml(l)}</p>`).join('')}</div>`,
  };
}

function patientResource(p: FhirPatientData): Json {
  const identifier: Json[] = [];
  if (p.id)
    identifier.push({
      use: 'usual',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
      system: p.issuer ? ns(`patient-id/${encodeURIComponent(p.issuer)}`) : ns('patient-id'),
      value: p.id,
      ...(p.issuer ? { assigner: { display: p.issuer } } : {}),
    });
  for (const o of p.otherIds)
    identifier.push({
      use: 'secondary',
      system: o.issuer ? ns(`patient-id/${encodeURIComponent(o.issuer)}`) : ns('other-patient-id'),
      value: o.id,
      ...(o.type ? { type: { text: o.type } } : {}),
      ...(o.issuer ? { assigner: { display: o.issuer } } : {}),
    });
  const parts = (p.name ?? '').split('=')[0]!.split('^');
  const family = parts[0]?.trim();
  const given = [parts[1], parts[2]]
    .filter((x): x is string => !!x?.trim())
    .flatMap((x) => x.trim().split(/\s+/));
  const birthDate = fhirDate(p.birthDate);
  return {
    resourceType: 'Patient',
    id: 'patient',
    ...(identifier.length ? { identifier } : {}),
    ...(p.name
      ? {
          name: [
            {
              use: 'official',
              text: displayName(p.name),
              ...(family ? { family } : {}),
              ...(given.length ? { given } : {}),
            },
          ],
        }
      : {}),
    gender: fhirGender(p.sex),
    ...(birthDate ? { birthDate } : {}),
  };
}

function organization(id: string, f: { id: string; name: string }): Json {
  return {
    resourceType: 'Organization',
    id,
    identifier: [{ system: ns('facility'), value: f.id }],
    name: f.name,
  };
}

function practitioner(id: string, u: { id: string; name: string }): Json {
  return {
    resourceType: 'Practitioner',
    id,
    identifier: [{ system: ns('user'), value: u.id }],
    name: [{ text: u.name }],
  };
}

const studyRef = (uid: string) => ({
  type: 'ImagingStudy',
  identifier: { system: DICOM_UID, value: `urn:oid:${uid}` },
});

const SR_STATUS = {
  requested: 'active',
  claimed: 'active',
  reported: 'active',
  signed: 'completed',
  cancelled: 'revoked',
} as const;

export function serviceRequest(
  req: FhirRequestData,
  patient: FhirPatientData,
  study: FhirStudyData,
): Resource {
  return {
    resourceType: 'ServiceRequest',
    id: req.id,
    text: narrative([`${req.priority.toUpperCase()} — ${req.question}`, req.clinicalInfo]),
    contained: [
      patientResource(patient),
      practitioner('requester', req.requester),
      organization('requesting-facility', req.requestingFacility),
      organization('reading-facility', req.targetFacility),
    ],
    identifier: [
      { system: ns('read-request'), value: req.id },
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'ACSN' }] },
        system: ns('accession'),
        value: req.accessionNumber,
        assigner: { reference: '#requesting-facility' },
      },
    ],
    status: SR_STATUS[req.status],
    intent: 'order',
    category: [{ coding: [{ system: 'http://snomed.info/sct', code: '363679005', display: 'Imaging' }] }],
    priority: req.priority,
    code: {
      coding: [{ system: 'http://loinc.org', code: '18748-4', display: 'Diagnostic imaging study' }],
      text: study.description ?? 'Remote read',
    },
    subject: { reference: '#patient' },
    authoredOn: req.createdAt,
    requester: { reference: '#requester', display: req.requester.name },
    performer: [{ reference: '#reading-facility', display: req.targetFacility.name }],
    reasonCode: [{ text: req.question }],
    note: [{ text: req.clinicalInfo }],
    supportingInfo: [studyRef(study.uid)],
  };
}

const UCUM: Record<string, { unit: string; code: string }> = {
  mm: { unit: 'mm', code: 'mm' },
  cm: { unit: 'cm', code: 'cm' },
  deg: { unit: '°', code: 'deg' },
  mm2: { unit: 'mm²', code: 'mm2' },
  cm2: { unit: 'cm²', code: 'cm2' },
  HU: { unit: 'HU', code: "[hnsf'U]" },
};

function observation(m: Measurement, issued: string | null, subject: Json): Json {
  const u = UCUM[m.unit];
  return {
    resourceType: 'Observation',
    id: `m${m.n}`,
    status: 'final',
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'imaging' }],
      },
    ],
    code: { text: m.label ? `${m.kind}: ${m.label}` : m.kind },
    subject,
    ...(issued ? { issued } : {}),
    valueQuantity: {
      value: m.value,
      unit: u?.unit ?? m.unit,
      ...(u ? { system: 'http://unitsofmeasure.org', code: u.code } : {}),
    },
    derivedFrom: [
      {
        type: 'ImagingStudy',
        identifier: { system: DICOM_UID, value: `urn:oid:${m.sopInstanceUid}` },
        display: `SOP Instance ${m.sopInstanceUid} (series ${m.seriesUid})`,
      },
    ],
  };
}

export function diagnosticReport(
  rep: FhirReportData,
  req: FhirRequestData,
  patient: FhirPatientData,
  study: FhirStudyData,
): Resource {
  const status = rep.status === 'draft' ? 'preliminary' : rep.hasAddenda ? 'appended' : 'final';
  const effective = fhirDate(study.date);
  const observations = rep.measurements.map((m) => observation(m, rep.signedAt, { reference: '#patient' }));
  return {
    resourceType: 'DiagnosticReport',
    id: rep.id,
    text: narrative([rep.title, ...(rep.conclusion ? [rep.conclusion] : [])]),
    contained: [
      patientResource(patient),
      organization('reading-facility', req.targetFacility),
      ...(rep.signer ? [practitioner('signer', rep.signer)] : []),
      ...observations,
    ],
    identifier: [{ system: ns('report'), value: rep.id }],
    basedOn: [{ reference: `ServiceRequest/${req.id}` }],
    status,
    category: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'RAD', display: 'Radiology' },
        ],
      },
    ],
    code: {
      coding: [{ system: 'http://loinc.org', code: '18748-4', display: 'Diagnostic imaging study' }],
      text: rep.title,
    },
    subject: { reference: '#patient' },
    ...(effective ? { effectiveDateTime: effective } : {}),
    issued: rep.signedAt ?? rep.updatedAt,
    performer: [{ reference: '#reading-facility', display: req.targetFacility.name }],
    ...(rep.signer ? { resultsInterpreter: [{ reference: '#signer', display: rep.signer.name }] } : {}),
    ...(observations.length ? { result: observations.map((o) => ({ reference: `#${o.id}` })) } : {}),
    imagingStudy: [studyRef(study.uid)],
    ...(rep.conclusion ? { conclusion: rep.conclusion } : {}),
    ...(rep.pdf
      ? {
          presentedForm: [
            {
              contentType: 'application/pdf',
              language: rep.language,
              url: rep.pdf.url,
              size: rep.pdf.sizeBytes,
              ...(rep.pdf.sha1Base64 ? { hash: rep.pdf.sha1Base64 } : {}),
              title: rep.title,
              ...(rep.signedAt ? { creation: rep.signedAt } : {}),
            },
          ],
        }
      : {}),
    ...(rep.addenda.length
      ? {
          extension: rep.addenda.map((a) => ({
            url: `${RADLINK}/StructureDefinition/addendum`,
            valueReference: { reference: `DiagnosticReport/${a.id}` },
          })),
        }
      : {}),
  };
}

export function searchBundle(resources: Resource[], selfUrl: string, base: string): Resource {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    link: [{ relation: 'self', url: selfUrl }],
    entry: resources.map((r) => ({
      fullUrl: `${base}/api/fhir/${r.resourceType}/${r.id}`,
      resource: r,
      search: { mode: 'match' },
    })),
  };
}
