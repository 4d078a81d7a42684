import { describe, expect, it } from 'vitest';
import {
  escapeLike,
  foldForSearch,
  likeToRegExp,
  matchesPersonName,
  matchFoldedName,
  type PersonNameMatcher,
  parsePersonNameQuery,
  toNfc,
  wordPrefixLikePattern,
} from '../../server/src/index/name-folding.js';

const KHAI_NFC = 'Nguyễn^Thị Minh Khai';
const KHAI_NFD = KHAI_NFC.normalize('NFD');

describe('toNfc', () => {
  it('composes decomposed Vietnamese', () => {
    expect(KHAI_NFD).not.toBe(KHAI_NFC); // the fixture really is decomposed
    expect(toNfc(KHAI_NFD)).toBe(KHAI_NFC);
    expect(toNfc(KHAI_NFC)).toBe(KHAI_NFC);
  });
});

describe('foldForSearch', () => {
  it.each([
    [KHAI_NFC, 'nguyen thi minh khai'],
    [KHAI_NFD, 'nguyen thi minh khai'],
    ['Đặng^Văn Đức', 'dang van duc'],
    ['đặng', 'dang'],
    ['ĐẶNG', 'dang'],
    ['NGUYỄN^THỊ', 'nguyen thi'],
    ['Trần^^^^', 'tran'],
    ['^Thị', 'thi'],
    ['Lê^^Văn', 'le van'],
    ['  Phạm    Văn\tĐồng  ', 'pham van dong'],
    ['Hồ^Chí^Minh^^', 'ho chi minh'],
    // Other groups fold too; NFD splits the katakana voicing mark (a \p{M}) off as well.
    ['Nguyen^Thi=グエン^ティ=', 'nguyen thi クエン ティ'],
    ["O'Brien-Smith, Jr.", 'o brien smith jr'],
    ['Ưng Hoàng Phúc', 'ung hoang phuc'],
    ['Ơn Bửu Lộc', 'on buu loc'],
    ['Phan^Xuân 2', 'phan xuan 2'],
    ['İlker', 'ilker'],
    ['', ''],
    ['^^^', ''],
  ])('%j → %j', (input, expected) => {
    expect(foldForSearch(input)).toBe(expected);
  });

  it('folds NFC and NFD identically for every Vietnamese vowel with every tone', () => {
    const vowels = 'aăâeêioôơuưy';
    const tones = ['', '\u0300', '\u0301', '\u0303', '\u0309', '\u0323'];
    for (const v of vowels + vowels.toUpperCase()) {
      for (const t of tones) {
        const nfd = (v + t).normalize('NFD');
        const nfc = (v + t).normalize('NFC');
        const base = v.toLowerCase().normalize('NFD')[0];
        expect(foldForSearch(nfd)).toBe(base);
        expect(foldForSearch(nfc)).toBe(base);
      }
    }
  });

  it('output never contains LIKE metacharacters', () => {
    expect(foldForSearch('a%b_c\\d')).toBe('a b c d');
  });
});

describe('escapeLike / likeToRegExp', () => {
  it.each([
    ['50%', '50\\%'],
    ['a_b', 'a\\_b'],
    ['back\\slash', 'back\\\\slash'],
    ['plain', 'plain'],
  ])('escapeLike(%j) = %j', (input, expected) => {
    expect(escapeLike(input)).toBe(expected);
  });

  it.each([
    ['nguyen%', 'nguyen thi', true],
    ['nguyen%', 'xnguyen', false],
    ['ng_yen', 'nguyen', true],
    ['ng_yen', 'ngyen', false],
    ['50\\%', '50%', true],
    ['50\\%', '500', false],
    ['a\\_b', 'a_b', true],
    ['a\\_b', 'axb', false],
    ['a.b', 'axb', false],
  ])('likeToRegExp(%j) on %j → %s', (pattern, s, expected) => {
    expect(likeToRegExp(pattern).test(s)).toBe(expected);
  });

  it('wordPrefixLikePattern anchors at a word start', () => {
    const re = likeToRegExp(wordPrefixLikePattern('thi'));
    expect(re.test(' nguyen thi minh')).toBe(true);
    expect(re.test(' nguyen thinh')).toBe(true);
    expect(re.test(' nguyenthi')).toBe(false);
  });
});

describe('parsePersonNameQuery', () => {
  const cases: Array<[string, boolean, PersonNameMatcher]> = [
    ['', false, { kind: 'any' }],
    ['*', false, { kind: 'any' }],
    ['**', true, { kind: 'any' }],
    ['^', false, { kind: 'any' }],
    ['Nguyễn^Thị', false, { kind: 'exact', value: 'nguyen thi' }],
    ['nguyen  thi', false, { kind: 'exact', value: 'nguyen thi' }],
    ['nguyen thi*', false, { kind: 'like', pattern: 'nguyen thi%' }],
    ['NGUY?N*', false, { kind: 'like', pattern: 'nguy_n%' }],
    ['*khai', false, { kind: 'like', pattern: '%khai' }],
    ['*^Thị*', false, { kind: 'like', pattern: '% thi%' }],
    ['50%*', false, { kind: 'like', pattern: '50 %' }],
    ['nguyen thi', true, { kind: 'word-prefixes', prefixes: ['nguyen', 'thi'] }],
    ['Nguyễn^Thị', true, { kind: 'word-prefixes', prefixes: ['nguyen', 'thi'] }],
    ['nguyen thi*', true, { kind: 'word-prefixes', prefixes: ['nguyen', 'thi'] }],
    ['ng* th*', true, { kind: 'word-prefixes', prefixes: ['ng', 'th'] }],
    ['nguyen *', true, { kind: 'word-prefixes', prefixes: ['nguyen'] }],
    ['*khai', true, { kind: 'like', pattern: '%khai' }],
    ['ng?yen', true, { kind: 'like', pattern: 'ng_yen' }],
  ];
  it.each(cases)('%j fuzzy=%s', (value, fuzzy, expected) => {
    expect(parsePersonNameQuery(value, fuzzy)).toEqual(expected);
  });

  it('escapes LIKE metacharacters that survive folding (none) and keeps wildcards', () => {
    // `%` and `_` in a query are punctuation: folded to separators, never wildcards.
    expect(parsePersonNameQuery('a%b*', false)).toEqual({ kind: 'like', pattern: 'a b%' });
    expect(parsePersonNameQuery('a_b', false)).toEqual({ kind: 'exact', value: 'a b' });
  });
});

describe('matchesPersonName', () => {
  const cases: Array<[string, boolean, string, boolean]> = [
    // The brief's examples.
    ['nguyen thi*', false, KHAI_NFC, true],
    ['nguyen thi', true, KHAI_NFC, true],
    ['thi', true, KHAI_NFC, true],
    ['thi', false, KHAI_NFC, false],
    ['nguyen thi', false, KHAI_NFC, false],
    ['dang', false, 'Đặng', true],
    ['dang', true, 'Đặng^Văn', true],
    ['Đặng', false, 'DANG', true],
    // NFD on either side.
    ['nguyen thi minh khai', false, KHAI_NFD, true],
    [KHAI_NFD, false, KHAI_NFC, true],
    [KHAI_NFC, false, KHAI_NFD, true],
    ['Nguyễn Thị*'.normalize('NFD'), false, KHAI_NFC, true],
    // Separators are equivalent; empty components vanish.
    ['Nguyễn Thị Minh Khai', false, 'Nguyễn^^Thị Minh Khai^^', true],
    ['nguyen^thi^minh^khai', false, KHAI_NFC, true],
    // Word prefixes: order free, prefixes must start a word, every query word must match.
    ['khai nguyen', true, KHAI_NFC, true],
    ['min kha', true, KHAI_NFC, true],
    ['guyen', true, KHAI_NFC, false],
    ['nguyen tran', true, KHAI_NFC, false],
    ['nguyen thi minh khai hoa', true, KHAI_NFC, false],
    // Wildcards.
    ['*khai', false, KHAI_NFC, true],
    ['*minh*', false, KHAI_NFC, true],
    ['*minh', false, KHAI_NFC, false],
    ['ng?yen*', false, KHAI_NFC, true],
    ['ng?yen', false, KHAI_NFC, false],
    ['?guyen*', false, 'Đguyen', true],
    ['tr?n', false, 'Trần', true],
    // Universal matching.
    ['', false, KHAI_NFC, true],
    ['*', false, '', true],
    // đ folding is explicit, not via NFD.
    ['d', true, 'Đỗ', true],
    ['do', false, 'Đỗ', true],
    ['dd', false, 'Đỗ', false],
  ];
  it.each(cases)('%j fuzzy=%s vs %j → %s', (query, fuzzy, name, expected) => {
    expect(matchesPersonName(query, fuzzy, name)).toBe(expected);
  });

  it('matchFoldedName on word-prefixes treats the folded name as space-separated words', () => {
    expect(matchFoldedName({ kind: 'word-prefixes', prefixes: ['a', 'b'] }, 'ax by')).toBe(true);
    expect(matchFoldedName({ kind: 'word-prefixes', prefixes: ['a', 'b'] }, 'axby')).toBe(false);
  });
});
