/**
 * Float32 point coordinates for the prompt encoder that reproduce the reference's float64
 * arithmetic of the automatic mask generator.
 *
 * The reference's AMG hands the float64 numpy points of `apply_coords` to `predict_torch` as a
 * float64 tensor, so the prompt encoder computes `(x + 0.5) / S` in float64 and only then casts
 * to float32. This port's prompt encoder takes float32 coordinates and computes
 * `fround(fround(x + 0.5) / S)`. For every value we pick, among the float32 rounding of x and
 * its nearest float32 neighbours, the input whose float32 result is closest to the exact
 * `(x + 0.5) / S`: that is the reference's value `fround((x + 0.5) / S)` whenever some input
 * reaches it (always when S is a power of two, as in every SAM checkpoint; for other S the
 * float32 grid of `x + 0.5` divided by S can be coarser than float32 near the result, and then
 * the result is within an ulp of the reference's).
 */

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/** The float32 `steps` representable values away from the float32 `x` (x finite). */
function stepFloat32(x: number, steps: number): number {
  f32[0] = x;
  // Map the sign-magnitude bit pattern to a monotonic integer line, step, map back.
  const bits = i32[0];
  const ordered = bits < 0 ? -(bits & 0x7fffffff) : bits;
  const next = ordered + steps;
  i32[0] = next < 0 ? -next | 0x80000000 : next;
  return f32[0];
}

/** What the port's prompt encoder computes from a float32 coordinate. */
function portNormalised(x32: number, size: number): number {
  return Math.fround(Math.fround(x32 + 0.5) / size);
}

const MAX_STEPS = 4;

/**
 * `coords` (model-frame float64 values, e.g. from `applyCoords`) -> float32 values that the
 * prompt encoder maps as closely as possible to `(x + 0.5) / imgSize`, i.e. to the
 * reference's float32 coordinates.
 */
export function modelFramePointsFloat32(coords: ArrayLike<number>, imgSize: number): Float32Array {
  const out = new Float32Array(coords.length);
  for (let i = 0; i < coords.length; i++) {
    const v = coords[i];
    const base = Math.fround(v);
    out[i] = base;
    if (!Number.isFinite(v)) continue;
    const exact = (v + 0.5) / imgSize;
    const target = Math.fround(exact);
    if (portNormalised(base, imgSize) === target) continue;
    let bestErr = Math.abs(portNormalised(base, imgSize) - exact);
    for (let d = 1; d <= MAX_STEPS; d++) {
      for (const step of [-d, d]) {
        const c = stepFloat32(base, step);
        const err = Math.abs(portNormalised(c, imgSize) - exact);
        if (err < bestErr) {
          bestErr = err;
          out[i] = c;
        }
      }
    }
  }
  return out;
}
