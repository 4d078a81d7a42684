/**
 * STOW's structural checks (server/src/dicomweb/structure-check.ts) on real files: a wrong meta
 * group length and a value running past the end are refused (dicom-parser alone accepts both, and
 * Orthanc 1.10 hangs on them); the pydicom corpus's sound files pass.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import dicomParser from 'dicom-parser';
import { describe, expect, it } from 'vitest';
import { FAILURE, validatePart10 } from '../../server/src/dicomweb/stow-validate.js';
import { structuralProblem } from '../../server/src/dicomweb/structure-check.js';

const CORPUS = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const parse = (b: Buffer) => dicomParser.parseDicom(new Uint8Array(b.buffer, b.byteOffset, b.length));

describe('STOW structural checks', () => {
  it('passes every pydicom file that dicom-parser reads with a Part 10 header', () => {
    let checked = 0;
    for (const name of readdirSync(CORPUS)) {
      if (!name.endsWith('.dcm')) continue;
      const bytes = readFileSync(join(CORPUS, name));
      if (bytes.length < 132 || bytes.toString('latin1', 128, 132) !== 'DICM') continue;
      let ds: dicomParser.DataSet;
      try {
        ds = parse(bytes);
      } catch {
        continue;
      }
      expect(structuralProblem(ds, bytes.length), name).toBeUndefined();
      checked++;
    }
    expect(checked).toBeGreaterThan(30);
  });

  it('refuses a wrong meta group length', () => {
    const bytes = Buffer.from(readFileSync(join(CORPUS, 'CT_small.dcm')));
    const ds = parse(bytes);
    const gl = ds.elements.x00020000!;
    bytes.writeUInt32LE(bytes.readUInt32LE(gl.dataOffset) + 1000, gl.dataOffset);
    expect(structuralProblem(parse(bytes), bytes.length)).toMatch(/group length/);
  });

  it('refuses an implicit VR element whose length runs past the end of the file', () => {
    const bytes = Buffer.from(readFileSync(join(CORPUS, 'MR_small_implicit.dcm')));
    const ds = parse(bytes);
    const el = ds.elements.x00200011!;
    // Implicit VR: the 32-bit length sits just before the value.
    bytes.writeUInt32LE(0x7ffffffe, el.dataOffset - 4);
    const broken = parse(bytes);
    expect(structuralProblem(broken, bytes.length)).toMatch(/past the end/);
  });

  it('validatePart10 refuses, never throws, when a UID value runs past the end of the file', () => {
    const bytes = Buffer.from(readFileSync(join(CORPUS, 'CT_small.dcm')));
    const el = parse(bytes).elements.x00080018!;
    // Explicit VR, UI: the 16-bit length sits just before the value.
    bytes.writeUInt16LE(0xfffe, el.dataOffset - 2);
    const verdict = validatePart10(new Uint8Array(bytes), { maxBytes: 10_000_000 });
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toBe(FAILURE.CANNOT_UNDERSTAND);
  });
});
