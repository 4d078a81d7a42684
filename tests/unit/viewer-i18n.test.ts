/**
 * The viewer's translations: Vietnamese and English have exactly the same keys in both
 * namespaces (core: the shell; imaging: the study viewer), and no string is empty, so a
 * language switch never shows a raw key or a blank. Every key the shell's code names
 * literally exists.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import coreEn from '../../viewer/src/i18n/core.en.json' with { type: 'json' };
import coreVi from '../../viewer/src/i18n/core.vi.json' with { type: 'json' };
import imagingEn from '../../viewer/src/i18n/imaging.en.json' with { type: 'json' };
import imagingVi from '../../viewer/src/i18n/imaging.vi.json' with { type: 'json' };

type Tree = { [k: string]: string | Tree };

function flatten(tree: Tree, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object') for (const [kk, vv] of flatten(v, key)) out.set(kk, vv);
    else out.set(key, v);
  }
  return out;
}

const NAMESPACES = {
  core: { vi: flatten(coreVi as Tree), en: flatten(coreEn as Tree) },
  imaging: { vi: flatten(imagingVi as Tree), en: flatten(imagingEn as Tree) },
};

describe('viewer translations', () => {
  for (const [ns, { vi, en }] of Object.entries(NAMESPACES)) {
    it(`${ns}: Vietnamese and English have the same keys`, () => {
      expect(vi.size).toBeGreaterThan(0);
      expect([...vi.keys()].filter((k) => !en.has(k))).toEqual([]);
      expect([...en.keys()].filter((k) => !vi.has(k))).toEqual([]);
    });

    it(`${ns}: every string is a non-empty string, with the same {{placeholders}} in both`, () => {
      for (const [lang, map] of Object.entries({ vi, en }))
        for (const [k, v] of map) {
          expect(typeof v, `${lang} ${ns}:${k}`).toBe('string');
          expect((v as string).trim(), `${lang} ${ns}:${k}`).not.toBe('');
        }
      const vars = (s: unknown) => [...String(s).matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();
      for (const [k, v] of vi) expect(vars(v), `${ns}:${k}`).toEqual(vars(en.get(k)));
    });
  }

  it('the Vietnamese core strings are Vietnamese (diacritics present), not copies of the English', () => {
    const { vi, en } = NAMESPACES.core;
    const same = [...vi.keys()].filter((k) => vi.get(k) === en.get(k));
    // Proper names and codes may coincide (RadLink, PDF, AI, language names); nothing else.
    expect(same.length).toBeLessThan(vi.size * 0.05);
    expect(String(vi.get('login.submit'))).toBe('Đăng nhập');
  });

  it('every literal core key used by the shell code exists', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.tsx?$/.test(f)) files.push(p);
      }
    };
    walk('viewer/src/app');
    const used = new Set<string>();
    for (const f of files) {
      const src = readFileSync(f, 'utf8');
      for (const m of src.matchAll(/\bt\('([a-zA-Z][\w.-]*)'/g)) used.add(m[1]!);
      for (const m of src.matchAll(/i18nKey: '([a-zA-Z][\w.-]*)'/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(100);
    const { vi } = NAMESPACES.core;
    expect([...used].filter((k) => !vi.has(k))).toEqual([]);
  });

  it('keys built at run time exist for every value they are built from', () => {
    const { vi } = NAMESPACES.core;
    const families: Record<string, readonly string[]> = {
      status: ['open', 'all', 'requested', 'claimed', 'reported', 'signed', 'cancelled'],
      priority: ['stat', 'urgent', 'routine'],
      roles: [
        'system_admin',
        'facility_admin',
        'radiologist',
        'referring_doctor',
        'model_manager',
        'service',
      ],
      tier: ['central', 'provincial', 'district', 'commune'],
      verify: ['valid', 'tampered', 'revoked-since', 'revoked', 'untrusted', 'checking', 'error'],
      'report.save': ['clean', 'dirty', 'saving', 'saved', 'conflict', 'error'],
      measure: ['length', 'angle', 'ellipse', 'rectangle', 'probe'],
      'upload.phase': ['idle', 'reading', 'checking', 'sending', 'done', 'interrupted', 'error'],
      'upload.state': ['queued', 'skipped', 'already', 'duplicate', 'sending', 'stored', 'failed', 'pending'],
      'upload.skip': ['not-dicom', 'dicomdir', 'no-uids'],
      'upload.reason': ['0110', '0111', '0122', '0124', 'A700', 'A900', 'C000', 'C122', 'unknown'],
      live: ['connecting', 'open', 'unavailable'],
      lang: ['vi', 'en'],
      'shortcuts.go': ['worklist', 'requests', 'search', 'upload', 'users', 'facilities'],
      nav: ['worklist', 'requests', 'search', 'upload', 'users', 'facilities'],
      'patient.actor': ['you', 'staff', 'system', 'unknown'],
      'patient.outcome': ['success', 'denied', 'not-found', 'error'],
    };
    const missing = Object.entries(families).flatMap(([prefix, values]) =>
      values.map((v) => `${prefix}.${v}`).filter((k) => !vi.has(k)),
    );
    expect(missing).toEqual([]);
  });

  it('error messages are keyed by real error codes of the catalogue (no stale or misspelt code)', async () => {
    const { ERRORS } = await import('../../contracts/errors.js');
    const coded = [...NAMESPACES.core.vi.keys()]
      .filter((k) => k.startsWith('errorCodes.'))
      .map((k) => k.slice(11));
    expect(coded.length).toBeGreaterThan(20);
    expect(coded.filter((c) => !(c in ERRORS))).toEqual([]);
  });
});
