/** The viewer's toolbar: left-button tool, window presets, view actions, layout. */
import type { ReadonlySignal } from '@preact/signals';
import { CT_PRESETS } from './presets.js';
import { PRIMARY_TOOLS, type PrimaryTool } from './tools.js';
import type { TFunction } from './useT.js';

export type Layout = '1x1' | '1x2' | '2x2' | 'mpr';
export const LAYOUTS: readonly Layout[] = ['1x1', '1x2', '2x2', 'mpr'];
/** Cine frame rates offered (frames per second). */
export const CINE_RATES: readonly number[] = [4, 8, 12, 20, 30];

export interface ToolbarProps {
  t: TFunction;
  tool: PrimaryTool;
  layout: Layout;
  modality: string;
  mprAvailable: boolean;
  cinePlaying: boolean;
  cineFps: number;
  /** The slice on screen is a key image (follows the slice, so a signal: see KeyImageButton). */
  isKeyImage: ReadonlySignal<boolean>;
  /** Only radiologists mark key images (the server refuses anyone else). */
  canMarkKeyImage?: boolean;
  onTool(tool: PrimaryTool): void;
  onPreset(id: string): void;
  onAction(
    action: 'invert' | 'flip-h' | 'flip-v' | 'rotate-right' | 'reset' | 'cine' | 'key-image' | 'auto-window',
  ): void;
  onLayout(layout: Layout): void;
  onCineFps(fps: number): void;
}

export function Toolbar(p: ToolbarProps) {
  const t = p.t;
  return (
    <div class="rl-toolbar" role="toolbar" aria-label={t('toolbar.label')} data-testid="viewer-toolbar">
      <fieldset class="rl-group" aria-label={t('toolbar.tools')}>
        {PRIMARY_TOOLS.map((name) => (
          <button
            type="button"
            key={name}
            class={`rl-btn${p.tool === name ? ' rl-btn-on' : ''}`}
            aria-pressed={p.tool === name}
            data-testid={`tool-${name}`}
            onClick={() => p.onTool(name)}
          >
            {t(`tool.${name}`)}
          </button>
        ))}
      </fieldset>
      <fieldset class="rl-group" aria-label={t('toolbar.presets')}>
        <select
          class="rl-select"
          data-testid="preset-select"
          aria-label={t('toolbar.presets')}
          value=""
          onChange={(e) => {
            const v = (e.currentTarget as HTMLSelectElement).value;
            if (v) p.onPreset(v);
            (e.currentTarget as HTMLSelectElement).value = '';
          }}
        >
          <option value="">{t('toolbar.presets')}</option>
          {CT_PRESETS.map((pr) => (
            <option key={pr.id} value={pr.id} data-testid={`preset-${pr.id}`}>
              {pr.key} · {t(pr.i18nKey)} ({pr.width}/{pr.center})
            </option>
          ))}
          <option value="auto">7 · {t('preset.auto')}</option>
        </select>
      </fieldset>
      <fieldset class="rl-group" aria-label={t('toolbar.view')}>
        <button type="button" class="rl-btn" data-testid="action-invert" onClick={() => p.onAction('invert')}>
          {t('action.invert')}
        </button>
        <button type="button" class="rl-btn" data-testid="action-flip-h" onClick={() => p.onAction('flip-h')}>
          {t('action.flipH')}
        </button>
        <button type="button" class="rl-btn" data-testid="action-flip-v" onClick={() => p.onAction('flip-v')}>
          {t('action.flipV')}
        </button>
        <button
          type="button"
          class="rl-btn"
          data-testid="action-rotate"
          onClick={() => p.onAction('rotate-right')}
        >
          {t('action.rotateRight')}
        </button>
        <button type="button" class="rl-btn" data-testid="action-reset" onClick={() => p.onAction('reset')}>
          {t('action.reset')}
        </button>
        <button
          type="button"
          class={`rl-btn${p.cinePlaying ? ' rl-btn-on' : ''}`}
          aria-pressed={p.cinePlaying}
          data-testid="action-cine"
          onClick={() => p.onAction('cine')}
        >
          {p.cinePlaying ? t('action.cineStop') : t('action.cine')}
        </button>
        <select
          class="rl-select"
          data-testid="cine-fps"
          aria-label={t('action.cineFps')}
          value={String(p.cineFps)}
          onChange={(e) => p.onCineFps(Number((e.currentTarget as HTMLSelectElement).value))}
        >
          {CINE_RATES.map((fps) => (
            <option key={fps} value={String(fps)}>
              {t('action.fps', { fps })}
            </option>
          ))}
        </select>
        <KeyImageButton
          t={t}
          on={p.isKeyImage}
          canMark={p.canMarkKeyImage !== false}
          onClick={() => p.onAction('key-image')}
        />
      </fieldset>
      <fieldset class="rl-group" aria-label={t('toolbar.layout')}>
        {LAYOUTS.map((l) => (
          <button
            type="button"
            key={l}
            class={`rl-btn${p.layout === l ? ' rl-btn-on' : ''}`}
            aria-pressed={p.layout === l}
            data-testid={`layout-${l}`}
            disabled={l === 'mpr' && !p.mprAvailable}
            title={l === 'mpr' && !p.mprAvailable ? t('layout.mprUnavailable') : undefined}
            onClick={() => p.onLayout(l)}
          >
            {t(`layout.${l}`)}
          </button>
        ))}
      </fieldset>
    </div>
  );
}

/**
 * Mark/unmark the slice on screen. Its pressed state follows every slice (cine included): it
 * reads the signal itself so that only this button renders then, not the toolbar.
 */
function KeyImageButton(p: { t: TFunction; on: ReadonlySignal<boolean>; canMark: boolean; onClick(): void }) {
  const on = p.on.value;
  return (
    <button
      type="button"
      class={`rl-btn${on ? ' rl-btn-on' : ''}`}
      aria-pressed={on}
      data-testid="action-key-image"
      disabled={!p.canMark}
      title={p.canMark ? undefined : p.t('keyImages.readOnly')}
      onClick={p.onClick}
    >
      ★ {p.t('action.keyImage')}
    </button>
  );
}
