/**
 * The viewer is a static single-page app served by the gateway from the same origin (so the
 * HttpOnly session cookie authenticates DICOMweb requests). Cornerstone3D needs three things from
 * Vite (checked on this machine): Node's `events` polyfill, ES-module workers (the DICOM image
 * loader decodes in module workers), and the image loader kept out of dependency pre-bundling
 * (pre-bundling breaks its worker and WASM codec URLs).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  resolve: { alias: { events: 'events' } },
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['@cornerstonejs/dicom-image-loader'] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 8000,
  },
});
