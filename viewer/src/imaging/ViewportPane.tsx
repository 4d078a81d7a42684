/**
 * One viewport: the Cornerstone element, the DOM overlays around it (patient and study text,
 * orientation markers, slice and window read-outs) and, on a slow link, the server-rendered
 * preview of the current slice until its full pixels have arrived.
 *
 * Invariant: the pane renders when its view changes (series, camera, window), never per slice.
 * What follows the slice (the slice read-out, the preview, the `data-image-*` attributes) reads
 * the controller's frame signal in the small components below or is bound to it directly, so a
 * cine step re-renders only those.
 */

import { utilities as csUtils } from '@cornerstonejs/core';
import { computed, type ReadonlySignal } from '@preact/signals';
import { useEffect, useMemo, useRef } from 'preact/hooks';
import type { ViewerController, ViewportFrame, ViewportState } from './controller.js';
import { formatDa, type LoadedSeries, renderedUrl } from './dicomweb.js';
import { scaleBar } from './geometry.js';
import { keyOf } from './keyImages.js';
import type { TFunction } from './useT.js';

export interface PaneProps {
  index: number;
  viewportId: string;
  controller: ViewerController;
  series: LoadedSeries | null;
  /** Slice to open on (default: the middle one). */
  start?: number | undefined;
  state: ViewportState | undefined;
  /** The slice shown (controller.frame(viewportId)). */
  frame: ReadonlySignal<ViewportFrame | undefined>;
  active: boolean;
  lowBandwidth: boolean;
  /** keyOf() of the study's key images: the slice read-out marks them. */
  keyImages: ReadonlySet<string>;
  label?: string | undefined;
  t: TFunction;
  onActivate(index: number): void;
  /** MPR panes are enabled by the controller as volume viewports, not as stacks. */
  kind: 'stack' | 'mpr';
  onElement?(index: number, el: HTMLDivElement | null): void;
}

/** How long a slow link waits for the preview before asking for full pixels anyway. */
const PREVIEW_WAIT_MS = 8000;

/**
 * Loads the server-rendered preview of slice k (the URL the pane's <img> shows, so the browser
 * reuses the response) and resolves when it is there, failed, or took too long.
 */
function previewFirst(series: LoadedSeries, k: number): Promise<void> {
  const im = series.images[k];
  if (!im) return Promise.resolve();
  return new Promise((resolve) => {
    const img = new Image();
    const timer = setTimeout(resolve, PREVIEW_WAIT_MS);
    img.onload = img.onerror = () => {
      clearTimeout(timer);
      resolve();
    };
    img.src = renderedUrl(series.studyUid, series.seriesUid, im.sopInstanceUid, im.frame);
  });
}

export function ViewportPane(p: PaneProps) {
  const elRef = useRef<HTMLDivElement>(null);
  const { controller, viewportId } = p;

  useEffect(() => {
    const el = elRef.current;
    if (!el) return;
    if (p.kind === 'stack') controller.enableStack(viewportId, el);
    else p.onElement?.(p.index, el);
    const ro = new ResizeObserver(() => controller.resize());
    ro.observe(el);
    // The right button zooms: the browser's context menu would interrupt the drag.
    const noMenu = (e: Event) => e.preventDefault();
    el.addEventListener('contextmenu', noMenu);
    return () => {
      ro.disconnect();
      el.removeEventListener('contextmenu', noMenu);
      if (p.kind === 'stack') controller.disable(viewportId);
      else p.onElement?.(p.index, null);
    };
  }, [controller, viewportId, p.kind]);

  useEffect(() => {
    const series = p.series;
    if (p.kind !== 'stack' || !series) return;
    if (controller.shownSeries(viewportId) === series) return;
    const gate = p.lowBandwidth ? (k: number) => previewFirst(series, k) : undefined;
    void controller.showSeries(viewportId, series, p.start, gate).catch(() => {});
  }, [controller, viewportId, p.series, p.kind]);

  const s = p.state;
  const info = p.series?.info;
  const wl = s?.voi ? csUtils.windowLevel.toWindowLevel(s.voi.lower, s.voi.upper) : null;
  const win = wl ? { width: wl.windowWidth, center: wl.windowCenter } : null;
  const bar = s?.mmPerPixel ? scaleBar(s.mmPerPixel, (elRef.current?.clientWidth ?? 0) * 0.25) : null;
  // Bound to the DOM attributes directly (no render of the pane when they change).
  const frame = p.frame;
  const attrs = useMemo(
    () => ({
      index: computed(() => String(frame.value?.imageIndex ?? '')),
      loaded: computed(() => (frame.value?.imageLoaded ? 'true' : 'false')),
    }),
    [frame],
  );

  return (
    <div
      class={`rl-pane${p.active ? ' rl-pane-active' : ''}`}
      data-testid={`viewport-${p.index}`}
      data-series-uid={p.series?.seriesUid ?? ''}
      data-image-index={attrs.index}
      data-image-loaded={attrs.loaded}
      data-zoom={s?.zoom ?? ''}
      data-image-count={s?.imageCount ?? ''}
      data-mm-per-pixel={s?.mmPerPixel ?? ''}
      onPointerDown={() => p.onActivate(p.index)}
    >
      <div class="rl-element" ref={elRef} data-testid={`viewport-element-${p.index}`} />
      {p.lowBandwidth && p.kind === 'stack' && p.series && (
        <Preview index={p.index} series={p.series} frame={p.frame} win={win} />
      )}
      {info && (
        <div class="rl-overlay" aria-hidden="true">
          <div class="rl-ov-tl">
            <div data-testid={`overlay-patient-${p.index}`}>{info.patientName}</div>
            <div>
              {info.patientId} {info.patientSex} {formatDa(info.birthDate)}
            </div>
            {p.label && <div class="rl-ov-label">{p.label}</div>}
          </div>
          <div class="rl-ov-tr">
            <div>{formatDa(info.studyDate)}</div>
            <div>{info.studyDescription}</div>
            <div>
              {p.series?.modality} · {p.series?.description}
            </div>
          </div>
          <div class="rl-ov-bl" data-testid={`overlay-slice-${p.index}`}>
            {s && (
              <SliceReadout
                t={p.t}
                frame={p.frame}
                count={s.imageCount}
                series={p.series}
                keyImages={p.keyImages}
              />
            )}
            {win && (
              <div data-testid={`overlay-window-${p.index}`}>
                {p.t('overlay.window', { width: Math.round(win.width), center: Math.round(win.center) })}
              </div>
            )}
          </div>
          <div class="rl-ov-br">
            {bar && (
              <div class="rl-scale" data-testid={`scale-bar-${p.index}`} data-mm={bar.mm}>
                <div class="rl-scale-bar" style={{ width: `${bar.px}px` }} />
                {bar.mm >= 10 ? `${bar.mm / 10} cm` : `${bar.mm} mm`}
              </div>
            )}
            {s && <div>{p.t('overlay.zoom', { zoom: s.zoom.toFixed(2) })}</div>}
          </div>
          {s?.orientation && (
            <>
              <div class="rl-or rl-or-top" data-testid={`orientation-top-${p.index}`}>
                {s.orientation.top}
              </div>
              <div class="rl-or rl-or-bottom">{s.orientation.bottom}</div>
              <div class="rl-or rl-or-left" data-testid={`orientation-left-${p.index}`}>
                {s.orientation.left}
              </div>
              <div class="rl-or rl-or-right">{s.orientation.right}</div>
            </>
          )}
        </div>
      )}
    </div>
  );
}

/** "Im 7/24" and the key-image badge: the one overlay line that follows every slice. */
function SliceReadout(p: {
  t: TFunction;
  frame: ReadonlySignal<ViewportFrame | undefined>;
  count: number;
  series: LoadedSeries | null;
  keyImages: ReadonlySet<string>;
}) {
  const f = p.frame.value;
  if (!f) return null;
  const im = p.series?.images[f.imageIndex];
  const isKey = !!im && p.keyImages.has(keyOf(im.sopInstanceUid, im.frame));
  return (
    <div>
      {p.t('overlay.image', { index: f.imageIndex + 1, count: p.count })}
      {isKey && <span class="rl-key-badge"> ★ {p.t('keyImages.badge')}</span>}
    </div>
  );
}

/** A slow link's server-rendered preview of the slice shown, until that slice's pixels arrive. */
function Preview(p: {
  index: number;
  series: LoadedSeries;
  frame: ReadonlySignal<ViewportFrame | undefined>;
  win: { width: number; center: number } | null;
}) {
  const f = p.frame.value;
  const current = f && !f.imageLoaded ? p.series.images[f.imageIndex] : undefined;
  if (!current) return null;
  return (
    <img
      class="rl-preview"
      data-testid={`viewport-preview-${p.index}`}
      alt=""
      src={renderedUrl(
        p.series.studyUid,
        p.series.seriesUid,
        current.sopInstanceUid,
        current.frame,
        p.win ?? undefined,
      )}
    />
  );
}
