/**
 * Vietnamese-aware person-name folding and matching for QIDO-RS.
 *
 * Orthanc's own QIDO cannot match diacritic-free or percent-encoded Vietnamese names, so the
 * gateway stores a *folded* copy of every Person Name (PN) next to the original and matches
 * queries against it. This module is the single definition of that folding and of the matching
 * semantics; the SQL builder implements the same rules over the folded column (use
 * `parsePersonNameQuery` to get a matcher, then `escapeLike` / `wordPrefixLikePattern`).
 *
 * Invariants:
 * - `foldForSearch(x) === foldForSearch(x.normalize('NFC')) === foldForSearch(x.normalize('NFD'))`.
 * - A folded string contains only lower-case letters without combining marks, digits and single
 *   ASCII spaces, with no leading or trailing space. So ' ' is the only word separator, and the
 *   LIKE metacharacters `%`, `_` and `\` never occur in a folded value.
 * - The folded form is for matching only; originals are stored and returned untouched (NFC).
 */

/** Normalise to NFC (the form names are stored and compared in; DOMAIN.md "Vietnamese text"). */
export function toNfc(s: string): string {
  return s.normalize('NFC');
}

// Combining marks: after NFD every Vietnamese tone mark and vowel modifier (circumflex, breve,
// horn) is a separate \p{M} code point.
const COMBINING_MARKS = /\p{M}+/gu;
// Everything that is not a letter or digit separates words: PN component (`^`) and group (`=`)
// delimiters, whitespace, punctuation (`,` `.` `-` `'`), and symbols.
const SEPARATOR_RUNS = /[^\p{L}\p{N}]+/gu;

/**
 * Fold a name (or any text) for accent- and case-insensitive search.
 *
 * Steps: lower-case → NFD → drop combining marks → đ→d (đ/Đ have no canonical decomposition, so
 * NFD leaves them intact and they must be mapped explicitly) → every run of non-letters/non-digits
 * becomes one space → trim.
 *
 * Lower-casing happens *before* NFD (rather than last) because some upper-case letters lower-case
 * to a base letter plus a combining mark (U+0130 'İ' → 'i' + U+0307); doing it first lets the mark
 * stripping remove those too. For Vietnamese text the order makes no difference.
 *
 * Examples: 'Nguyễn^Thị Minh Khai' → 'nguyen thi minh khai'; 'Đặng' → 'dang';
 * 'NGUYEN^^THI^^' → 'nguyen thi'.
 */
export function foldForSearch(s: string): string {
  return foldSegment(s).trim();
}

/** The folding without the final trim (used for the literal pieces between wildcards). */
function foldSegment(s: string): string {
  return s
    .toLowerCase()
    .normalize('NFD')
    .replace(COMBINING_MARKS, '')
    .replace(/đ/g, 'd')
    .replace(SEPARATOR_RUNS, ' ');
}

/** Escape character used in every LIKE pattern this module produces (`LIKE $1 ESCAPE '\'`). */
export const LIKE_ESCAPE = '\\';

/** Escape the SQL LIKE metacharacters `%`, `_` and the escape character itself. */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => LIKE_ESCAPE + c);
}

/**
 * The LIKE pattern that implements "`prefix` is a prefix of some word" for the word-prefixes
 * matcher. It must be applied to `' ' || folded_name` (a leading space so the first word is also
 * preceded by a space): `(' ' || name_folded) LIKE wordPrefixLikePattern(p) ESCAPE '\'`.
 */
export function wordPrefixLikePattern(prefix: string): string {
  return '% ' + escapeLike(prefix) + '%';
}

/**
 * How a PatientName / ReferringPhysicianName query value is matched against the folded name.
 *
 * - `any`: universal matching (PS3.4 C.2.2.2.3: empty value; C.2.2.2.4: a value of only `*`).
 * - `exact`: folded name === `value`.
 * - `like`: folded name LIKE `pattern` ESCAPE '\' (anchored at both ends, as SQL LIKE is);
 *   `%` and `_` came from the DICOM wildcards `*` and `?`.
 * - `word-prefixes`: every prefix is a prefix of at least one word of the folded name. Several
 *   prefixes may match the same word (no one-to-one assignment), and word order is free.
 */
export type PersonNameMatcher =
  | { kind: 'any' }
  | { kind: 'exact'; value: string }
  | { kind: 'like'; pattern: string }
  | { kind: 'word-prefixes'; prefixes: string[] };

/**
 * Turn a decoded query value into a matcher.
 *
 * Rules (PS3.18 8.3.4.1 and 8.3.4.2; PS3.4 C.2.2.2.4 wildcards):
 * 1. The value is folded exactly like stored names (`^`, `=`, spaces, punctuation → one space).
 * 2. Empty after folding, or only `*` → `any`.
 * 3. fuzzy=false, no wildcard → `exact` on the full folded name (so `thi` does NOT match
 *    `Nguyễn^Thị`, and `nguyen thi` does not match `Nguyễn^Thị Minh Khai`).
 * 4. fuzzy=false with `*` / `?` → `like` (`*` → `%`, `?` → `_`, literals escaped).
 * 5. fuzzy=true → `word-prefixes`: each query word must prefix some name word. A trailing `*` on
 *    a word is redundant and dropped (`nguyen thi*` fuzzy = `nguyen thi` fuzzy). If any other
 *    wildcard is present (`?`, or `*` inside or before a word), the explicit wildcard pattern
 *    wins and rule 4 applies: fuzzy matching is defined by the server (PS3.18 8.3.4.2), and a
 *    client that spells out wildcards is asking for pattern matching.
 */
export function parsePersonNameQuery(value: string, fuzzy: boolean): PersonNameMatcher {
  if (fuzzy) {
    const withoutTrailingStars = value.replace(TRAILING_STARS, ' ');
    if (!/[*?]/.test(withoutTrailingStars)) {
      const prefixes = foldForSearch(withoutTrailingStars)
        .split(' ')
        .filter((w) => w.length > 0);
      return prefixes.length === 0 ? { kind: 'any' } : { kind: 'word-prefixes', prefixes };
    }
  }
  if (!/[*?]/.test(value)) {
    const folded = foldForSearch(value);
    return folded.length === 0 ? { kind: 'any' } : { kind: 'exact', value: folded };
  }
  return likeMatcher(value);
}

// A run of `*` that ends a word: followed by a separator (not a letter, digit or wildcard) or the end.
const TRAILING_STARS = /\*+(?=[^\p{L}\p{N}*?]|$)/gu;

function likeMatcher(value: string): PersonNameMatcher {
  // Fold each literal piece separately so `*` and `?` survive; then trim the separator spaces
  // at the ends of the whole pattern (stored names are trimmed too) and collapse spaces that
  // folding produced on both sides of a wildcard boundary.
  const pieces = value.split(/([*?])/);
  let pattern = '';
  for (const piece of pieces) {
    if (piece === '*') pattern += '%';
    else if (piece === '?') pattern += '_';
    else pattern += escapeLike(foldSegment(piece));
  }
  pattern = pattern.replace(/ {2,}/g, ' ').replace(/^ +| +$/g, '');
  if (pattern.length === 0 || /^%+$/.test(pattern)) return { kind: 'any' };
  return { kind: 'like', pattern };
}

/** Compile a LIKE pattern (escape character `\`) into an anchored RegExp. */
export function likeToRegExp(pattern: string): RegExp {
  let src = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === LIKE_ESCAPE && i + 1 < pattern.length) {
      src += escapeRegExp(pattern[++i]!);
    } else if (c === '%') {
      src += '[\\s\\S]*';
    } else if (c === '_') {
      src += '[\\s\\S]';
    } else {
      src += escapeRegExp(c);
    }
  }
  return new RegExp('^' + src + '$', 'u');
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Evaluate a matcher against an already folded name (the in-memory twin of the SQL). */
export function matchFoldedName(matcher: PersonNameMatcher, foldedName: string): boolean {
  switch (matcher.kind) {
    case 'any':
      return true;
    case 'exact':
      return foldedName === matcher.value;
    case 'like':
      return likeToRegExp(matcher.pattern).test(foldedName);
    case 'word-prefixes': {
      const words = foldedName.split(' ').filter((w) => w.length > 0);
      return matcher.prefixes.every((p) => words.some((w) => w.startsWith(p)));
    }
  }
}

/**
 * Does the QIDO value `query` (with `fuzzymatching` = `fuzzy`) match the stored person name
 * `name` (raw PN, any normalisation form)? Same semantics as `parsePersonNameQuery`.
 */
export function matchesPersonName(query: string, fuzzy: boolean, name: string): boolean {
  return matchFoldedName(parsePersonNameQuery(query, fuzzy), foldForSearch(name));
}
