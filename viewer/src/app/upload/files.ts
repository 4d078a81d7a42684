/**
 * What a person hands the upload page, as a flat list of files: a folder picked with the
 * directory input (webkitdirectory), a folder or files dropped (DataTransfer entries, walked
 * recursively), or zip archives (expanded in the browser with fflate). Paths are kept for the
 * per-file list; nothing is read yet beyond the zip's own bytes.
 */
import { unzipSync } from 'fflate';

export interface SourceFile {
  path: string;
  size: number;
  blob: Blob;
}

const isZip = (name: string) => name.toLowerCase().endsWith('.zip');
/** OS clutter that is never DICOM. */
const IGNORED = /(^|\/)(__MACOSX\/|\.DS_Store$|Thumbs\.db$|desktop\.ini$)/i;

export async function expandZip(name: string, blob: Blob): Promise<SourceFile[]> {
  const entries = unzipSync(new Uint8Array(await blob.arrayBuffer()), {
    filter: (f) => !f.name.endsWith('/') && !IGNORED.test(f.name),
  });
  return Object.entries(entries).map(([path, bytes]) => ({
    path: `${name}/${path}`,
    size: bytes.byteLength,
    blob: new Blob([bytes as Uint8Array<ArrayBuffer>]),
  }));
}

async function add(out: SourceFile[], path: string, file: File): Promise<void> {
  if (IGNORED.test(path)) return;
  if (isZip(path)) out.push(...(await expandZip(path, file)));
  else out.push({ path, size: file.size, blob: file });
}

export async function fromFileList(list: FileList | File[]): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  for (const f of Array.from(list)) await add(out, f.webkitRelativePath || f.name, f);
  return out;
}

function readAll(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  // readEntries answers in chunks (100 in Chromium) until an empty one.
  return new Promise((resolve, reject) => {
    const all: FileSystemEntry[] = [];
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(all);
        else {
          all.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

async function walk(entry: FileSystemEntry, out: SourceFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) =>
      (entry as FileSystemFileEntry).file(resolve, reject),
    );
    await add(out, entry.fullPath.replace(/^\//, ''), file);
  } else if (entry.isDirectory) {
    for (const child of await readAll((entry as FileSystemDirectoryEntry).createReader()))
      await walk(child, out);
  }
}

export async function fromDataTransfer(dt: DataTransfer): Promise<SourceFile[]> {
  // Entries must be taken synchronously, before the drop event returns.
  const entries = Array.from(dt.items)
    .map((i) => (i.kind === 'file' ? i.webkitGetAsEntry() : null))
    .filter((e): e is FileSystemEntry => e !== null);
  if (entries.length === 0) return fromFileList(dt.files);
  const out: SourceFile[] = [];
  for (const e of entries) await walk(e, out);
  return out;
}
