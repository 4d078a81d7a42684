/**
 * Reads a PDF the way a text extractor does, without trusting the writer: every Type0 font's
 * ToUnicode CMap and embedded font program (FontFile2), and the text shown on each page
 * (glyph ids after `Tj`, mapped back to Unicode through the ToUnicode of the font in use).
 * Used by the delivery tests to prove Vietnamese text is embedded and round-trips.
 */
import { inflateSync } from 'node:zlib';
import fontkit from '@pdf-lib/fontkit';
import { PDFArray, PDFDict, PDFDocument, PDFName, type PDFObject, type PDFRawStream, PDFRef } from 'pdf-lib';

export interface InspectedFont {
  baseFont: string;
  /** CID (glyph id in the subset) → Unicode text. */
  toUnicode: Map<number, string>;
  /** The embedded font program (TrueType), parsed by fontkit. */
  program: {
    getGlyph(id: number): { path: { commands: unknown[] }; advanceWidth: number };
    numGlyphs: number;
    unitsPerEm: number;
  };
}

/** One run of text as drawn: where, how big, and how wide (from the embedded glyph advances). */
export interface TextRun {
  text: string;
  x: number;
  y: number;
  size: number;
  width: number;
}

export interface InspectedPdf {
  fonts: Map<string, InspectedFont>;
  /** Text shown per page, one string per Tj, in drawing order. */
  pages: string[][];
  runs: TextRun[][];
  /** Filled rectangles per page (pdf-lib draws each as a translated 4-point path): the QR modules. */
  rects: { x: number; y: number; w: number; h: number }[][];
  pageSize: { width: number; height: number };
  attachments: Map<string, Buffer>;
}

function streamBytes(s: PDFRawStream): Buffer {
  const filter = s.dict.get(PDFName.of('Filter'));
  const raw = Buffer.from(s.contents);
  return filter && filter.toString() === '/FlateDecode' ? inflateSync(raw) : raw;
}

function parseCmap(text: string): Map<number, string> {
  const map = new Map<number, string>();
  const hexToText = (h: string) => {
    const units: number[] = [];
    for (let i = 0; i < h.length; i += 4) units.push(Number.parseInt(h.slice(i, i + 4), 16));
    return String.fromCharCode(...units);
  };
  for (const block of text.matchAll(/beginbfchar([\s\S]*?)endbfchar/g))
    for (const m of block[1]!.matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>/g))
      map.set(Number.parseInt(m[1]!, 16), hexToText(m[2]!));
  for (const block of text.matchAll(/beginbfrange([\s\S]*?)endbfrange/g))
    for (const m of block[1]!.matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>/g)) {
      const lo = Number.parseInt(m[1]!, 16);
      const hi = Number.parseInt(m[2]!, 16);
      const dst = Number.parseInt(m[3]!, 16);
      for (let c = lo; c <= hi; c++) map.set(c, String.fromCodePoint(dst + c - lo));
    }
  return map;
}

export async function inspectPdf(bytes: Uint8Array): Promise<InspectedPdf> {
  const doc = await PDFDocument.load(bytes);
  const ctx = doc.context;
  const deref = (o: PDFObject | undefined) => (o instanceof PDFRef ? ctx.lookup(o) : o);
  const fontsByRef = new Map<string, InspectedFont>();
  for (const [ref, obj] of ctx.enumerateIndirectObjects()) {
    if (!(obj instanceof PDFDict)) continue;
    if (obj.get(PDFName.of('Subtype'))?.toString() !== '/Type0') continue;
    const tu = deref(obj.get(PDFName.of('ToUnicode')));
    const desc = deref(obj.get(PDFName.of('DescendantFonts'))) as PDFArray;
    const cid = deref(desc.get(0)) as PDFDict;
    const fd = deref(cid.get(PDFName.of('FontDescriptor'))) as PDFDict;
    const ff = deref(fd.get(PDFName.of('FontFile2'))) as PDFRawStream;
    fontsByRef.set(ref.toString(), {
      baseFont: obj.get(PDFName.of('BaseFont'))!.toString().slice(1),
      toUnicode: parseCmap(streamBytes(tu as PDFRawStream).toString('latin1')),
      program: fontkit.create(streamBytes(ff)) as unknown as InspectedFont['program'],
    });
  }
  const fonts = new Map<string, InspectedFont>();
  for (const f of fontsByRef.values()) fonts.set(f.baseFont, f);

  const pages: string[][] = [];
  const runs: TextRun[][] = [];
  const rects: InspectedPdf['rects'] = [];
  for (const page of doc.getPages()) {
    const resources = deref(page.node.get(PDFName.of('Resources'))) as PDFDict;
    const fontRes = deref(resources.get(PDFName.of('Font'))) as PDFDict;
    const byName = new Map<string, InspectedFont>();
    for (const [name, ref] of fontRes.entries()) {
      const f = fontsByRef.get(ref.toString());
      if (f) byName.set(name.toString().slice(1), f);
    }
    const contents = deref(page.node.get(PDFName.of('Contents')));
    const streams =
      contents instanceof PDFArray
        ? contents.asArray().map((r) => deref(r) as PDFRawStream)
        : [contents as PDFRawStream];
    const ops = streams
      .map(streamBytes)
      .map((b) => b.toString('latin1'))
      .join('\n');
    const shown: string[] = [];
    const pageRuns: TextRun[] = [];
    const pageRects: InspectedPdf['rects'][number] = [];
    let current: InspectedFont | undefined;
    let size = 0;
    let at = { x: 0, y: 0 };
    const re =
      /\/(\S+)\s+([\d.]+)\s+Tf|1 0 0 1 ([-\d.]+) ([-\d.]+) Tm|<([0-9A-Fa-f]*)>\s*Tj|1 0 0 1 ([-\d.]+) ([-\d.]+) cm\s+(?:1 0 0 1 0 0 cm\s+)*0 0 m\s+0 ([-\d.]+) l\s+([-\d.]+) [-\d.]+ l/g;
    for (const m of ops.matchAll(re)) {
      if (m[1] !== undefined) {
        current = byName.get(m[1]);
        size = Number(m[2]);
      } else if (m[3] !== undefined) at = { x: Number(m[3]), y: Number(m[4]) };
      else if (m[6] !== undefined)
        pageRects.push({ x: Number(m[6]), y: Number(m[7]), w: Number(m[9]), h: Number(m[8]) });
      else {
        if (!current) throw new Error('text shown before a font was selected');
        const hex = m[5]!;
        let s = '';
        let advance = 0;
        for (let i = 0; i < hex.length; i += 4) {
          const gid = Number.parseInt(hex.slice(i, i + 4), 16);
          s += current.toUnicode.get(gid) ?? '\uFFFD';
          advance += current.program.getGlyph(gid).advanceWidth;
        }
        shown.push(s);
        pageRuns.push({ text: s, ...at, size, width: (advance * size) / current.program.unitsPerEm });
      }
    }
    runs.push(pageRuns);
    rects.push(pageRects);
    pages.push(shown);
  }

  const attachments = new Map<string, Buffer>();
  const names = deref(doc.catalog.get(PDFName.of('Names'))) as PDFDict | undefined;
  const ef = names ? (deref(names.get(PDFName.of('EmbeddedFiles'))) as PDFDict | undefined) : undefined;
  const arr = ef ? (deref(ef.get(PDFName.of('Names'))) as PDFArray) : undefined;
  for (let i = 0; arr && i < arr.size(); i += 2) {
    const name = (arr.get(i) as unknown as { decodeText(): string }).decodeText();
    const spec = deref(arr.get(i + 1)) as PDFDict;
    const efd = deref(spec.get(PDFName.of('EF'))) as PDFDict;
    attachments.set(name, streamBytes(deref(efd.get(PDFName.of('F'))) as PDFRawStream));
  }
  const { width, height } = doc.getPages()[0]!.getSize();
  return { fonts, pages, runs, rects, pageSize: { width, height }, attachments };
}

/** The glyph a font uses for a character (via its ToUnicode), or undefined. */
export function glyphFor(font: InspectedFont, ch: string): number | undefined {
  for (const [cid, u] of font.toUnicode) if (u === ch) return cid;
  return undefined;
}
