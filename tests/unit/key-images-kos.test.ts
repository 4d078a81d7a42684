/**
 * The key images' Key Object Selection (server/src/reading/key-images/kos.ts) as bytes: SOP class,
 * modality, document title, TID 2010 content (observer, one description with the notes, one IMAGE
 * item per mark with the frame only for multi-frame images), evidence grouped by series, UTF-8
 * Vietnamese intact; the UIDs of successive revisions differ; and the viewers never treat a KO
 * series as images (both series filters).
 */
import { describe, expect, it } from 'vitest';
import { readPart10 } from '../../server/src/reading/delivery/part10.js';
import {
  buildKeyObjectSelection,
  KEY_OBJECT_SELECTION,
  type KosReference,
  keyObjectDescription,
} from '../../server/src/reading/key-images/kos.js';
import { kosInstanceUid, kosSeriesUid } from '../../server/src/reading/key-images/publish.js';
import { isImageModality, NON_IMAGE_MODALITIES } from '../../viewer/src/api/modalities.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const MF = '1.2.840.10008.5.1.4.1.1.7.3';
const ref = (o: Partial<KosReference> & Pick<KosReference, 'sopInstanceUid'>): KosReference => ({
  seriesUid: '1.2.3.1',
  sopClassUid: CT,
  frame: 1,
  multiFrame: false,
  seriesNumber: 2,
  instanceNumber: 7,
  note: null,
  ...o,
});

const refs = [
  ref({ sopInstanceUid: '1.2.3.1.7', note: 'Nốt mờ thùy trên phổi phải, 8 mm' }),
  ref({ sopInstanceUid: '1.2.3.1.9', instanceNumber: 9 }),
  ref({
    seriesUid: '1.2.3.2',
    sopInstanceUid: '1.2.3.2.1',
    sopClassUid: MF,
    frame: 3,
    multiFrame: true,
    seriesNumber: 5,
    instanceNumber: 1,
    note: 'Khung 3',
  }),
];

const build = () =>
  buildKeyObjectSelection({
    studyUid: '1.2.3',
    seriesUid: kosSeriesUid('1.2.3'),
    sopInstanceUid: kosInstanceUid('1.2.3', 4),
    instanceNumber: 4,
    patientStudy: { PatientName: 'Nguyễn^Thị Hồng', PatientID: 'P-1', StudyDate: '20261124' },
    observerName: 'Bác sĩ Lê Văn Đức',
    createdAt: new Date('2026-11-24T10:20:30Z'),
    seriesDescription: 'Key images',
    references: refs,
  });

type Item = Record<string, unknown> & {
  ValueType: string;
  RelationshipType: string;
  ConceptNameCodeSequence?: { CodeValue: string }[];
  ReferencedSOPSequence?: Record<string, unknown>[];
};
/**
 * dcmjs's reader applies SpecificCharacterSet at the top level only and hands text inside
 * sequence items over as Latin-1 (the file itself holds UTF-8: pydicom and dcmdump read it so);
 * nested text is re-decoded here, and the file's bytes are checked for the UTF-8 too.
 */
const nestedUtf8 = (s: unknown) => Buffer.from(String(s), 'latin1').toString('utf8');
const hasUtf8 = (file: Buffer, text: string) => file.includes(Buffer.from(text, 'utf8'));
/** dcmjs gives a one-item sequence as an object or an array depending on the path. */
const seq = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : v ? [v as T] : []);

describe('Key Object Selection document', () => {
  it('is a KO of class 88.59 titled "Of Interest" after TID 2010, with the study and patient attributes', () => {
    const ds = readPart10(build());
    expect(ds.SOPClassUID).toBe(KEY_OBJECT_SELECTION);
    expect(ds.SOPInstanceUID).toBe(kosInstanceUid('1.2.3', 4));
    expect(ds.Modality).toBe('KO');
    expect(ds.Manufacturer).toBe('RadLink');
    expect(ds.SpecificCharacterSet).toBe('ISO_IR 192');
    expect(ds.StudyInstanceUID).toBe('1.2.3');
    expect(ds.InstanceNumber).toBe(4);
    expect(ds.ContentDate).toBe('20261124');
    expect(ds.ContentTime).toBe('102030');
    expect(ds.ValueType).toBe('CONTAINER');
    expect(
      seq<{ CodeValue: string; CodingSchemeDesignator: string; CodeMeaning: string }>(
        ds.ConceptNameCodeSequence,
      )[0],
    ).toMatchObject({ CodeValue: '113000', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Of Interest' });
    expect(seq<{ TemplateIdentifier: string }>(ds.ContentTemplateSequence)[0]?.TemplateIdentifier).toBe(
      '2010',
    );
    const name = ds.PatientName as { Alphabetic: string }[] | string;
    expect(Array.isArray(name) ? name[0]?.Alphabetic : name).toBe('Nguyễn^Thị Hồng');
    expect(ds.PatientID).toBe('P-1');
  });

  it('has the observer, one description with each note naming its image, and one IMAGE item per mark', () => {
    const file = build();
    const ds = readPart10(file);
    const items = seq<Item>(ds.ContentSequence);
    const [type, person, text, ...images] = items;
    expect(type?.RelationshipType).toBe('HAS OBS CONTEXT');
    expect(person?.ValueType).toBe('PNAME');
    const pn = person?.PersonName as { Alphabetic: string }[] | string;
    expect(nestedUtf8(Array.isArray(pn) ? pn[0]?.Alphabetic : pn)).toBe('Bác sĩ Lê Văn Đức');
    expect(hasUtf8(file, 'Bác sĩ Lê Văn Đức')).toBe(true);
    expect(text?.ValueType).toBe('TEXT');
    expect(
      text?.ConceptNameCodeSequence?.[0]?.CodeValue ??
        seq<{ CodeValue: string }>(text?.ConceptNameCodeSequence)[0]?.CodeValue,
    ).toBe('113012');
    const description =
      'Series 2, image 7: Nốt mờ thùy trên phổi phải, 8 mm\nSeries 5, image 1, frame 3: Khung 3';
    expect(nestedUtf8(text?.TextValue)).toBe(description);
    expect(hasUtf8(file, description)).toBe(true);
    expect(images.map((i) => i.ValueType)).toEqual(['IMAGE', 'IMAGE', 'IMAGE']);
    const sops = images.map((i) => seq<Record<string, unknown>>(i.ReferencedSOPSequence)[0]!);
    expect(sops.map((s) => s.ReferencedSOPInstanceUID)).toEqual(['1.2.3.1.7', '1.2.3.1.9', '1.2.3.2.1']);
    expect(sops.map((s) => s.ReferencedSOPClassUID)).toEqual([CT, CT, MF]);
    // The frame only where the image has frames.
    expect(sops.map((s) => s.ReferencedFrameNumber)).toEqual([undefined, undefined, 3]);
  });

  it('lists each referenced instance once as evidence, by series', () => {
    const twice = [...refs, { ...refs[2]!, frame: 5 }];
    const ds = readPart10(
      buildKeyObjectSelection({
        studyUid: '1.2.3',
        seriesUid: '1.2.3.9',
        sopInstanceUid: '1.2.3.9.1',
        instanceNumber: 1,
        patientStudy: {},
        observerName: 'A',
        createdAt: new Date(),
        seriesDescription: 'Key images',
        references: twice,
      }),
    );
    const [ev] = seq<{ StudyInstanceUID: string; ReferencedSeriesSequence: unknown }>(
      ds.CurrentRequestedProcedureEvidenceSequence,
    );
    expect(ev?.StudyInstanceUID).toBe('1.2.3');
    const series = seq<{ SeriesInstanceUID: string; ReferencedSOPSequence: unknown }>(
      ev?.ReferencedSeriesSequence,
    );
    expect(series.map((s) => s.SeriesInstanceUID)).toEqual(['1.2.3.1', '1.2.3.2']);
    expect(
      series.map((s) =>
        seq<{ ReferencedSOPInstanceUID: string }>(s.ReferencedSOPSequence).map(
          (r) => r.ReferencedSOPInstanceUID,
        ),
      ),
    ).toEqual([['1.2.3.1.7', '1.2.3.1.9'], ['1.2.3.2.1']]);
    // Two frames of one image: two IMAGE items.
    expect(seq<Item>(ds.ContentSequence).filter((i) => i.ValueType === 'IMAGE')).toHaveLength(4);
  });

  it('has no description without notes, and refuses an empty selection', () => {
    expect(keyObjectDescription([ref({ sopInstanceUid: '1.2' })])).toBeNull();
    const ds = readPart10(
      buildKeyObjectSelection({
        studyUid: '1.2.3',
        seriesUid: '1.2.3.9',
        sopInstanceUid: '1.2.3.9.2',
        instanceNumber: 1,
        patientStudy: {},
        observerName: 'A',
        createdAt: new Date(),
        seriesDescription: 'Key images',
        references: [ref({ sopInstanceUid: '1.2' })],
      }),
    );
    expect(seq<Item>(ds.ContentSequence).map((i) => i.ValueType)).toEqual(['CODE', 'PNAME', 'IMAGE']);
    expect(() =>
      buildKeyObjectSelection({
        studyUid: '1.2.3',
        seriesUid: '1.2.3.9',
        sopInstanceUid: '1.2.3.9.3',
        instanceNumber: 1,
        patientStudy: {},
        observerName: 'A',
        createdAt: new Date(),
        seriesDescription: 'Key images',
        references: [],
      }),
    ).toThrow(/at least one/);
  });

  it('gets a new SOP Instance UID per revision, in one series per study', () => {
    expect(kosInstanceUid('1.2.3', 1)).not.toBe(kosInstanceUid('1.2.3', 2));
    expect(kosInstanceUid('1.2.3', 1)).toBe(kosInstanceUid('1.2.3', 1));
    expect(kosInstanceUid('1.2.3', 1)).not.toBe(kosInstanceUid('1.2.4', 1));
    expect(kosSeriesUid('1.2.3')).not.toBe(kosSeriesUid('1.2.4'));
    for (const u of [kosInstanceUid('1.2.3', 1), kosSeriesUid('1.2.3')]) {
      expect(u).toMatch(/^2\.25\.[1-9][0-9]*$/);
      expect(u.length).toBeLessThanOrEqual(64);
    }
  });
});

describe('viewers and a KO series', () => {
  it('neither the study viewer nor the patient pages show a KO series as images (one shared list)', () => {
    expect(isImageModality('KO')).toBe(false);
    for (const m of ['SEG', 'SR', 'DOC', 'PR']) expect(isImageModality(m)).toBe(false);
    for (const m of ['CT', 'MR', 'CR', 'US', 'XA']) expect(isImageModality(m)).toBe(true);
    expect(isImageModality(null)).toBe(true);
    expect(NON_IMAGE_MODALITIES.has('KO')).toBe(true);
  });
});
