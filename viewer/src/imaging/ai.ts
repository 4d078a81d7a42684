/**
 * AI results in the viewer: the gateway's AI API (results per study, feedback per finding) and the
 * model's DICOM SEG turned into a Cornerstone labelmap over the source series.
 *
 * The SEG is fetched as the stored Part 10 file (WADO-URI, application/dicom) and converted by
 * @cornerstonejs/adapters (createFromDICOMSegBuffer): its frames are matched to the source
 * series' image IDs by the referenced SOP instances and plane positions, so the overlay lines up
 * with the pixels it was computed from.
 */
import { metaData, type Types } from '@cornerstonejs/core';
import { segmentation, Enums as ToolEnums } from '@cornerstonejs/tools';
import { type DicomJson, first, type SeriesSummary, seriesMetadata, str } from './dicomweb.js';

export interface AiFinding {
  findingId: string;
  label: string;
  segmentNumber: number;
  centroidLps: [number, number, number];
  referencedSopInstanceUid: string;
  longestDiameterMm: number | null;
  volumeMl: number | null;
  meanIntensity: number | null;
  confidence: number | null;
  feedback: null | { verdict: 'accepted' | 'rejected'; by: string; at: string };
}

export interface AiResult {
  resultId: string;
  seriesUid: string;
  model: { id: string; version: string; name: string };
  status: string;
  segSeriesUid: string | null;
  segSopInstanceUid: string | null;
  srSopInstanceUid: string | null;
  flagged: boolean;
  /** The server's "AI generated — not for clinical use" label for this model. */
  label?: string;
  findings: AiFinding[];
  /**
   * A SEG found in the study by QIDO that no RadLink AI result describes (another AI product's,
   * or a segmentation made elsewhere): shown as an overlay with its segments, without feedback.
   */
  external?: boolean;
}

/** A study without results, or one the API does not know, has none to show. */
export async function fetchAiResults(studyUid: string, signal?: AbortSignal): Promise<AiResult[]> {
  const res = await fetch(`/api/studies/${studyUid}/ai-results`, { credentials: 'same-origin', signal });
  if (res.status === 404) return [];
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const body = (await res.json()) as { results?: AiResult[] };
  return body.results ?? [];
}

export async function sendFeedback(findingId: string, verdict: 'accepted' | 'rejected'): Promise<void> {
  const res = await fetch(`/api/ai/findings/${encodeURIComponent(findingId)}/feedback`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ verdict }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
}

/** Distinct overlay colours per segment (RGBA), bright enough over grey anatomy. */
export const SEGMENT_COLOURS: readonly Types.Color[] = [
  [255, 64, 64, 255],
  [64, 220, 64, 255],
  [64, 128, 255, 255],
  [255, 200, 0, 255],
  [230, 64, 230, 255],
  [0, 220, 220, 255],
];

export function segmentColour(segmentNumber: number): Types.Color {
  return SEGMENT_COLOURS[(segmentNumber - 1) % SEGMENT_COLOURS.length]!;
}

/**
 * SEG series of the study that no AI result already covers, described from their own metadata
 * (series description, manufacturer's software version, SegmentSequence, ReferencedSeriesSequence).
 */
export async function discoverSegs(
  studyUid: string,
  segSeries: SeriesSummary[],
  known: ReadonlySet<string>,
): Promise<AiResult[]> {
  const out: AiResult[] = [];
  for (const s of segSeries) {
    const instances = await seriesMetadata(studyUid, s.seriesUid).catch(() => [] as DicomJson[]);
    for (const ds of instances) {
      const sop = str(ds, '00080018');
      if (!sop || known.has(sop)) continue;
      const ref = first(ds, '00081115') as DicomJson | undefined;
      const sourceSeriesUid = ref ? str(ref, '0020000E') : '';
      if (!sourceSeriesUid) continue;
      const segments = (ds['00620002']?.Value ?? []) as DicomJson[];
      out.push({
        resultId: `seg:${sop}`,
        seriesUid: sourceSeriesUid,
        model: {
          id: str(ds, '00181020') || str(ds, '00080070'),
          version: str(ds, '00181020'),
          name: str(ds, '0008103E') || str(ds, '00700080') || 'SEG',
        },
        status: 'completed',
        segSeriesUid: s.seriesUid,
        segSopInstanceUid: sop,
        srSopInstanceUid: null,
        flagged: false,
        external: true,
        findings: segments.map((seg) => {
          const n = Number(str(seg, '00620004'));
          return {
            findingId: `seg:${sop}:${n}`,
            label: str(seg, '00620005') || `#${n}`,
            segmentNumber: n,
            centroidLps: [0, 0, 0] as [number, number, number],
            referencedSopInstanceUid: '',
            longestDiameterMm: null,
            volumeMl: null,
            meanIntensity: null,
            confidence: null,
            feedback: null,
          };
        }),
      });
    }
  }
  return out;
}

async function fetchPart10(studyUid: string, seriesUid: string, sopUid: string): Promise<ArrayBuffer> {
  const q = new URLSearchParams({
    requestType: 'WADO',
    studyUID: studyUid,
    seriesUID: seriesUid,
    objectUID: sopUid,
    contentType: 'application/dicom',
  });
  const res = await fetch(`/wado?${q}`, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.arrayBuffer();
}

export interface LoadedSegmentation {
  segmentationId: string;
  /** Segment number → index (in the source image IDs given) of the slice through its centroid. */
  centroidSlice: Map<number, number>;
}

const loadedSegs = new Map<string, LoadedSegmentation>();

/**
 * Loads a result's SEG as a labelmap segmentation (once per SEG instance).
 * `sourceImageIds` are the source series' image IDs with their metadata already registered.
 */
export async function loadSegmentation(
  studyUid: string,
  result: AiResult,
  sourceImageIds: string[],
): Promise<LoadedSegmentation> {
  if (!result.segSeriesUid || !result.segSopInstanceUid) throw new Error('result has no SEG');
  const segmentationId = `seg-${result.segSopInstanceUid}`;
  const done = loadedSegs.get(segmentationId);
  if (done && segmentation.state.getSegmentation(segmentationId)) return done;
  // The adapters (and dcmjs under them) load only for a study that has a segmentation to show.
  const [{ adaptersSEG }, buffer] = await Promise.all([
    import('@cornerstonejs/adapters'),
    fetchPart10(studyUid, result.segSeriesUid, result.segSopInstanceUid),
  ]);
  const { labelMapImages, centroids } = await adaptersSEG.Cornerstone3D.Segmentation.createFromDICOMSegBuffer(
    sourceImageIds,
    buffer,
    { metadataProvider: metaData },
  );
  const centroidSlice = new Map<number, number>();
  for (const [n, c] of centroids as Map<number, { image?: { z?: number } }>) {
    if (typeof c?.image?.z === 'number' && Number.isFinite(c.image.z))
      centroidSlice.set(Number(n), Math.round(c.image.z));
  }
  const imageIds = (labelMapImages as Array<Array<{ imageId: string }>>).flat().map((i) => i.imageId);
  // Every segment must be declared: Cornerstone otherwise knows segment 1 only, and hiding the
  // representation would hide segment 1 and leave the others drawn.
  const segmentNumbers = new Set([
    ...result.findings.map((f) => f.segmentNumber),
    ...[...(centroids as Map<number, unknown>).keys()].map(Number),
  ]);
  const segments = Object.fromEntries(
    [...segmentNumbers]
      .filter((n) => Number.isInteger(n) && n > 0)
      .map((n) => [
        n,
        { segmentIndex: n, label: result.findings.find((f) => f.segmentNumber === n)?.label ?? `#${n}` },
      ]),
  );
  segmentation.addSegmentations([
    {
      segmentationId,
      representation: { type: ToolEnums.SegmentationRepresentations.Labelmap, data: { imageIds } },
      config: { segments },
    },
  ]);
  const loaded = { segmentationId, centroidSlice };
  loadedSegs.set(segmentationId, loaded);
  return loaded;
}

export async function showSegmentation(
  viewportId: string,
  segmentationId: string,
  segmentNumbers: number[],
): Promise<void> {
  await segmentation.addLabelmapRepresentationToViewport(viewportId, [{ segmentationId }]);
  for (const n of segmentNumbers)
    segmentation.config.color.setSegmentIndexColor(viewportId, segmentationId, n, segmentColour(n));
}

export function setSegmentationVisible(viewportId: string, segmentationId: string, visible: boolean): void {
  segmentation.config.visibility.setSegmentationRepresentationVisibility(
    viewportId,
    { segmentationId, type: ToolEnums.SegmentationRepresentations.Labelmap },
    visible,
  );
}

export function setSegmentationOpacity(segmentationId: string, opacity: number): void {
  segmentation.config.style.setStyle(
    { segmentationId, type: ToolEnums.SegmentationRepresentations.Labelmap },
    { fillAlpha: opacity, fillAlphaInactive: opacity, outlineOpacity: 1, renderOutline: true },
  );
}

export function removeSegmentationFrom(viewportId: string, segmentationId: string): void {
  segmentation.removeSegmentationRepresentations(viewportId, { segmentationId });
}
