/**
 * The study viewer's pure logic (viewer/src/imaging): slice order and load order, the scale bar,
 * window presets and the MR auto window, measurements as the shell receives them, keyboard
 * shortcuts, and the imaging translations (same keys in Vietnamese and English, every key the
 * code uses present). Table-driven; no browser.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/services/paths.js';
import {
  loadOrder,
  middleIndex,
  prefetchBudget,
  scaleBar,
  sliceNormal,
  sortInstances,
} from '../../viewer/src/imaging/geometry.js';
import { formatMeasurement, toMeasurement, toMeasurements } from '../../viewer/src/imaging/measurements.js';
import { autoWindow, CT_PRESETS } from '../../viewer/src/imaging/presets.js';
import { actionFor, SHORTCUTS } from '../../viewer/src/imaging/shortcuts.js';

const AXIAL = [1, 0, 0, 0, 1, 0] as [number, number, number, number, number, number];

describe('slice order', () => {
  it('the axial normal is +z, the sagittal one +x', () => {
    expect(sliceNormal(AXIAL)).toEqual([0, 0, 1]);
    expect(sliceNormal([0, 1, 0, 0, 0, -1])).toEqual([-1, 0, 0]);
  });

  it('sorts an axial stack head first by position, whatever the instance numbers say', () => {
    const mk = (sop: string, n: number, z: number) => ({
      sopInstanceUid: sop,
      instanceNumber: n,
      numberOfFrames: 1,
      position: [0, 0, z] as [number, number, number],
      orientation: AXIAL,
    });
    const sorted = sortInstances([mk('a', 1, -10), mk('b', 2, 10), mk('c', 3, 0)]);
    expect(sorted.map((x) => x.sopInstanceUid)).toEqual(['b', 'c', 'a']);
  });

  it('falls back to InstanceNumber when a position is missing', () => {
    const sorted = sortInstances([
      { sopInstanceUid: 'x', instanceNumber: 3, numberOfFrames: 1 },
      { sopInstanceUid: 'y', instanceNumber: 1, numberOfFrames: 1, position: [0, 0, 5], orientation: AXIAL },
      { sopInstanceUid: 'z', instanceNumber: 2, numberOfFrames: 1 },
    ]);
    expect(sorted.map((x) => x.sopInstanceUid)).toEqual(['y', 'z', 'x']);
  });

  it.each([
    [0, 0, []],
    [1, 0, [0]],
    [5, 2, [2, 3, 1, 4, 0]],
    [5, 0, [0, 1, 2, 3, 4]],
    [4, 3, [3, 2, 1, 0]],
    [4, 99, [3, 2, 1, 0]],
  ])('load order of %i slices from %i: %j', (count, start, expected) => {
    expect(loadOrder(count, start)).toEqual(expected);
  });

  it('load order covers every slice exactly once', () => {
    const order = loadOrder(300, 149);
    expect(new Set(order).size).toBe(300);
    expect(order[0]).toBe(149);
  });

  it.each([
    [1, 0],
    [2, 0],
    [3, 1],
    [24, 11],
    [300, 149],
  ])('middle of %i slices is %i', (n, m) => expect(middleIndex(n)).toBe(m));

  it('the prefetch budget keeps a long series within three quarters of the cache', () => {
    const slice = 512 * 512 * 2;
    expect(prefetchBudget(300, slice, 384 * 2 ** 20)).toBe(300);
    expect(prefetchBudget(2000, slice, 384 * 2 ** 20)).toBe(576);
    expect(prefetchBudget(10, 0, 1)).toBe(10);
  });
});

describe('scale bar', () => {
  it.each([
    // mm per pixel, max px → bar mm and px
    [0.5, 100, 50, 100],
    [0.5, 99, 20, 40],
    [1.4844, 240, 200, 134.73],
    [0.1, 60, 5, 50],
  ])('%f mm/px within %i px: %i mm', (mmpp, maxPx, mm, px) => {
    const bar = scaleBar(mmpp, maxPx)!;
    expect(bar.mm).toBe(mm);
    expect(bar.px).toBeCloseTo(px, 1);
    expect(bar.px).toBeLessThanOrEqual(maxPx);
  });

  it('no bar without a scale', () => {
    expect(scaleBar(0, 100)).toBeNull();
    expect(scaleBar(1, 0)).toBeNull();
  });
});

describe('window presets', () => {
  it('has the six CT presets on keys 1–6 with the usual values', () => {
    expect(CT_PRESETS.map((p) => [p.id, p.width, p.center, p.key])).toEqual([
      ['ct-brain', 80, 40, '1'],
      ['ct-lung', 1500, -600, '2'],
      ['ct-mediastinum', 350, 50, '3'],
      ['ct-abdomen', 400, 40, '4'],
      ['ct-liver', 150, 30, '5'],
      ['ct-bone', 1800, 400, '6'],
    ]);
  });

  it('MR auto windows between the 1st and 99.5th percentile of the non-background pixels', () => {
    // Background 0 (40%), tissue 100..1099 uniform, three hot pixels at 4000.
    const px: number[] = [];
    for (let i = 0; i < 4000; i++) px.push(0);
    for (let i = 0; i < 6000; i++) px.push(100 + (i % 1000));
    px.push(4000, 4000, 4000);
    const r = autoWindow(px);
    expect(r.lower).toBeGreaterThan(95);
    expect(r.lower).toBeLessThan(130);
    // The hot pixels do not stretch the window (min/max would give 4000).
    expect(r.upper).toBeGreaterThan(1050);
    expect(r.upper).toBeLessThan(1110);
  });

  it('MR auto on a flat or empty image gives a valid range', () => {
    expect(autoWindow([])).toEqual({ lower: 0, upper: 1 });
    const flat = autoWindow([7, 7, 7]);
    expect(flat.upper).toBeGreaterThan(flat.lower);
  });
});

describe('measurements for the shell', () => {
  const refs = new Map([['wadors:/a/frames/1', { seriesUid: '1.2.3', sopInstanceUid: '1.2.3.4' }]]);
  const resolve = (id: string) => refs.get(id);
  const ann = (toolName: string, stats: Record<string, unknown>, label?: string) => ({
    metadata: { toolName, referencedImageId: 'wadors:/a/frames/1' },
    data: { ...(label ? { label } : {}), cachedStats: { 'imageId:x': stats } },
  });

  it.each([
    ['Length', { length: 42.25, unit: 'mm' }, { kind: 'length', value: 42.25, unit: 'mm' }, '42.3 mm'],
    ['Angle', { angle: 33.3 }, { kind: 'angle', value: 33.3, unit: 'deg' }, '33.3°'],
    ['Probe', { value: 54, modalityUnit: 'HU' }, { kind: 'probe', value: 54, unit: 'HU' }, '54 HU'],
    [
      'EllipticalROI',
      { area: 310.2, areaUnit: 'mm²', mean: 55.5, stdDev: 12.1, modalityUnit: 'HU' },
      { kind: 'ellipse', value: 55.5, unit: 'HU', stats: { mean: 55.5, sd: 12.1, areaMm2: 310.2 } },
      '55.5 ± 12.1 HU, 310.2 mm²',
    ],
    [
      'RectangleROI',
      { area: 100, areaUnit: 'px²', mean: 3, stdDev: 1, modalityUnit: '' },
      { kind: 'rectangle', value: 3, unit: '', stats: { mean: 3, sd: 1 } },
      '3.0 ± 1.0',
    ],
  ])('%s → %j', (tool, stats, expected, text) => {
    const m = toMeasurement(ann(tool, stats), resolve);
    expect(m).toEqual({ ...expected, seriesUid: '1.2.3', sopInstanceUid: '1.2.3.4' });
    expect(formatMeasurement(m!)).toBe(text);
  });

  it('keeps the label', () => {
    expect(toMeasurement(ann('Length', { length: 1, unit: 'mm' }, 'tumour'), resolve)?.label).toBe('tumour');
  });

  it('leaves out what is not ready, not ours, or not of this study', () => {
    const items = toMeasurements(
      [
        ann('Length', { length: null, unit: null }),
        ann('Angle', { angle: 'Incomplete Angle' }),
        ann('EllipticalROI', { Modality: 'CT' }),
        ann('ScaleOverlay', { length: 5 }),
        {
          metadata: { toolName: 'Length', referencedImageId: 'wadors:/other/frames/1' },
          data: { cachedStats: { x: { length: 3, unit: 'mm' } } },
        },
        { metadata: { toolName: 'Length' }, data: {} },
        ann('Length', { length: 7, unit: 'mm' }),
      ],
      resolve,
    );
    expect(items).toEqual([
      { kind: 'length', value: 7, unit: 'mm', seriesUid: '1.2.3', sopInstanceUid: '1.2.3.4' },
    ]);
  });
});

describe('keyboard shortcuts', () => {
  const key = (k: string, mods: Partial<{ ctrlKey: boolean; metaKey: boolean; altKey: boolean }> = {}) => ({
    key: k,
    ctrlKey: false,
    metaKey: false,
    altKey: false,
    ...mods,
  });

  it.each([
    ['ArrowDown', 'next'],
    ['PageUp', 'prev10'],
    ['5', 'preset-5'],
    ['l', 'tool-Length'],
    ['L', 'tool-Length'],
    ['i', 'invert'],
    [']', 'rotate-right'],
    ['k', 'key-image'],
    ['m', 'mpr'],
  ])('%s → %s', (k, action) => expect(actionFor(key(k))).toBe(action));

  it('ignores unbound keys and chords with modifiers (the browser and the shell own those)', () => {
    expect(actionFor(key('?'))).toBeNull();
    expect(actionFor(key('g'))).toBeNull();
    expect(actionFor(key('l', { ctrlKey: true }))).toBeNull();
    expect(actionFor(key('5', { altKey: true }))).toBeNull();
  });

  it('binds every key once', () => {
    expect(new Set(SHORTCUTS.map((s) => s.keys)).size).toBe(SHORTCUTS.length);
  });
});

describe('imaging translations', () => {
  const dir = join(REPO_ROOT, 'viewer/src/i18n');
  const vi = JSON.parse(readFileSync(join(dir, 'imaging.vi.json'), 'utf8'));
  const en = JSON.parse(readFileSync(join(dir, 'imaging.en.json'), 'utf8'));
  const keys = (o: Record<string, unknown>, prefix = ''): string[] =>
    Object.entries(o).flatMap(([k, v]) =>
      v && typeof v === 'object' ? keys(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`],
    );

  it('Vietnamese and English have the same keys, none empty', () => {
    expect(keys(vi).sort()).toEqual(keys(en).sort());
    for (const k of keys(vi)) {
      const get = (o: Record<string, unknown>) =>
        k.split('.').reduce<unknown>((a, p) => (a as Record<string, unknown>)[p], o);
      expect(String(get(vi)).trim(), k).not.toBe('');
      expect(String(get(en)).trim(), k).not.toBe('');
    }
  });

  it('every literal key the viewer code uses exists', () => {
    const src = join(REPO_ROOT, 'viewer/src/imaging');
    const used = new Set<string>();
    for (const f of readdirSync(src).filter((x) => /\.tsx?$/.test(x))) {
      const text = readFileSync(join(src, f), 'utf8');
      // t('a.b'), p.t('a.b'), i18nKey: 'imaging:a.b' / 'a.b'
      for (const m of text.matchAll(/\bt\('([\w.]+)'/g)) used.add(m[1]!);
      for (const m of text.matchAll(/i18nKey: '(?:imaging:)?([\w.]+)'/g)) used.add(m[1]!);
    }
    const all = new Set(keys(vi));
    const missing = [...used].filter((k) => !all.has(k));
    expect(used.size).toBeGreaterThan(40);
    expect(missing).toEqual([]);
  });
});
