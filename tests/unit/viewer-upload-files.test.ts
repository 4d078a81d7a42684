/**
 * What the upload page makes of what a person hands it (viewer/src/app/upload/files.ts): a folder
 * that contains zip archives (picked with the directory input, or dropped and walked entry by
 * entry) comes out as one flat list in which every zip is expanded in place, with paths that say
 * where each file came from, its bytes intact, and OS clutter (__MACOSX, .DS_Store, Thumbs.db)
 * left out at every level. The browser's own drop and zip handling is exercised end to end in
 * tests/e2e/viewer-upload-zip.test.ts and viewer-flows.test.ts; here the folder-with-zips shapes.
 */
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { fromDataTransfer, fromFileList, type SourceFile } from '../../viewer/src/app/upload/files.js';

const bytes = (text: string) => new TextEncoder().encode(text);

/** A File as the directory input hands it: its path inside the picked folder in webkitRelativePath. */
function picked(relativePath: string, content: Uint8Array): File {
  const f = new File([content as Uint8Array<ArrayBuffer>], relativePath.split('/').pop()!);
  Object.defineProperty(f, 'webkitRelativePath', { value: relativePath });
  return f;
}

const innerZip = zipSync({
  'series-2/IM0001.dcm': bytes('dicom bytes 2-1'),
  'series-2/IM0002.dcm': bytes('dicom bytes 2-2'),
  '__MACOSX/series-2/._IM0001.dcm': bytes('resource fork'),
  'series-2/.DS_Store': bytes('finder'),
});

async function contents(files: SourceFile[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of files) {
    expect(f.size).toBe(f.blob.size);
    out[f.path] = await f.blob.text();
  }
  return out;
}

const EXPECTED = {
  'CT-bung/series-1/IM0001.dcm': 'dicom bytes 1-1',
  'CT-bung/more.zip/series-2/IM0001.dcm': 'dicom bytes 2-1',
  'CT-bung/more.zip/series-2/IM0002.dcm': 'dicom bytes 2-2',
};

describe('a folder that contains zip archives', () => {
  it('picked with the directory input: files kept, the zip expanded in place, clutter left out', async () => {
    const files = await fromFileList([
      picked('CT-bung/series-1/IM0001.dcm', bytes('dicom bytes 1-1')),
      picked('CT-bung/more.zip', innerZip),
      picked('CT-bung/.DS_Store', bytes('finder')),
      picked('CT-bung/Thumbs.db', bytes('thumbs')),
    ]);
    expect(await contents(files)).toEqual(EXPECTED);
  });

  it('dropped: the folder is walked (readEntries answers in chunks) and its zip expanded the same way', async () => {
    type Entry = {
      isFile: boolean;
      isDirectory: boolean;
      fullPath: string;
      file?: (ok: (f: File) => void) => void;
      createReader?: () => { readEntries: (ok: (batch: Entry[]) => void) => void };
    };
    const file = (fullPath: string, content: Uint8Array): Entry => ({
      isFile: true,
      isDirectory: false,
      fullPath,
      file: (ok) => ok(new File([content as Uint8Array<ArrayBuffer>], fullPath.split('/').pop()!)),
    });
    // Like Chromium: children in batches, then an empty batch.
    const dir = (fullPath: string, children: Entry[]): Entry => ({
      isFile: false,
      isDirectory: true,
      fullPath,
      createReader: () => {
        const batches = [children.slice(0, 1), children.slice(1), []];
        return { readEntries: (ok) => ok(batches.shift() ?? []) };
      },
    });
    const root = dir('/CT-bung', [
      dir('/CT-bung/series-1', [file('/CT-bung/series-1/IM0001.dcm', bytes('dicom bytes 1-1'))]),
      file('/CT-bung/more.zip', innerZip),
      file('/CT-bung/.DS_Store', bytes('finder')),
    ]);
    const dt = {
      items: [{ kind: 'file', webkitGetAsEntry: () => root }],
      files: [],
    } as unknown as DataTransfer;
    expect(await contents(await fromDataTransfer(dt))).toEqual(EXPECTED);
  });
});
