/** Fused multiply-add in float32, computed exactly in JavaScript: the reference for the wasm kernel's fused matMul. */

const view = new DataView(new ArrayBuffer(8));

/**
 * a * b + c rounded once to float32 (a, b, c float32 values). The product is exact in a
 * double (24 + 24 bits); the sum is rounded to a double with its error found by TwoSum and
 * then kept odd (round to odd), so that rounding that double to float32 gives the float32
 * rounding of the exact a * b + c: a plain Math.fround(a * b + c) would round twice.
 */
export function fmaf32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  if (!Number.isFinite(s)) return Math.fround(s);
  const bv = s - p;
  const err = p - (s - bv) + (c - bv); // (p + c) - s, exactly
  if (err === 0) return Math.fround(s);
  view.setFloat64(0, s);
  const bits = view.getBigUint64(0);
  if ((bits & 1n) === 0n) {
    // s is even: the exact value lies between s and its neighbour towards err, which is odd.
    view.setBigUint64(0, err > 0 === s > 0 ? bits + 1n : bits - 1n);
  }
  return Math.fround(view.getFloat64(0));
}

/**
 * [m, k] x [k, n] (+ bias [n]) as the kernel sums each output: starting from the bias (or 0),
 * adding the products in order of k, each addition fused with its product when `fused`, else
 * the product rounded first.
 */
export function inOrderSums(a: Float32Array, b: Float32Array, bias: Float32Array | null, m: number, k: number, n: number, fused: boolean): Float32Array {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = bias ? bias[j] : 0;
      for (let p = 0; p < k; p++) {
        const x = a[i * k + p];
        const y = b[p * n + j];
        acc = fused ? fmaf32(x, y, acc) : Math.fround(acc + Math.fround(x * y));
      }
      c[i * n + j] = acc;
    }
  }
  return c;
}
