/**
 * Small seeded pseudo-random numbers for reproducible training.
 *
 * Every random decision in ml/ draws from a generator made here, and long runs derive a fresh
 * generator per (seed, iteration, purpose) with {@link deriveSeed}. That way a run resumed from a
 * checkpoint at iteration k draws exactly what an uninterrupted run draws from iteration k on.
 */

/** A deterministic source of numbers in [0, 1). */
export interface Rng {
  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next(): number;
  /** Uniform integer in [0, n). */
  nextInt(n: number): number;
}

/** Murmur3's 32-bit finaliser: a cheap bijective mixer with good avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Mixes a seed with further integers (iteration, class, purpose tag) into a new 32-bit seed.
 *
 * @example
 * const bagRng = createRng(deriveSeed(seed, iteration, 1));
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  for (const p of parts) h = fmix32((h ^ Math.imul((p >>> 0) + 0x7f4a7c15, 0x9e3779b1)) >>> 0);
  return h;
}

/**
 * mulberry32: 32 bits of state, passes SmallCrush, fast in JavaScript. Plenty for bagging,
 * feature sampling and shuffles; not for cryptography.
 *
 * @example
 * const rng = createRng(42);
 * const u = rng.next(); // always the same for seed 42
 */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, nextInt: (n: number) => Math.floor(next() * n) };
}

/** Fisher–Yates shuffle in place, deterministic for a given generator state. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(array: T, rng: Rng): T {
  for (let i = array.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const tmp = array[i];
    array[i] = array[j];
    array[j] = tmp;
  }
  return array;
}
