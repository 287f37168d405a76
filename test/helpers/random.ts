/** Seeded pseudo-random numbers for tests (a 32-bit linear congruential generator). */

/** A generator of floats in [0, 1), the same sequence for the same seed. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** n float32 values uniform in [-scale, scale), the same for the same seed. */
export function signedRandoms(n: number, seed: number, scale = 1): Float32Array {
  const rand = seeded(seed);
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
}
