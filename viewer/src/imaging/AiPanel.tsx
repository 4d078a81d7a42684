/**
 * AI results beside the images: per result the model's name and version and its status, the
 * SEG overlay switch and opacity, and the findings, each with jump-to-slice and accept/reject.
 * Every AI output is labelled as such (not for clinical use until the model is cleared).
 */
import type { AiFinding, AiResult } from './ai.js';
import { segmentColour } from './ai.js';
import type { TFunction } from './useT.js';

export interface AiPanelProps {
  t: TFunction;
  results: AiResult[] | null;
  error: string | null;
  overlayOn: boolean;
  opacity: number;
  busy: Record<string, boolean>;
  onOverlay(on: boolean): void;
  onOpacity(v: number): void;
  onJump(result: AiResult, f: AiFinding): void;
  onFeedback(f: AiFinding, verdict: 'accepted' | 'rejected'): void;
}

const rgb = (n: number) => {
  const [r, g, b] = segmentColour(n);
  return `rgb(${r},${g},${b})`;
};

export function AiPanel(p: AiPanelProps) {
  const t = p.t;
  const err = p.error ? (
    <p class="rl-error" data-testid="ai-error">
      {t(`ai.error.${p.error}`)}
    </p>
  ) : null;
  if (p.results === null && err)
    return (
      <section class="rl-ai" data-testid="ai-panel">
        {err}
      </section>
    );
  if (p.results === null)
    return (
      <section class="rl-ai" data-testid="ai-panel">
        <p>{t('ai.loading')}</p>
      </section>
    );
  if (p.results.length === 0)
    return (
      <section class="rl-ai" data-testid="ai-panel">
        <h3>{t('ai.title')}</h3>
        <p>{t('ai.none')}</p>
      </section>
    );
  return (
    <section class="rl-ai" data-testid="ai-panel">
      <h3>{t('ai.title')}</h3>
      {err}
      <p class="rl-ai-disclaimer">{p.results.find((r) => r.label)?.label ?? t('ai.disclaimer')}</p>
      <label class="rl-row">
        <input
          type="checkbox"
          checked={p.overlayOn}
          data-testid="ai-overlay-toggle"
          onChange={(e) => p.onOverlay((e.currentTarget as HTMLInputElement).checked)}
        />
        {t('ai.overlay')}
      </label>
      <label class="rl-row">
        {t('ai.opacity')}
        <input
          type="range"
          min={0}
          max={1}
          step={0.05}
          value={p.opacity}
          data-testid="ai-opacity"
          onInput={(e) => p.onOpacity(Number((e.currentTarget as HTMLInputElement).value))}
        />
      </label>
      {p.results.map((r) => (
        <div key={r.resultId} class="rl-ai-result" data-testid={`ai-result-${r.resultId}`}>
          <div class="rl-ai-model" data-testid="ai-model">
            {r.model.name}
            {r.model.version && ` · ${t('ai.version', { version: r.model.version })}`}
            {r.external && <span class="rl-muted"> · {t('ai.external')}</span>}
            {r.flagged && <span class="rl-flag"> ⚑ {t('ai.flagged')}</span>}
          </div>
          <div class="rl-muted">{t(`ai.status.${r.status}`, { defaultValue: r.status })}</div>
          {r.findings.length === 0 && <p>{t('ai.noFindings')}</p>}
          <ul class="rl-findings">
            {r.findings.map((f) => (
              <li key={f.findingId} data-testid={`ai-finding-${f.findingId}`}>
                <span class="rl-swatch" style={{ background: rgb(f.segmentNumber) }} />
                <button
                  type="button"
                  class="rl-link"
                  data-testid={`ai-jump-${f.findingId}`}
                  onClick={() => p.onJump(r, f)}
                >
                  {f.label}
                </button>
                <div class="rl-muted">
                  {f.longestDiameterMm !== null &&
                    t('ai.diameter', { value: f.longestDiameterMm.toFixed(1) })}
                  {f.volumeMl !== null && ` · ${t('ai.volume', { value: f.volumeMl.toFixed(1) })}`}
                  {f.confidence !== null &&
                    ` · ${t('ai.confidence', { value: Math.round(f.confidence * 100) })}`}
                </div>
                {!r.external && (
                  <div class="rl-row">
                    <button
                      type="button"
                      class={`rl-btn rl-btn-small${f.feedback?.verdict === 'accepted' ? ' rl-btn-on' : ''}`}
                      disabled={p.busy[f.findingId]}
                      aria-pressed={f.feedback?.verdict === 'accepted'}
                      data-testid={`ai-accept-${f.findingId}`}
                      onClick={() => p.onFeedback(f, 'accepted')}
                    >
                      ✓ {t('ai.accept')}
                    </button>
                    <button
                      type="button"
                      class={`rl-btn rl-btn-small${f.feedback?.verdict === 'rejected' ? ' rl-btn-on' : ''}`}
                      disabled={p.busy[f.findingId]}
                      aria-pressed={f.feedback?.verdict === 'rejected'}
                      data-testid={`ai-reject-${f.findingId}`}
                      onClick={() => p.onFeedback(f, 'rejected')}
                    >
                      ✗ {t('ai.reject')}
                    </button>
                    {f.feedback && (
                      <span class="rl-muted" data-testid={`ai-verdict-${f.findingId}`}>
                        {t(`ai.verdict.${f.feedback.verdict}`)}
                      </span>
                    )}
                  </div>
                )}
              </li>
            ))}
          </ul>
        </div>
      ))}
    </section>
  );
}
