/**
 * The side panel's key images: the study's saved list (each with where it is, its note and who
 * marked it) with jump-to, and for a radiologist the note of the slice on screen when it is a key
 * image, plus unmarking. Marking itself is the toolbar button / K shortcut.
 */
import type { ReadonlySignal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import { type KeyImage, keyOf } from './keyImages.js';
import type { TFunction } from './useT.js';

export interface KeyImagesPanelProps {
  t: TFunction;
  items: KeyImage[];
  /** Where an item is, for people ("CT 2 · Im 14"); null when its series is not an image series here. */
  where(item: KeyImage): string | null;
  /**
   * keyOf() of the slice on screen in the active viewport when it is a key image (a signal: it
   * follows the slice, and changes only on entering or leaving a key image).
   */
  currentKey: ReadonlySignal<string | undefined>;
  canEdit: boolean;
  error: string | null;
  onJump(item: KeyImage): void;
  onRemove(item: KeyImage): void;
  onSaveNote(item: KeyImage, note: string): void;
}

export function KeyImagesPanel(p: KeyImagesPanelProps) {
  const { t } = p;
  const currentKey = p.currentKey.value;
  const current = p.items.find((k) => keyOf(k.sopInstanceUid, k.frame) === currentKey);
  const [draft, setDraft] = useState(current?.note ?? '');
  useEffect(() => setDraft(current?.note ?? ''), [currentKey, current?.note]);

  return (
    <section data-testid="key-images" data-count={p.items.length}>
      <h3>{t('keyImages.title')}</h3>
      {p.error && (
        <p class="rl-error" role="alert" data-testid="key-images-error">
          {p.error}
        </p>
      )}
      {p.items.length === 0 ? (
        <p class="rl-muted">{t('keyImages.none')}</p>
      ) : (
        <ul class="rl-key-list">
          {p.items.map((k) => {
            const where = p.where(k);
            const isCurrent = k === current;
            return (
              <li
                key={keyOf(k.sopInstanceUid, k.frame)}
                data-testid="key-image"
                data-sop={k.sopInstanceUid}
                data-frame={k.frame}
                data-current={isCurrent ? 'true' : 'false'}
              >
                <button
                  type="button"
                  class="rl-btn rl-btn-small"
                  data-testid="key-image-jump"
                  disabled={!where}
                  title={t('keyImages.jump')}
                  onClick={() => p.onJump(k)}
                >
                  ★ {where ?? t('keyImages.elsewhere')}
                </button>
                {k.note && <span class="rl-key-note"> {k.note}</span>}
                <span class="rl-muted rl-key-by"> — {k.markedBy.name}</span>
                {p.canEdit && (
                  <button
                    type="button"
                    class="rl-btn rl-btn-small"
                    data-testid="key-image-remove"
                    aria-label={t('keyImages.remove')}
                    title={t('keyImages.remove')}
                    onClick={() => p.onRemove(k)}
                  >
                    ×
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {p.canEdit && current && (
        <form
          class="rl-key-edit"
          onSubmit={(e) => {
            e.preventDefault();
            p.onSaveNote(current, draft);
          }}
        >
          <label>
            {t('keyImages.note')}
            <input
              type="text"
              maxLength={500}
              data-testid="key-image-note"
              value={draft}
              onInput={(e) => setDraft(e.currentTarget.value)}
            />
          </label>
          <button type="submit" class="rl-btn rl-btn-small" data-testid="key-image-save">
            {t('keyImages.saveNote')}
          </button>
        </form>
      )}
    </section>
  );
}
