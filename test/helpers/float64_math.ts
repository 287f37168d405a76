/** Float64 references computed here, independently of tfjs (for tests and benchmarks). */

/** erf in float64: the Maclaurin series below 3, the continued fraction of erfc above. */
export function erf64(z: number): number {
  const az = Math.abs(z);
  let r: number;
  if (az < 3) {
    let term = az;
    let sum = az;
    for (let n = 1; Math.abs(term) > 1e-17 * sum; n++) {
      term *= (-az * az) / n;
      sum += term / (2 * n + 1);
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let f = 0;
    for (let k = 60; k >= 1; k--) f = k / 2 / (az + f);
    r = 1 - Math.exp(-az * az) / Math.sqrt(Math.PI) / (az + f);
  }
  return z < 0 ? -r : r;
}

/** GELU in float64: x Phi(x) = x/2 (1 + erf(x / sqrt 2)). */
export function gelu64(x: number): number {
  return 0.5 * x * (1 + erf64(x * Math.SQRT1_2));
}

/** Softmax of one row in float64: exp(v - max) / their sum (summed in order). */
export function softmax64(row: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let j = 0; j < row.length; j++) m = Math.max(m, row[j]);
  const e = Float64Array.from(row, (t) => Math.exp(t - m));
  let sum = 0;
  for (const t of e) sum += t;
  return e.map((t) => t / sum);
}
