/**
 * One study viewer's Cornerstone state: its rendering engine, tool groups, the stacks shown in
 * its viewports, the prefetcher, the slice synchroniser for priors and the MPR volume. The Preact
 * components call into it; it reports back through the listener it is given (views, load
 * progress, measurements) and through a signal per viewport for the slice shown (frame()), which
 * changes at cine rate and must not render the viewer. Created when the viewer mounts,
 * `destroy()`ed when it unmounts (viewports, tool groups, synchronisers and the rendering engine
 * go away; cached pixels stay in Cornerstone's bounded cache for a reopen).
 */
import {
  cache,
  utilities as csUtils,
  Enums,
  eventTarget,
  imageLoader,
  imageLoadPoolManager,
  metaData,
  RenderingEngine,
  type StackViewport,
  setVolumesForViewports,
  type Types,
  type VolumeViewport,
  volumeLoader,
} from '@cornerstonejs/core';
import {
  annotation,
  type Synchronizer,
  SynchronizerManager,
  synchronizers,
  Enums as ToolEnums,
  ToolGroupManager,
  type Types as ToolTypes,
  utilities as toolUtils,
} from '@cornerstonejs/tools';
import { type ReadonlySignal, type Signal, signal } from '@preact/signals';
import { StackCine } from './cine.js';
import type { LoadedSeries } from './dicomweb.js';
import { loadOrder, middleIndex, prefetchBudget } from './geometry.js';
import { CACHE_BYTES } from './init.js';
import {
  type AnnotationLike,
  type ImageRef,
  toMeasurements,
  type ViewerMeasurement,
} from './measurements.js';
import { autoWindow, type VoiRange } from './presets.js';
import { createToolGroup, type PrimaryTool, setPrimaryTool } from './tools.js';

/**
 * What changes with every slice shown (cine, scrolling, a synchronised prior following). It is
 * published in a signal per viewport, not through the listener: a slice change then updates the
 * few DOM nodes bound to it (slice read-out, `data-image-*` attributes) without rendering the
 * viewer, so a cine step costs Cornerstone's render, not a Preact render of every panel.
 */
export interface ViewportFrame {
  imageIndex: number;
  imageId?: string;
  /** The displayed image's pixels have arrived (false while a slow link still streams them). */
  imageLoaded: boolean;
}

/**
 * What changes with the camera, the window or the series shown: reported through the listener,
 * and only when it differs from what was last reported.
 */
export interface ViewportState {
  imageCount: number;
  voi?: VoiRange;
  zoom: number;
  orientation?: { top: string; bottom: string; left: string; right: string };
  /**
   * Millimetres per screen pixel (parallel projection: the viewport's height spans
   * 2 × parallelScale mm), for the scale bar. Cornerstone's ScaleOverlayTool is not used: it keeps
   * a module-wide list of viewports and fails on a viewport that has no image yet (a 2×2 layout
   * while series load).
   */
  mmPerPixel?: number;
  /** A slice of the series shown has been displayed (stays true while later slices stream in). */
  ready: boolean;
}

const sameView = (a: ViewportState, b: ViewportState): boolean =>
  a.imageCount === b.imageCount &&
  a.zoom === b.zoom &&
  a.mmPerPixel === b.mmPerPixel &&
  a.ready === b.ready &&
  a.voi?.lower === b.voi?.lower &&
  a.voi?.upper === b.voi?.upper &&
  a.orientation?.top === b.orientation?.top &&
  a.orientation?.right === b.orientation?.right;

const sameFrame = (a: ViewportFrame | undefined, b: ViewportFrame): boolean =>
  !!a && a.imageIndex === b.imageIndex && a.imageId === b.imageId && a.imageLoaded === b.imageLoaded;

export interface ControllerListener {
  viewportChanged(viewportId: string, s: ViewportState): void;
  progress(seriesUid: string, loaded: number, total: number): void;
  measurements(items: ViewerMeasurement[]): void;
}

let engineCounter = 0;

export class ViewerController {
  readonly engine: RenderingEngine;
  readonly id: string;
  private readonly stackGroup: ToolTypes.IToolGroup;
  private mprGroup: ToolTypes.IToolGroup | null = null;
  private readonly series = new Map<string, LoadedSeries>();
  private readonly shown = new Map<string, LoadedSeries>();
  private readonly frames = new Map<string, Signal<ViewportFrame | undefined>>();
  /** The view last reported to the listener, per viewport. */
  private readonly views = new Map<string, ViewportState>();
  private readonly cines = new Map<string, StackCine>();
  /** imageId → series/instance, for measurements. */
  private readonly refs = new Map<string, ImageRef>();
  private readonly prefetched = new Map<string, Set<string>>();
  private readonly elementListeners: Array<() => void> = [];
  private sync: Synchronizer | null = null;
  private syncKey = '';
  private tool: PrimaryTool = 'WindowLevel';
  private destroyed = false;
  private readonly onAnnotation = () => this.emitMeasurements();

  constructor(private readonly listener: ControllerListener) {
    this.id = `radlink-${++engineCounter}`;
    this.engine = new RenderingEngine(this.id);
    this.stackGroup = createToolGroup(`${this.id}-stack`);
    for (const ev of [
      ToolEnums.Events.ANNOTATION_COMPLETED,
      ToolEnums.Events.ANNOTATION_MODIFIED,
      ToolEnums.Events.ANNOTATION_REMOVED,
    ]) {
      eventTarget.addEventListener(ev, this.onAnnotation);
    }
  }

  destroy(): void {
    this.destroyed = true;
    for (const ev of [
      ToolEnums.Events.ANNOTATION_COMPLETED,
      ToolEnums.Events.ANNOTATION_MODIFIED,
      ToolEnums.Events.ANNOTATION_REMOVED,
    ]) {
      eventTarget.removeEventListener(ev, this.onAnnotation);
    }
    for (const c of this.cines.values()) c.stop();
    this.cines.clear();
    for (const off of this.elementListeners.splice(0)) off();
    if (this.sync) SynchronizerManager.destroySynchronizer(this.sync.id);
    ToolGroupManager.destroyToolGroup(this.stackGroup.id);
    if (this.mprGroup) ToolGroupManager.destroyToolGroup(this.mprGroup.id);
    this.engine.destroy();
  }

  register(series: LoadedSeries): void {
    this.series.set(series.seriesUid, series);
    for (const im of series.images)
      this.refs.set(im.imageId, { seriesUid: series.seriesUid, sopInstanceUid: im.sopInstanceUid });
  }

  /** Enables a DOM element as a stack viewport (idempotent for the same element). */
  enableStack(viewportId: string, element: HTMLDivElement): void {
    const existing = this.engine.getViewport(viewportId);
    if (existing && existing.element === element) return;
    if (existing) this.disable(viewportId);
    this.engine.enableElement({
      viewportId,
      type: Enums.ViewportType.STACK,
      element,
      defaultOptions: { background: [0, 0, 0] as Types.Point3 },
    });
    this.stackGroup.addViewport(viewportId, this.id);
    this.watchElement(viewportId, element);
  }

  disable(viewportId: string): void {
    if (!this.engine.getViewport(viewportId)) return;
    this.cines.get(viewportId)?.stop();
    this.cines.delete(viewportId);
    this.stackGroup.removeViewports(this.id, viewportId);
    this.mprGroup?.removeViewports(this.id, viewportId);
    this.dropSync(viewportId);
    this.shown.delete(viewportId);
    this.views.delete(viewportId);
    this.frameSignal(viewportId).value = undefined;
    this.engine.disableElement(viewportId);
  }

  /** The slice a viewport shows, as a signal (undefined until it shows one). */
  frame(viewportId: string): ReadonlySignal<ViewportFrame | undefined> {
    return this.frameSignal(viewportId);
  }

  private frameSignal(viewportId: string): Signal<ViewportFrame | undefined> {
    let f = this.frames.get(viewportId);
    if (!f) {
      f = signal<ViewportFrame | undefined>(undefined);
      this.frames.set(viewportId, f);
    }
    return f;
  }

  /** Publishes a viewport's slice (to its signal) and view (to the listener), each only when changed. */
  private publish(viewportId: string, frame: ViewportFrame, view: ViewportState): void {
    const f = this.frameSignal(viewportId);
    if (!sameFrame(f.peek(), frame)) f.value = frame;
    const last = this.views.get(viewportId);
    if (last && sameView(last, view)) return;
    this.views.set(viewportId, view);
    this.listener.viewportChanged(viewportId, view);
  }

  resize(): void {
    this.engine.resize(true, true);
  }

  private watchElement(viewportId: string, element: HTMLDivElement): void {
    const update = () => this.emitViewport(viewportId);
    const events = [
      Enums.Events.STACK_NEW_IMAGE,
      Enums.Events.CAMERA_MODIFIED,
      Enums.Events.VOI_MODIFIED,
      Enums.Events.STACK_VIEWPORT_SCROLL,
      Enums.Events.IMAGE_RENDERED,
    ];
    for (const ev of events) element.addEventListener(ev, update);
    this.elementListeners.push(() => {
      for (const ev of events) element.removeEventListener(ev, update);
    });
  }

  stackViewport(viewportId: string): StackViewport | undefined {
    const vp = this.engine.getViewport(viewportId);
    return vp && vp.type === Enums.ViewportType.STACK ? (vp as StackViewport) : undefined;
  }

  shownSeries(viewportId: string): LoadedSeries | undefined {
    return this.shown.get(viewportId);
  }

  /**
   * Shows a series: its start slice first (middle by default), then the rest stream in. `gate`,
   * when given, is awaited before any pixel is requested (a slow link lets the preview of the
   * start slice arrive first, at the whole bandwidth).
   */
  async showSeries(
    viewportId: string,
    series: LoadedSeries,
    start?: number,
    gate?: (imageIndex: number) => Promise<void>,
  ): Promise<void> {
    const vp = this.stackViewport(viewportId);
    if (!vp) return;
    this.register(series);
    // Another series in a synchronised pane: its registration no longer holds.
    if (this.shown.get(viewportId) !== series) this.dropSync(viewportId);
    this.shown.set(viewportId, series);
    const ids = series.images.map((i) => i.imageId);
    const index = start ?? middleIndex(ids.length);
    // Which slice is coming, before its pixels are here (a slow link shows its preview meanwhile).
    this.views.delete(viewportId);
    this.publish(
      viewportId,
      { imageIndex: index, imageLoaded: false, ...(ids[index] ? { imageId: ids[index] } : {}) },
      { imageCount: ids.length, zoom: 1, ready: false },
    );
    if (gate) await gate(index);
    if (this.destroyed || this.shown.get(viewportId) !== series) return;
    await vp.setStack(ids, index);
    if (this.destroyed) return;
    vp.render();
    this.emitViewport(viewportId);
    this.prefetch(series, index);
  }

  /**
   * Streams a series into the cache in load order (nearest the displayed slice first) at
   * prefetch priority, so the reader's own requests (scrolling) always go first; at most what the
   * cache budget allows.
   */
  private prefetch(series: LoadedSeries, start: number): void {
    const done = this.prefetched.get(series.seriesUid) ?? new Set<string>();
    this.prefetched.set(series.seriesUid, done);
    const total = series.images.length;
    const budget = prefetchBudget(total, series.bytesPerImage, CACHE_BYTES);
    const order = loadOrder(total, start).slice(0, budget);
    const report = () => this.listener.progress(series.seriesUid, done.size, total);
    for (const k of order) {
      const imageId = series.images[k]!.imageId;
      if (done.has(imageId)) continue;
      if (cache.isLoaded(imageId)) {
        done.add(imageId);
        continue;
      }
      imageLoadPoolManager.addRequest(
        async () => {
          if (this.destroyed) return;
          try {
            await imageLoader.loadAndCacheImage(imageId, {
              priority: 0,
              requestType: Enums.RequestType.Prefetch,
            });
            done.add(imageId);
            report();
          } catch {
            // A failed frame is retried when the reader scrolls to it (an interaction request).
          }
        },
        Enums.RequestType.Prefetch,
        { imageId },
      );
    }
    report();
  }

  private emitViewport(viewportId: string): void {
    if (this.destroyed) return;
    const vp = this.engine.getViewport(viewportId) as StackViewport | VolumeViewport | undefined;
    if (!vp) return;
    if (vp.getActors().length === 0 && vp.type !== Enums.ViewportType.STACK) return;
    const camera = vp.getCamera();
    const view: ViewportState = { imageCount: 1, zoom: vp.getZoom(), ready: false };
    const frame: ViewportFrame = { imageIndex: 0, imageLoaded: true };
    if (camera.viewUp && camera.viewPlaneNormal) {
      const up = camera.viewUp;
      const n = camera.viewPlaneNormal;
      // Screen right = viewUp × viewPlaneNormal (Cornerstone's camera convention).
      const right: Types.Point3 = [
        up[1] * n[2] - up[2] * n[1],
        up[2] * n[0] - up[0] * n[2],
        up[0] * n[1] - up[1] * n[0],
      ];
      const o = toolUtils.orientation;
      const top = o.getOrientationStringLPS(up);
      const r = o.getOrientationStringLPS(right);
      view.orientation = {
        top,
        bottom: o.invertOrientationStringLPS(top),
        right: r,
        left: o.invertOrientationStringLPS(r),
      };
    }
    const h = vp.element.clientHeight;
    if (camera.parallelScale && h > 0) view.mmPerPixel = (2 * camera.parallelScale) / h;
    // A volume viewport has no properties until its volume is set (MPR while the volume builds).
    const props =
      vp.getActors().length > 0 ? (vp.getProperties() as { voiRange?: VoiRange } | undefined) : undefined;
    if (props?.voiRange) view.voi = { lower: props.voiRange.lower, upper: props.voiRange.upper };
    if (vp.type === Enums.ViewportType.STACK) {
      const s = vp as StackViewport;
      const target = s.getTargetImageIdIndex();
      frame.imageIndex = target;
      view.imageCount = s.getImageIds().length;
      const id = s.getImageIds()[target];
      if (id) frame.imageId = id;
      frame.imageLoaded = s.getCurrentImageIdIndex() === target && !!s.getImageData();
    } else {
      const v = vp as VolumeViewport;
      frame.imageIndex = v.getSliceIndex();
      view.imageCount = v.getNumberOfSlices();
    }
    view.ready = (this.views.get(viewportId)?.ready ?? false) || frame.imageLoaded;
    this.publish(viewportId, frame, view);
  }

  private emitMeasurements(): void {
    if (this.destroyed) return;
    const all = annotation.state.getAllAnnotations() as unknown as AnnotationLike[];
    this.listener.measurements(toMeasurements(all, (id) => this.refs.get(id)));
  }

  setTool(tool: PrimaryTool): void {
    this.tool = tool;
    setPrimaryTool(this.stackGroup, tool);
    if (this.mprGroup) setPrimaryTool(this.mprGroup, tool === 'PlanarRotate' ? 'WindowLevel' : tool);
  }

  get activeTool(): PrimaryTool {
    return this.tool;
  }

  setWindow(viewportId: string, range: VoiRange): void {
    const vp = this.engine.getViewport(viewportId) as StackViewport | VolumeViewport | undefined;
    if (!vp) return;
    vp.setProperties({ voiRange: range });
    vp.render();
  }

  setWindowWidthCenter(viewportId: string, width: number, center: number): void {
    this.setWindow(viewportId, csUtils.windowLevel.toLowHighRange(width, center));
  }

  /** MR "auto": windows the displayed slice on its own histogram (presets.autoWindow). */
  autoWindow(viewportId: string): void {
    const vp = this.stackViewport(viewportId);
    const data = vp?.getImageData();
    if (!vp || !data) return;
    const pixels =
      (data as { scalarData?: ArrayLike<number> }).scalarData ??
      data.voxelManager?.getCompleteScalarDataArray?.();
    if (!pixels) return;
    this.setWindow(viewportId, autoWindow(pixels as ArrayLike<number>));
  }

  invert(viewportId: string): void {
    const vp = this.engine.getViewport(viewportId) as StackViewport | undefined;
    if (!vp) return;
    const { invert } = vp.getProperties();
    vp.setProperties({ invert: !invert });
    vp.render();
  }

  flip(viewportId: string, axis: 'h' | 'v'): void {
    const vp = this.engine.getViewport(viewportId);
    if (!vp) return;
    const p = vp.getViewPresentation();
    vp.setViewPresentation(
      axis === 'h' ? { flipHorizontal: !p.flipHorizontal } : { flipVertical: !p.flipVertical },
    );
    vp.render();
  }

  rotate(viewportId: string, degrees: number): void {
    const vp = this.engine.getViewport(viewportId);
    if (!vp) return;
    const p = vp.getViewPresentation({ rotation: true });
    vp.setViewPresentation({ rotation: ((((p.rotation ?? 0) + degrees) % 360) + 360) % 360 });
    vp.render();
  }

  reset(viewportId: string): void {
    const vp = this.engine.getViewport(viewportId) as StackViewport | undefined;
    if (!vp) return;
    vp.setViewPresentation({ rotation: 0, flipHorizontal: false, flipVertical: false });
    vp.resetCamera();
    vp.resetProperties();
    vp.render();
  }

  scroll(viewportId: string, delta: number): void {
    const vp = this.engine.getViewport(viewportId);
    if (!vp) return;
    csUtils.scroll(vp, { delta });
  }

  async jumpTo(viewportId: string, index: number): Promise<void> {
    const vp = this.stackViewport(viewportId);
    if (!vp) return;
    await vp.setImageIdIndex(Math.max(0, Math.min(index, vp.getImageIds().length - 1)));
  }

  /** Index of an instance (SOP Instance UID) in the stack shown in a viewport, or -1. */
  indexOf(viewportId: string, sopInstanceUid: string): number {
    const s = this.shown.get(viewportId);
    return s ? s.images.findIndex((i) => i.sopInstanceUid === sopInstanceUid) : -1;
  }

  /**
   * Plays (or stops) the slices of a viewport in a loop at `fps` at most. Stacks are paced by
   * their drawing (cine.ts); MPR panes use Cornerstone's clip, which scrolls a volume's planes.
   * Playing again with another rate restarts at that rate from the slice shown.
   */
  cine(viewportId: string, play: boolean, fps = 12): void {
    const vp = this.engine.getViewport(viewportId);
    if (!vp) return;
    const stack = this.stackViewport(viewportId);
    if (!stack) {
      if (play) toolUtils.cine.playClip(vp.element, { framesPerSecond: fps, loop: true });
      else toolUtils.cine.stopClip(vp.element);
      return;
    }
    this.cines.get(viewportId)?.stop();
    this.cines.delete(viewportId);
    if (!play) return;
    const cine = new StackCine(
      {
        element: stack.element,
        renderedEvent: Enums.Events.IMAGE_RENDERED,
        imageCount: () => stack.getImageIds().length,
        target: () => stack.getTargetImageIdIndex(),
        drawn: (k) =>
          stack.getCurrentImageIdIndex() === k && stack.viewportStatus === Enums.ViewportStatus.RENDERED,
        show: (k) => stack.setImageIdIndex(k),
      },
      fps,
    );
    this.cines.set(viewportId, cine);
  }

  /**
   * Synchronised scrolling of the viewports given (current study beside its prior): Cornerstone's
   * image-slice synchroniser matches slices by patient position, not by index, so a prior with a
   * different table position or slice count stays anatomically aligned.
   */
  synchronise(viewportIds: string[]): void {
    // Idempotent for the same viewports: re-registering mid-scroll (a pane's pixels arriving
    // re-runs the caller's effect) would lock in a half-followed position.
    const key = viewportIds.join(',');
    if (this.sync && this.syncKey === key) return;
    if (this.sync) SynchronizerManager.destroySynchronizer(this.sync.id);
    this.sync = null;
    this.syncKey = '';
    if (viewportIds.length < 2) return;
    this.syncKey = key;
    const [first, ...others] = viewportIds;
    for (const other of others) this.registerAsShown(first!, other);
    this.sync = synchronizers.createImageSliceSynchronizer(`${this.id}-slices`);
    for (const viewportId of viewportIds) this.sync.add({ renderingEngineId: this.id, viewportId });
  }

  /** Ends synchronised scrolling when it involves the viewport (the caller's next synchronise() re-aligns). */
  private dropSync(viewportId: string): void {
    if (!this.sync || !this.syncKey.split(',').includes(viewportId)) return;
    SynchronizerManager.destroySynchronizer(this.sync.id);
    this.sync = null;
    this.syncKey = '';
  }

  /**
   * A prior has its own frame of reference (another day, another table position), so patient
   * coordinates of the two studies do not correspond. The slices on screen when synchronisation
   * starts are taken as the same anatomy (the reader lines them up, with sync off, then turns it
   * on): their positions' difference is registered as the translation between the two viewports.
   * Cornerstone 5.14 would compute this itself but looks the metadata up by slice index instead of
   * image ID, finds none and then never syncs; registering here also keeps re-alignment possible.
   * Same frame of reference: nothing to register (the synchroniser uses identity).
   */
  private registerAsShown(a: string, b: string): void {
    const va = this.stackViewport(a);
    const vb = this.stackViewport(b);
    if (!va || !vb || va.getFrameOfReferenceUID() === vb.getFrameOfReferenceUID()) return;
    const pa = metaData.get('imagePlaneModule', va.getCurrentImageId())?.imagePositionPatient as
      | Types.Point3
      | undefined;
    const pb = metaData.get('imagePlaneModule', vb.getCurrentImageId())?.imagePositionPatient as
      | Types.Point3
      | undefined;
    if (!pa || !pb) return;
    // Column-major 4×4 translations (gl-matrix layout); entry "x_y" maps y's positions to x's.
    const registry = csUtils.spatialRegistrationMetadataProvider;
    const translation = (t: number[]) => {
      const m = new Float32Array(16);
      m[0] = m[5] = m[10] = m[15] = 1;
      m.set(t, 12);
      return m as unknown as Parameters<typeof registry.add>[1];
    };
    const d = [pb[0] - pa[0], pb[1] - pa[1], pb[2] - pa[2]];
    registry.add([b, a], translation(d));
    registry.add([a, b], translation(d.map((x) => -x)));
  }

  /**
   * MPR: one volume built from the series (streamed into the cache slice by slice), shown in
   * three orthographic viewports (axial, sagittal, coronal) with their own tool group.
   */
  async showMpr(
    series: LoadedSeries,
    elements: [HTMLDivElement, HTMLDivElement, HTMLDivElement],
  ): Promise<string[]> {
    this.register(series);
    const ids = ['axial', 'sagittal', 'coronal'].map((o) => `${this.id}-mpr-${o}`);
    const orientations = [
      Enums.OrientationAxis.AXIAL,
      Enums.OrientationAxis.SAGITTAL,
      Enums.OrientationAxis.CORONAL,
    ];
    ids.forEach((viewportId, i) => {
      if (this.engine.getViewport(viewportId)) this.engine.disableElement(viewportId);
      this.engine.enableElement({
        viewportId,
        type: Enums.ViewportType.ORTHOGRAPHIC,
        element: elements[i]!,
        defaultOptions: { orientation: orientations[i]!, background: [0, 0, 0] as Types.Point3 },
      });
      this.watchElement(viewportId, elements[i]!);
    });
    if (!this.mprGroup) this.mprGroup = createToolGroup(`${this.id}-mpr`);
    for (const viewportId of ids) this.mprGroup.addViewport(viewportId, this.id);
    setPrimaryTool(this.mprGroup, this.tool === 'PlanarRotate' ? 'WindowLevel' : this.tool);
    const volumeId = `cornerstoneStreamingImageVolume:${series.seriesUid}`;
    const volume = await volumeLoader.createAndCacheVolume(volumeId, {
      imageIds: series.images.map((i) => i.imageId),
    });
    (volume as unknown as { load: () => void }).load();
    await setVolumesForViewports(this.engine, [{ volumeId }], ids);
    this.engine.renderViewports(ids);
    return ids;
  }

  hideMpr(): void {
    for (const o of ['axial', 'sagittal', 'coronal']) {
      const viewportId = `${this.id}-mpr-${o}`;
      if (this.engine.getViewport(viewportId)) {
        this.mprGroup?.removeViewports(this.id, viewportId);
        this.engine.disableElement(viewportId);
      }
    }
  }
}
