/**
 * Structural checks dicom-parser does not make, for STOW. dicom-parser is lenient where Orthanc
 * 1.10 is not: it ignores the meta group length (0002,0000) and, in implicit VR, silently stops at
 * an element whose length runs past the end of the file. Orthanc (DCMTK) then waits for bytes that
 * never come: measured here, such files held Orthanc's REST store call until the gateway's timeout
 * and hung DIMSE associations. Refusing them is also simply right: PS3.10 requires a correct
 * group length, and a value cannot extend past the end of its data set.
 */
import type { DataSet, Element } from 'dicom-parser';

/** A reason the bytes are structurally broken, or undefined when they are sound. */
export function structuralProblem(ds: DataSet, fileLength: number): string | undefined {
  const meta = Object.values(ds.elements).filter((e) => e.tag.startsWith('x0002'));
  const groupLength = ds.elements.x00020000;
  if (groupLength) {
    const declared = ds.uint32('x00020000');
    const firstAfter = groupLength.dataOffset + groupLength.length;
    const end = Math.max(...meta.map((e) => e.dataOffset + e.length));
    if (declared !== end - firstAfter) {
      return `The file meta information group length (0002,0000) is ${declared}, but the group is ${end - firstAfter} bytes long.`;
    }
  }
  // After a deflate transfer syntax the data set lives in an inflated copy: bound by that.
  const bound = Math.max(fileLength, ds.byteArray.length);
  const overrun = (e: Element) => e.dataOffset + e.length > bound;
  const walk = (set: DataSet): string | undefined => {
    for (const e of Object.values(set.elements)) {
      if (e.length < 0 || overrun(e)) {
        return `Element (${e.tag.slice(1, 5)},${e.tag.slice(5)}) declares ${e.length} bytes, past the end of the data.`;
      }
      for (const f of e.fragments ?? []) {
        if (f.position + f.length > bound)
          return 'An encapsulated pixel data fragment runs past the end of the data.';
      }
      for (const item of e.items ?? []) {
        if (item.dataSet) {
          const p = walk(item.dataSet);
          if (p) return p;
        }
      }
    }
    return undefined;
  };
  return walk(ds);
}
