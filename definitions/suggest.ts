/** Edit distance between two strings: insertions, deletions, substitutions and swaps of neighbours each count 1. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate a typo most likely meant, if any is close: a small edit distance, a different case, or a prefix
 * (`prep` → `prepare`).
 *
 * @example
 * suggest('need', ['needs', 'uses']); // 'needs'
 */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: { candidate: string; score: number } | undefined;
  const lower = word.toLowerCase();
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const c = candidate.toLowerCase();
    let score = editDistance(lower, c);
    // One edit per three letters: `need` → `needs`, but never `a` for `b`.
    const close = score <= Math.floor(Math.max(word.length, candidate.length) / 3);
    const prefix = Math.min(lower.length, c.length) >= 3 && (c.startsWith(lower) || lower.startsWith(c));
    if (!close && !prefix) continue;
    if (!close) score += 10; // an edit beats a prefix
    if (!best || score < best.score) best = { candidate, score };
  }
  return best?.candidate;
}

/** ` (did you mean "x"?)`, or '' when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const s = suggest(word, candidates);
  return s === undefined ? '' : ` (did you mean "${s}"?)`;
}
