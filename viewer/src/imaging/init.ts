/**
 * Cornerstone3D start-up for the whole app, once: rendering core (GPU when WebGL is there, CPU
 * otherwise), the DICOM image loader with its decode workers, the tools library and every tool
 * the study viewer uses, and the image cache limit.
 *
 * Invariant: memory for pixels is bounded by CACHE_BYTES. Cornerstone's cache evicts the least
 * recently used images (never the ones a viewport shows) once it is full; the prefetcher never
 * asks for more than fits (geometry.prefetchBudget).
 */
import { cache, init as coreInit, isCornerstoneInitialized } from '@cornerstonejs/core';
import { init as loaderInit } from '@cornerstonejs/dicom-image-loader';
import {
  AngleTool,
  addTool,
  CrosshairsTool,
  EllipticalROITool,
  LengthTool,
  PanTool,
  PlanarRotateTool,
  ProbeTool,
  RectangleROITool,
  StackScrollTool,
  init as toolsInit,
  WindowLevelTool,
  ZoomTool,
} from '@cornerstonejs/tools';

/**
 * 384 MiB: a 300-slice 512² CT (150 MiB) plus a prior of the same size and a labelmap fit; a
 * 1,000-slice series streams through it with eviction instead of growing without bound.
 */
export const CACHE_BYTES = 384 * 1024 * 1024;

/** Decode workers: the frames are mostly uncompressed; two keep the UI thread free on 2 cores. */
const DECODE_WORKERS = Math.min(2, Math.max(1, (navigator.hardwareConcurrency || 2) - 1));

let ready: Promise<void> | null = null;

export function initImaging(): Promise<void> {
  ready ??= (async () => {
    if (!isCornerstoneInitialized()) await coreInit();
    loaderInit({ maxWebWorkers: DECODE_WORKERS });
    toolsInit();
    for (const tool of [
      WindowLevelTool,
      PanTool,
      ZoomTool,
      StackScrollTool,
      PlanarRotateTool,
      LengthTool,
      AngleTool,
      EllipticalROITool,
      RectangleROITool,
      ProbeTool,
      CrosshairsTool,
    ]) {
      addTool(tool);
    }
    cache.setMaxCacheSize(CACHE_BYTES);
  })().catch((err) => {
    ready = null; // a failed start may be retried (e.g. after a reload of the route)
    throw err;
  });
  return ready;
}
