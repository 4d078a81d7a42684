/**
 * The study viewer the shell mounts on `#/study/:studyUid`: series strip, toolbar, a grid of
 * viewports (1×1, 1×2, 2×2 stacks, or MPR), measurements, key images, priors side by side with
 * synchronised scrolling, and the AI panel. Cornerstone state lives in a ViewerController made
 * when this mounts and destroyed when it unmounts.
 *
 * Invariant: this component renders on view changes (series, layout, camera, window, panels),
 * never per slice. The slice shown is in the controller's frame signals; what follows it (slice
 * read-outs, the key-image state of the slice on screen) is derived from them in computed signals
 * read by small components, so cine and scrolling cost Cornerstone's render, not this tree's.
 */
import { getShouldUseCPURendering } from '@cornerstonejs/core';
import { annotation } from '@cornerstonejs/tools';
import { computed } from '@preact/signals';
import type { JSX } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { AiPanel } from './AiPanel.js';
import {
  type AiFinding,
  type AiResult,
  discoverSegs,
  fetchAiResults,
  type LoadedSegmentation,
  loadSegmentation,
  sendFeedback,
  setSegmentationOpacity,
  setSegmentationVisible,
  showSegmentation,
} from './ai.js';
import { type ControllerListener, ViewerController, type ViewportState } from './controller.js';
import {
  DICOMWEB_ROOT,
  type DicomJson,
  formatDa,
  isImageSeries,
  type LoadedSeries,
  listSeries,
  loadSeries,
  type SeriesSummary,
  str,
} from './dicomweb.js';
import { KeyImagesPanel } from './KeyImagesPanel.js';
import { fetchKeyImages, type KeyImage, keyOf, markKeyImage, unmarkKeyImage } from './keyImages.js';
import { formatMeasurement, type ViewerMeasurement } from './measurements.js';
import { CT_PRESETS } from './presets.js';
import { SeriesStrip, type StripStudy } from './SeriesStrip.js';
import { actionFor, type ShortcutAction } from './shortcuts.js';
import { type Layout, Toolbar } from './Toolbar.js';
import type { PrimaryTool } from './tools.js';
import { useT } from './useT.js';
import { ViewportPane } from './ViewportPane.js';
import './imaging.css';

export interface StudyViewerProps {
  studyUid: string;
  priorStudyUids?: string[];
  lowBandwidth?: boolean;
  onMeasurementsChange?: (items: ViewerMeasurement[]) => void;
  onKeyImagesChange?: (sopInstanceUids: string[]) => void;
  /** The caller may mark and unmark key images (radiologists; the API refuses anyone else). */
  canMarkKeyImages?: boolean;
}

interface PaneSeries {
  studyUid: string;
  seriesUid: string;
}

const PANES: Record<Exclude<Layout, 'mpr'>, number> = { '1x1': 1, '1x2': 2, '2x2': 4 };
/** MPR panes show no key-image badge (a volume slice is not an instance). */
const NO_KEYS: ReadonlySet<string> = new Set();
const key = (studyUid: string, seriesUid: string) => `${studyUid}|${seriesUid}`;

async function studyDate(studyUid: string): Promise<string> {
  const res = await fetch(`${DICOMWEB_ROOT}/studies?StudyInstanceUID=${studyUid}&includefield=00080020`, {
    headers: { accept: 'application/dicom+json' },
    credentials: 'same-origin',
  });
  if (!res.ok || res.status === 204) return '';
  const rows = (await res.json()) as DicomJson[];
  return rows[0] ? formatDa(str(rows[0], '00080020')) : '';
}

export function StudyViewer(props: StudyViewerProps): JSX.Element {
  const t = useT();
  const lowBandwidth = props.lowBandwidth ?? false;
  const [studies, setStudies] = useState<StripStudy[]>([]);
  const [loaded, setLoaded] = useState<Record<string, LoadedSeries>>({});
  const [layout, setLayout] = useState<Layout>('1x1');
  const [panes, setPanes] = useState<(PaneSeries | null)[]>([null]);
  const [active, setActive] = useState(0);
  const [vpStates, setVpStates] = useState<Record<string, ViewportState>>({});
  const [progress, setProgress] = useState<Record<string, { loaded: number; total: number }>>({});
  const [tool, setTool] = useState<PrimaryTool>('WindowLevel');
  const [cine, setCine] = useState<Record<string, boolean>>({});
  const [cineFps, setCineFps] = useState(12);
  const [keyImages, setKeyImages] = useState<KeyImage[]>([]);
  const [keyError, setKeyError] = useState<string | null>(null);
  /** Synchronised scrolling of a comparison with a prior (on by default, the reader may turn it off). */
  const [syncOn, setSyncOn] = useState(true);
  const [measurements, setMeasurements] = useState<ViewerMeasurement[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [aiResults, setAiResults] = useState<AiResult[] | null>(null);
  const [aiError, setAiError] = useState<string | null>(null);
  const [overlayOn, setOverlayOn] = useState(true);
  const [opacity, setOpacity] = useState(0.5);
  const [busy, setBusy] = useState<Record<string, boolean>>({});
  const [compare, setCompare] = useState<string | null>(null);
  const [mprIds, setMprIds] = useState<string[]>([]);
  const inflight = useRef(new Map<string, Promise<LoadedSeries>>());
  const mprEls = useRef<(HTMLDivElement | null)[]>([null, null, null]);
  const segShown = useRef(new Map<string, string>());
  const segLoaded = useRef(new Map<string, LoadedSegmentation>());
  const [segSeries, setSegSeries] = useState<SeriesSummary[] | null>(null);
  const cb = useRef(props);
  cb.current = props;

  const controller = useMemo(() => {
    const listener: ControllerListener = {
      viewportChanged: (id, s) => setVpStates((prev) => ({ ...prev, [id]: s })),
      progress: (seriesUid, l, total) =>
        setProgress((prev) => ({ ...prev, [seriesUid]: { loaded: l, total } })),
      measurements: (items) => {
        setMeasurements(items);
        cb.current.onMeasurementsChange?.(items);
      },
    };
    return new ViewerController(listener);
  }, [props.studyUid]);

  useEffect(
    () => () => {
      controller.destroy();
      // Measurements belong to this study's session; the report panel already has them.
      annotation.state.removeAllAnnotations();
    },
    [controller],
  );

  const vpId = (i: number) => `${controller.id}-vp-${i}`;

  const ensureLoaded = useCallback(
    (studyUid: string, summary: SeriesSummary): Promise<LoadedSeries> => {
      const k = key(studyUid, summary.seriesUid);
      let p = inflight.current.get(k);
      if (!p) {
        p = loadSeries(studyUid, summary).then((s) => {
          controller.register(s);
          setLoaded((prev) => ({ ...prev, [k]: s }));
          return s;
        });
        p.catch(() => inflight.current.delete(k));
        inflight.current.set(k, p);
      }
      return p;
    },
    [controller],
  );

  // The study and its priors: series lists; the first image series opens in viewport 0.
  useEffect(() => {
    let cancelled = false;
    setError(null);
    (async () => {
      const all = await listSeries(props.studyUid);
      if (cancelled) return;
      const current = all.filter(isImageSeries);
      setSegSeries(all.filter((s) => s.modality === 'SEG'));
      setStudies([{ studyUid: props.studyUid, priorLabel: null, series: current }]);
      const firstSeries = current[0];
      if (!firstSeries) {
        setError(t('error.noImages'));
        return;
      }
      setPanes([{ studyUid: props.studyUid, seriesUid: firstSeries.seriesUid }]);
      void ensureLoaded(props.studyUid, firstSeries).catch(() => setError(t('error.load')));
      const priors: StripStudy[] = [];
      for (const uid of props.priorStudyUids ?? []) {
        try {
          const [series, date] = await Promise.all([listSeries(uid), studyDate(uid)]);
          priors.push({
            studyUid: uid,
            priorLabel: date || uid.slice(-8),
            series: series.filter(isImageSeries),
          });
        } catch {
          // A prior the user may not see (404) is simply not offered.
        }
      }
      if (!cancelled && priors.length > 0) setStudies((prev) => [...prev.slice(0, 1), ...priors]);
    })().catch(() => !cancelled && setError(t('error.load')));
    return () => {
      cancelled = true;
    };
  }, [props.studyUid, (props.priorStudyUids ?? []).join(',')]);

  // AI results from the API, then any other SEG of the study that no result describes.
  useEffect(() => {
    if (segSeries === null) return;
    let cancelled = false;
    setAiResults(null);
    (async () => {
      const api = await fetchAiResults(props.studyUid).catch(() => {
        if (!cancelled) setAiError('load');
        return [] as AiResult[];
      });
      const known = new Set(api.map((r) => r.segSopInstanceUid).filter((x): x is string => !!x));
      const other = await discoverSegs(props.studyUid, segSeries, known).catch(() => [] as AiResult[]);
      if (!cancelled) setAiResults([...api, ...other]);
    })();
    return () => {
      cancelled = true;
    };
  }, [props.studyUid, segSeries]);

  const summaryOf = (p: PaneSeries) =>
    studies.find((s) => s.studyUid === p.studyUid)?.series.find((s) => s.seriesUid === p.seriesUid);

  // Every pane's series is loaded (metadata) before it is shown.
  useEffect(() => {
    for (const p of panes) {
      if (!p || loaded[key(p.studyUid, p.seriesUid)]) continue;
      const s = summaryOf(p);
      if (s) void ensureLoaded(p.studyUid, s).catch(() => setError(t('error.load')));
    }
  }, [panes, studies]);

  const paneSeries = (i: number): LoadedSeries | null => {
    const p = panes[i];
    return p ? (loaded[key(p.studyUid, p.seriesUid)] ?? null) : null;
  };

  const activeSeries = layout === 'mpr' ? paneSeries(0) : paneSeries(active);
  const activeVp = layout === 'mpr' ? (mprIds[active] ?? '') : vpId(active);
  const keySet = useMemo(() => new Set(keyImages.map((k) => keyOf(k.sopInstanceUid, k.frame))), [keyImages]);
  /** The image on screen in the active stack pane, read when needed (not a render dependency). */
  const imageOnScreen = () => {
    if (!activeSeries || layout === 'mpr') return undefined;
    const f = controller.frame(activeVp).peek();
    return f ? activeSeries.images[f.imageIndex] : undefined;
  };
  /** keyOf() of the slice on screen when it is a key image; changes on entering or leaving one. */
  const currentKeyImage = useMemo(
    () =>
      computed(() => {
        if (!activeSeries || layout === 'mpr') return undefined;
        const f = controller.frame(activeVp).value;
        const im = f ? activeSeries.images[f.imageIndex] : undefined;
        const k = im ? keyOf(im.sopInstanceUid, im.frame) : undefined;
        return k !== undefined && keySet.has(k) ? k : undefined;
      }),
    [controller, activeVp, activeSeries, layout, keySet],
  );
  const onKeyImage = useMemo(() => computed(() => currentKeyImage.value !== undefined), [currentKeyImage]);

  // The study's saved key images (shared by everyone reading it).
  useEffect(() => {
    const ac = new AbortController();
    setKeyImages([]);
    setKeyError(null);
    fetchKeyImages(props.studyUid, ac.signal).then(
      (items) => {
        setKeyImages(items);
        cb.current.onKeyImagesChange?.(items.map((k) => k.sopInstanceUid));
      },
      () => !ac.signal.aborted && setKeyError(t('keyImages.loadError')),
    );
    return () => ac.abort();
  }, [props.studyUid]);

  // Priors side by side: scrolling either pane moves the other to the same anatomical position.
  useEffect(() => {
    if (!compare || layout !== '1x2' || !syncOn) {
      controller.synchronise([]);
      return;
    }
    const ready = [0, 1].every((i) => paneSeries(i) && vpStates[vpId(i)]?.ready);
    if (ready) controller.synchronise([vpId(0), vpId(1)]);
  }, [compare, layout, syncOn, !!vpStates[vpId(0)]?.ready, !!vpStates[vpId(1)]?.ready]);

  // MPR: once the three panes exist and the series' metadata is there.
  useEffect(() => {
    if (layout !== 'mpr') {
      if (mprIds.length > 0) {
        controller.hideMpr();
        setMprIds([]);
      }
      return;
    }
    const s = paneSeries(0);
    const els = mprEls.current;
    if (!s || mprIds.length > 0 || !els.every(Boolean)) return;
    controller
      .showMpr(s, els as [HTMLDivElement, HTMLDivElement, HTMLDivElement])
      .then(setMprIds)
      .catch(() => setError(t('error.mpr')));
  });

  // AI overlay on every stack pane that shows a series a result segmented.
  useEffect(() => {
    if (!aiResults || layout === 'mpr') return;
    panes.forEach((p, i) => {
      const s = paneSeries(i);
      const id = vpId(i);
      if (!p || !s || !vpStates[id]) return;
      const result = aiResults.find(
        (r) => r.seriesUid === s.seriesUid && r.segSopInstanceUid && r.status === 'completed',
      );
      if (!result) return;
      const shown = segShown.current.get(id);
      if (shown) {
        setSegmentationVisible(id, shown, overlayOn);
        return;
      }
      if (!overlayOn) return;
      segShown.current.set(id, 'pending');
      loadSegmentation(
        s.studyUid,
        result,
        s.images.map((im) => im.imageId),
      )
        .then(async (seg) => {
          const segId = seg.segmentationId;
          segLoaded.current.set(result.resultId, seg);
          await showSegmentation(
            id,
            segId,
            result.findings.map((f) => f.segmentNumber),
          );
          setSegmentationOpacity(segId, opacity);
          segShown.current.set(id, segId);
        })
        .catch(() => {
          segShown.current.delete(id);
          // A viewport closed meanwhile (layout change) is not a failure to report.
          if (controller.stackViewport(id)) setAiError('seg');
        });
    });
  }, [aiResults, overlayOn, panes, loaded, layout, Object.keys(vpStates).length]);

  useEffect(() => {
    for (const segId of new Set(segShown.current.values()))
      if (segId !== 'pending') setSegmentationOpacity(segId, opacity);
  }, [opacity]);

  const changeLayout = (l: Layout) => {
    if (l === layout) return;
    for (const id of Object.keys(cine)) if (cine[id]) controller.cine(id, false);
    setCine({});
    segShown.current.clear();
    setCompare(null);
    setLayout(l);
    setActive(0);
    if (l === 'mpr') {
      const s = activeSeries;
      if (s) setPanes([{ studyUid: s.studyUid, seriesUid: s.seriesUid }]);
      return;
    }
    const n = PANES[l];
    const series = studies[0]?.series ?? [];
    setPanes((prev) =>
      Array.from({ length: n }, (_, i) => {
        const kept = prev[i];
        if (kept) return kept;
        const s = series[i % Math.max(1, series.length)];
        return s ? { studyUid: props.studyUid, seriesUid: s.seriesUid } : null;
      }),
    );
  };

  const selectSeries = (studyUid: string, seriesUid: string) => {
    if (layout === 'mpr') changeLayout('1x1');
    segShown.current.delete(vpId(active));
    setPanes((prev) => prev.map((p, i) => (i === active ? { studyUid, seriesUid } : p)));
  };

  const compareWith = (priorUid: string) => {
    const cur = paneSeries(active) ?? paneSeries(0);
    const prior = studies.find((s) => s.studyUid === priorUid);
    if (!cur || !prior || prior.series.length === 0) return;
    const match =
      prior.series.find((s) => s.modality === cur.modality && s.description === cur.description) ??
      prior.series.find((s) => s.modality === cur.modality) ??
      prior.series[0]!;
    segShown.current.clear();
    setLayout('1x2');
    setActive(0);
    setPanes([
      { studyUid: cur.studyUid, seriesUid: cur.seriesUid },
      { studyUid: priorUid, seriesUid: match.seriesUid },
    ]);
    setCompare(priorUid);
  };

  const publishKeyImages = (items: KeyImage[]) => {
    setKeyImages(items);
    cb.current.onKeyImagesChange?.(items.map((k) => k.sopInstanceUid));
  };

  /**
   * Marks or unmarks the slice on screen. The list shows the change at once and is put back as
   * the server has it when the server refuses (then the reader sees why).
   */
  const toggleKeyImage = async () => {
    const im = imageOnScreen();
    const s = activeSeries;
    // Key images belong to the study being read, not to a prior shown beside it.
    if (!im || !s || !props.canMarkKeyImages || s.studyUid !== props.studyUid) return;
    const k = keyOf(im.sopInstanceUid, im.frame);
    const marked = keySet.has(k);
    setKeyError(null);
    try {
      if (marked) {
        setKeyImages((prev) => prev.filter((x) => keyOf(x.sopInstanceUid, x.frame) !== k));
        await unmarkKeyImage(s.studyUid, im.sopInstanceUid, im.frame);
      } else {
        const entry = await markKeyImage(s.studyUid, im.sopInstanceUid, im.frame, null);
        setKeyImages((prev) => [...prev.filter((x) => keyOf(x.sopInstanceUid, x.frame) !== k), entry]);
      }
      publishKeyImages(await fetchKeyImages(props.studyUid));
    } catch {
      setKeyError(t('keyImages.saveError'));
      fetchKeyImages(props.studyUid).then(publishKeyImages, () => {});
    }
  };

  const saveKeyNote = async (k: KeyImage, note: string) => {
    setKeyError(null);
    try {
      await markKeyImage(props.studyUid, k.sopInstanceUid, k.frame, note.trim() || null);
      publishKeyImages(await fetchKeyImages(props.studyUid));
    } catch {
      setKeyError(t('keyImages.saveError'));
    }
  };

  const removeKeyImage = async (k: KeyImage) => {
    setKeyError(null);
    try {
      await unmarkKeyImage(props.studyUid, k.sopInstanceUid, k.frame);
      publishKeyImages(await fetchKeyImages(props.studyUid));
    } catch {
      setKeyError(t('keyImages.saveError'));
    }
  };

  const imageIndexOf = (s: LoadedSeries, sop: string, frame: number) =>
    s.images.findIndex((im) => im.sopInstanceUid === sop && im.frame === frame);

  /** Where a key image is, for the list: series number and image position in it. */
  const keyWhere = (k: KeyImage): string | null => {
    const summary = studies[0]?.series.find((x) => x.seriesUid === k.seriesUid);
    if (!summary) return null;
    const s = loaded[key(props.studyUid, k.seriesUid)];
    const idx = s ? imageIndexOf(s, k.sopInstanceUid, k.frame) : -1;
    const series = `${summary.modality} ${summary.number ?? ''}`.trim();
    return idx >= 0
      ? `${series} · ${t('overlay.image', { index: idx + 1, count: s!.images.length })}`
      : series;
  };

  /** Shows a key image: in the pane that has its series, else in the active pane. */
  const jumpToKeyImage = async (k: KeyImage) => {
    const summary = studies[0]?.series.find((x) => x.seriesUid === k.seriesUid);
    if (!summary) return;
    const i =
      layout === 'mpr' ? -1 : panes.findIndex((p, n) => p && paneSeries(n)?.seriesUid === k.seriesUid);
    if (i >= 0) {
      setActive(i);
      const idx = imageIndexOf(paneSeries(i)!, k.sopInstanceUid, k.frame);
      if (idx >= 0) await controller.jumpTo(vpId(i), idx);
      return;
    }
    const target = layout === 'mpr' ? 0 : active;
    if (layout === 'mpr') changeLayout('1x1');
    const s = await ensureLoaded(props.studyUid, summary);
    setPanes((prev) =>
      prev.map((p, n) => (n === target ? { studyUid: props.studyUid, seriesUid: k.seriesUid } : p)),
    );
    // The pane shows the series on its next render; open it directly on the key image.
    pendingJump.current = { pane: target, index: imageIndexOf(s, k.sopInstanceUid, k.frame) };
  };

  const chooseTool = (tl: PrimaryTool) => {
    controller.setTool(tl);
    setTool(tl);
  };

  const applyPreset = (id: string) => {
    const targets = layout === 'mpr' ? mprIds : [activeVp];
    for (const v of targets) {
      if (id === 'auto') controller.autoWindow(v);
      else {
        const p = CT_PRESETS.find((x) => x.id === id);
        if (p) controller.setWindowWidthCenter(v, p.width, p.center);
      }
    }
  };

  const jumpToFinding = async (r: AiResult, f: AiFinding) => {
    let i = panes.findIndex((p, k) => p && paneSeries(k)?.seriesUid === r.seriesUid);
    if (i < 0 || layout === 'mpr') {
      const summary = studies[0]?.series.find((s) => s.seriesUid === r.seriesUid);
      if (!summary) return;
      if (layout === 'mpr') changeLayout('1x1');
      i = layout === 'mpr' ? 0 : active;
      const s = await ensureLoaded(props.studyUid, summary);
      setPanes((prev) =>
        prev.map((p, k) => (k === i ? { studyUid: props.studyUid, seriesUid: r.seriesUid } : p)),
      );
      const idx = findingIndex(s, r, f);
      // The pane shows the series on its next render; open it directly on the finding's slice.
      pendingJump.current = { pane: i, index: idx };
      return;
    }
    setActive(i);
    const s = paneSeries(i);
    const idx = s ? findingIndex(s, r, f) : -1;
    if (idx >= 0) await controller.jumpTo(vpId(i), idx);
  };
  /** The slice of a finding: the instance the API names, else the SEG segment's centroid slice. */
  const findingIndex = (s: LoadedSeries, r: AiResult, f: AiFinding): number => {
    const bySop = f.referencedSopInstanceUid
      ? s.images.findIndex((im) => im.sopInstanceUid === f.referencedSopInstanceUid)
      : -1;
    return bySop >= 0 ? bySop : (segLoaded.current.get(r.resultId)?.centroidSlice.get(f.segmentNumber) ?? -1);
  };
  const pendingJump = useRef<{ pane: number; index: number } | null>(null);
  useEffect(() => {
    const pj = pendingJump.current;
    if (!pj || pj.index < 0) return;
    const id = vpId(pj.pane);
    if (vpStates[id]?.ready && paneSeries(pj.pane)) {
      pendingJump.current = null;
      void controller.jumpTo(id, pj.index);
    }
  });

  const feedback = async (f: AiFinding, verdict: 'accepted' | 'rejected') => {
    setBusy((b) => ({ ...b, [f.findingId]: true }));
    try {
      await sendFeedback(f.findingId, verdict);
      setAiResults(
        (rs) =>
          rs?.map((r) => ({
            ...r,
            findings: r.findings.map((x) =>
              x.findingId === f.findingId
                ? { ...x, feedback: { verdict, by: '', at: new Date().toISOString() } }
                : x,
            ),
          })) ?? null,
      );
    } catch {
      setAiError('feedback');
    } finally {
      setBusy((b) => ({ ...b, [f.findingId]: false }));
    }
  };

  const runAction = (a: ShortcutAction) => {
    const v = activeVp;
    switch (a) {
      case 'prev':
        return controller.scroll(v, -1);
      case 'next':
        return controller.scroll(v, 1);
      case 'prev10':
        return controller.scroll(v, -10);
      case 'next10':
        return controller.scroll(v, 10);
      case 'first':
        return void controller.jumpTo(v, 0);
      case 'last':
        return void controller.jumpTo(v, Number.MAX_SAFE_INTEGER);
      case 'auto-window':
        return applyPreset('auto');
      case 'invert':
        return controller.invert(v);
      case 'flip-h':
        return controller.flip(v, 'h');
      case 'flip-v':
        return controller.flip(v, 'v');
      case 'rotate-right':
        return controller.rotate(v, 90);
      case 'rotate-left':
        return controller.rotate(v, -90);
      case 'reset':
        return controller.reset(v);
      case 'cine': {
        const on = !cine[v];
        controller.cine(v, on, cineFps);
        return setCine((c) => ({ ...c, [v]: on }));
      }
      case 'key-image':
        return void toggleKeyImage();
      case 'mpr':
        return changeLayout(layout === 'mpr' ? '1x1' : 'mpr');
      case 'segmentation':
        return setOverlayOn((o) => !o);
      default:
        if (a.startsWith('preset-')) {
          const p = CT_PRESETS.find((x) => x.key === a.slice(7));
          if (p) applyPreset(p.id);
        } else if (a.startsWith('tool-')) chooseTool(a.slice(5) as PrimaryTool);
    }
  };
  const runRef = useRef(runAction);
  runRef.current = runAction;

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
      const a = actionFor(e);
      if (!a) return;
      e.preventDefault();
      runRef.current(a);
    };
    // Capture phase: Cornerstone's element listeners stop keydown from bubbling once a viewport
    // has focus (after any click on the image).
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
  }, []);

  const mprAvailable = !!activeSeries?.isVolume && !getShouldUseCPURendering();
  const stackPaneCount = layout === 'mpr' ? 0 : PANES[layout];
  const activeProgress = activeSeries ? progress[activeSeries.seriesUid] : undefined;

  return (
    <div class="rl-viewer" data-testid="study-viewer" data-layout={layout}>
      <Toolbar
        t={t}
        tool={tool}
        layout={layout}
        modality={activeSeries?.modality ?? ''}
        mprAvailable={mprAvailable}
        cinePlaying={!!cine[activeVp]}
        cineFps={cineFps}
        onCineFps={(fps) => {
          setCineFps(fps);
          // A playing clip takes the new rate at once.
          if (cine[activeVp]) controller.cine(activeVp, true, fps);
        }}
        isKeyImage={onKeyImage}
        canMarkKeyImage={!!props.canMarkKeyImages}
        onTool={chooseTool}
        onPreset={applyPreset}
        onAction={runAction}
        onLayout={changeLayout}
      />
      {error && (
        <p class="rl-error" role="alert" data-testid="viewer-error">
          {error}
        </p>
      )}
      <div class="rl-body">
        <SeriesStrip
          studies={studies}
          activeSeriesUid={activeSeries?.seriesUid ?? null}
          progress={progress}
          t={t}
          onSelect={selectSeries}
          onCompare={compareWith}
        />
        <div class={`rl-grid rl-grid-${layout}`} data-testid="viewport-grid">
          {layout === 'mpr'
            ? ['axial', 'sagittal', 'coronal'].map((o, i) => (
                <ViewportPane
                  key={`mpr-${o}`}
                  index={i}
                  viewportId={`${controller.id}-mpr-${o}`}
                  controller={controller}
                  series={paneSeries(0)}
                  state={vpStates[`${controller.id}-mpr-${o}`]}
                  frame={controller.frame(`${controller.id}-mpr-${o}`)}
                  active={active === i}
                  lowBandwidth={false}
                  keyImages={NO_KEYS}
                  label={t(`mpr.${o}`)}
                  t={t}
                  kind="mpr"
                  onActivate={setActive}
                  onElement={(k, el) => {
                    mprEls.current[k] = el;
                  }}
                />
              ))
            : Array.from({ length: stackPaneCount }, (_, i) => {
                const s = paneSeries(i);
                const start = pendingJump.current?.pane === i ? pendingJump.current.index : undefined;
                return (
                  <ViewportPane
                    key={`vp-${i}`}
                    index={i}
                    viewportId={vpId(i)}
                    controller={controller}
                    series={s}
                    start={start !== undefined && start >= 0 ? start : undefined}
                    state={vpStates[vpId(i)]}
                    frame={controller.frame(vpId(i))}
                    active={active === i}
                    lowBandwidth={lowBandwidth}
                    keyImages={keySet}
                    label={
                      s && s.studyUid !== props.studyUid
                        ? t('strip.prior', {
                            date: studies.find((x) => x.studyUid === s.studyUid)?.priorLabel ?? '',
                          })
                        : undefined
                    }
                    t={t}
                    kind="stack"
                    onActivate={setActive}
                  />
                );
              })}
        </div>
        <aside class="rl-side" data-testid="viewer-side">
          {activeProgress && (
            <p
              class="rl-muted"
              data-testid="load-progress"
              data-loaded={activeProgress.loaded}
              data-total={activeProgress.total}
            >
              {t('progress', { loaded: activeProgress.loaded, total: activeProgress.total })}
            </p>
          )}
          <section data-testid="measurements">
            <h3>{t('measurements.title')}</h3>
            {measurements.length === 0 ? (
              <p class="rl-muted">{t('measurements.none')}</p>
            ) : (
              <ul>
                {measurements.map((m, i) => (
                  <li key={i} data-testid="measurement" data-kind={m.kind} data-value={m.value}>
                    {t(`measurements.kind.${m.kind}`)}: {formatMeasurement(m)}
                  </li>
                ))}
              </ul>
            )}
          </section>
          {compare && layout === '1x2' && (
            <section data-testid="compare-panel">
              <h3>{t('compare.title')}</h3>
              <label class="rl-check">
                <input
                  type="checkbox"
                  data-testid="sync-scroll"
                  checked={syncOn}
                  onChange={(e) => setSyncOn(e.currentTarget.checked)}
                />
                {t('compare.sync')}
              </label>
            </section>
          )}
          <KeyImagesPanel
            t={t}
            items={keyImages}
            where={keyWhere}
            currentKey={currentKeyImage}
            canEdit={!!props.canMarkKeyImages}
            error={keyError}
            onJump={(k) => void jumpToKeyImage(k)}
            onRemove={(k) => void removeKeyImage(k)}
            onSaveNote={(k, note) => void saveKeyNote(k, note)}
          />
          <AiPanel
            t={t}
            results={aiResults}
            error={aiError}
            overlayOn={overlayOn}
            opacity={opacity}
            busy={busy}
            onOverlay={setOverlayOn}
            onOpacity={setOpacity}
            onJump={(r, f) => void jumpToFinding(r, f)}
            onFeedback={(f, v) => void feedback(f, v)}
          />
        </aside>
      </div>
    </div>
  );
}
