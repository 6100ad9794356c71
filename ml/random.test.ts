import { describe, expect, it } from 'vitest';
import { createRng, deriveSeed, shuffleInPlace } from './random';

describe('random', () => {
  it('is reproducible per seed and derived stream', () => {
    const a = createRng(deriveSeed(42, 3, 1));
    const b = createRng(deriveSeed(42, 3, 1));
    const c = createRng(deriveSeed(42, 3, 2));
    const xs = [a.next(), a.next(), a.next()];
    expect([b.next(), b.next(), b.next()]).toEqual(xs);
    expect(c.next()).not.toBe(xs[0]);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('shuffleInPlace', () => {
  it('permutes deterministically', () => {
    const a = shuffleInPlace([1, 2, 3, 4, 5, 6], createRng(7));
    expect([...a].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(shuffleInPlace([1, 2, 3, 4, 5, 6], createRng(7))).toEqual(a);
  });
});
