/**
 * Decomposed relative position embeddings of the image encoder's attention
 * (`get_rel_pos`, `add_decomposed_rel_pos` in the reference, after MViTv2).
 */
import * as tf from '@tensorflow/tfjs';

const f32 = Math.fround;

/**
 * Row indices into the (possibly resized) table for every (query, key) pair, [q * k].
 * The reference computes them in float32 and truncates (`.long()`), so Math.fround is
 * applied where torch rounds to float32: that keeps non-integer size ratios exact.
 */
export function relPosIndices(qSize: number, kSize: number): Int32Array {
  const qScale = f32(Math.max(kSize / qSize, 1));
  const kScale = f32(Math.max(qSize / kSize, 1));
  const offset = f32((kSize - 1) * Math.max(qSize / kSize, 1));
  const idx = new Int32Array(qSize * kSize);
  for (let i = 0; i < qSize; i++) {
    const qc = f32(i * qScale);
    for (let j = 0; j < kSize; j++) {
      const kc = f32(j * kScale);
      idx[i * kSize + j] = Math.trunc(f32(f32(qc - kc) + offset));
    }
  }
  return idx;
}

/**
 * Matrix [outLen, inLen] of 1-D linear interpolation with align_corners=False (PyTorch's
 * `F.interpolate(mode="linear")`): source position (i + 0.5) * in/out - 0.5, clamped at 0.
 */
export function linearResizeMatrix(inLen: number, outLen: number): Float32Array {
  const m = new Float32Array(outLen * inLen);
  // PyTorch's CPU kernel does this arithmetic in float32.
  const scale = f32(inLen / outLen);
  for (let i = 0; i < outLen; i++) {
    const src = Math.max(f32(f32(scale * (i + 0.5)) - 0.5), 0);
    const i0 = Math.min(Math.floor(src), inLen - 1);
    const i1 = Math.min(i0 + 1, inLen - 1);
    const l1 = f32(src - i0);
    m[i * inLen + i0] += f32(1 - l1);
    m[i * inLen + i1] += l1;
  }
  return m;
}

/**
 * Relative positional embeddings for every (query, key) pair along one axis:
 * relPos [L, C] -> [qSize, kSize, C]. When L differs from 2 * max(q, k) - 1 the table is
 * first resized by linear interpolation, as the reference does.
 */
export function getRelPos(qSize: number, kSize: number, relPos: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const maxRelDist = 2 * Math.max(qSize, kSize) - 1;
    const [len, c] = relPos.shape;
    const table =
      len === maxRelDist
        ? relPos
        : tf.matMul(tf.tensor2d(linearResizeMatrix(len, maxRelDist), [maxRelDist, len]), relPos);
    const idx = tf.tensor1d(relPosIndices(qSize, kSize), 'int32');
    return tf.gather(table, idx).reshape([qSize, kSize, c]) as tf.Tensor3D;
  });
}

/**
 * Adds the decomposed relative position terms to attention logits.
 * attn [B, qh*qw, kh*kw] (B includes heads), q [B, qh*qw, C] (unscaled queries),
 * relPosH [Lh, C], relPosW [Lw, C]. Returns [B, qh*qw, kh*kw].
 *
 * rel_h[b, y, x, ky] = sum_c q[b, y, x, c] * Rh[y, ky, c] and rel_w likewise along x; they
 * are computed as batched matMuls (batch over y for rel_h, over x for rel_w) since einsum
 * is not available on every backend.
 */
export function addDecomposedRelPos(
  attn: tf.Tensor3D,
  q: tf.Tensor3D,
  relPosH: tf.Tensor2D,
  relPosW: tf.Tensor2D,
  qSize: [number, number],
  kSize: [number, number],
): tf.Tensor3D {
  return tf.tidy(() => {
    const { relH, relW } = decomposedRelPosTerms(q, relPosH, relPosW, qSize, kSize);
    const [qh, qw] = qSize;
    const [kh, kw] = kSize;
    const b = attn.shape[0];
    const a5 = attn.reshape([b, qh, qw, kh, kw]);
    return tf
      .add(tf.add(a5, relH.reshape([b, qh, qw, kh, 1])), relW.reshape([b, qh, qw, 1, kw]))
      .reshape([b, qh * qw, kh * kw]) as tf.Tensor3D;
  });
}

/**
 * The two relative-position terms: relH [B, qh, qw, kh] and relW [B, qh, qw, kw].
 */
export function decomposedRelPosTerms(
  q: tf.Tensor3D,
  relPosH: tf.Tensor2D,
  relPosW: tf.Tensor2D,
  qSize: [number, number],
  kSize: [number, number],
): { relH: tf.Tensor4D; relW: tf.Tensor4D } {
  return tf.tidy(() => {
    const [qh, qw] = qSize;
    const [kh, kw] = kSize;
    const [b, , c] = q.shape;
    const rh = getRelPos(qh, kh, relPosH); // [qh, kh, C]
    const rw = getRelPos(qw, kw, relPosW); // [qw, kw, C]
    const rq = q.reshape([b, qh, qw, c]);
    // [qh, B*qw, C] x [qh, C, kh] -> [qh, B*qw, kh] -> [B, qh, qw, kh]
    const relH = tf
      .matMul(rq.transpose([1, 0, 2, 3]).reshape([qh, b * qw, c]), rh, false, true)
      .reshape([qh, b, qw, kh])
      .transpose([1, 0, 2, 3]) as tf.Tensor4D;
    // [qw, B*qh, C] x [qw, C, kw] -> [qw, B*qh, kw] -> [B, qh, qw, kw]
    const relW = tf
      .matMul(rq.transpose([2, 0, 1, 3]).reshape([qw, b * qh, c]), rw, false, true)
      .reshape([qw, b, qh, kw])
      .transpose([1, 2, 0, 3]) as tf.Tensor4D;
    return { relH, relW };
  });
}
