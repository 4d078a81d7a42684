/**
 * STOW's nesting guard (server/src/dicomweb/sequence-depth.ts): Orthanc 1.10 segfaults on
 * sequences nested ~40 deep, so deeper objects are refused before they reach it.
 */
import dicomParser from 'dicom-parser';
import { describe, expect, it } from 'vitest';
import { MAX_SEQUENCE_DEPTH, nestsDeeperThan } from '../../server/src/dicomweb/sequence-depth.js';

/** A Part 10 file (explicit VR LE) whose only data element is a sequence nested `depth` deep. */
function nested(depth: number): Uint8Array {
  const meta = (() => {
    const ts = Buffer.from('1.2.840.10008.1.2.1\0', 'latin1');
    const el = Buffer.alloc(8);
    el.write('\x02\x00\x10\x00UI', 0, 'latin1');
    el.writeUInt16LE(ts.length, 6);
    const body = Buffer.concat([el, ts]);
    const gl = Buffer.alloc(12);
    gl.write('\x02\x00\x00\x00UL', 0, 'latin1');
    gl.writeUInt16LE(4, 6);
    gl.writeUInt32LE(body.length, 8);
    return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), gl, body]);
  })();
  const open = Buffer.from([0x08, 0x00, 0x06, 0x00, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  const item = Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]);
  const itemEnd = Buffer.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0]);
  const seqEnd = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
  const parts: Buffer[] = [meta];
  for (let i = 0; i < depth; i++) parts.push(open, item);
  for (let i = 0; i < depth; i++) parts.push(itemEnd, seqEnd);
  return new Uint8Array(Buffer.concat(parts));
}

describe('sequence nesting guard', () => {
  it('accepts nesting up to the limit and refuses one level more', () => {
    expect(nestsDeeperThan(dicomParser.parseDicom(nested(1)), MAX_SEQUENCE_DEPTH)).toBe(false);
    expect(nestsDeeperThan(dicomParser.parseDicom(nested(MAX_SEQUENCE_DEPTH)), MAX_SEQUENCE_DEPTH)).toBe(
      false,
    );
    expect(nestsDeeperThan(dicomParser.parseDicom(nested(MAX_SEQUENCE_DEPTH + 1)), MAX_SEQUENCE_DEPTH)).toBe(
      true,
    );
  });

  it('stops walking at the limit: a deep but parsable object is judged without a deep walk', () => {
    // dicom-parser itself recurses per level and overflows somewhere in the thousands (STOW then
    // refuses the part as unparsable); anything it does parse, the guard judges.
    expect(nestsDeeperThan(dicomParser.parseDicom(nested(800)), MAX_SEQUENCE_DEPTH)).toBe(true);
  });
});
