;; SIMD rows of the mask post-processing (see src/sam/mask_rows_simd.ts and postprocess_js.ts).
;;
;; A row of the "wide" image is a low-res row (float32) resized along the columns with 3 taps
;; per output column (wide_row3). An output row of a mask is, pixel by pixel, a weighted sum
;; of 3 wide rows (float64):
;;   v[x] = float32((w0 * r0[x] + w1 * r1[x]) + w2 * r2[x])
;; in that order and with those roundings, the same float operations as the JavaScript of
;; MaskUpscaler. These functions compute it 4 pixels at a time and threshold it, count it or
;; store it. Thresholds are float32: the caller passes the largest float32 at or below its
;; (float64) threshold, so that "v > t" is decided as JavaScript decides it.
;;
;; The module has its own memory (exported); the caller lays out its rows in it. Pointers
;; are byte offsets; nothing is read or written outside [ptr, ptr + n elements).
(module
  (memory (export "memory") 1)

  ;; 4 pixels from x (byte offset into float64 rows r0, r1, r2) as an f32x4.
  ;; Written out inline in each loop (V8 does not inline wasm calls); this is its text:
  ;;   lo = (w0 * r0[0..1] + w1 * r1[0..1]) + w2 * r2[0..1]      f64x2
  ;;   hi = (w0 * r0[2..3] + w1 * r1[2..3]) + w2 * r2[2..3]      f64x2
  ;;   v  = [demote(lo) lanes 0-1, demote(hi) lanes 0-1]        f32x4

  ;; out[x] = v[x] > t (bytes 0 / 1) for x < n.
  (func (export "threshold3") (param $out i32) (param $r0 i32) (param $r1 i32) (param $r2 i32) (param $n i32)
    (param $w0 f64) (param $w1 f64) (param $w2 f64) (param $t f32)
    (local $W0 v128) (local $W1 v128) (local $W2 v128) (local $T v128) (local $v v128) (local $m v128) (local $end i32)
    (local.set $W0 (f64x2.splat (local.get $w0)))
    (local.set $W1 (f64x2.splat (local.get $w1)))
    (local.set $W2 (f64x2.splat (local.get $w2)))
    (local.set $T (f32x4.splat (local.get $t)))
    ;; 4 pixels an iteration while 4 remain
    (local.set $end (i32.add (local.get $out) (i32.and (local.get $n) (i32.const -4))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $v
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero
              (f64x2.add
                (f64x2.add (f64x2.mul (local.get $W0) (v128.load (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load (local.get $r1))))
                (f64x2.mul (local.get $W2) (v128.load (local.get $r2)))))
            (f32x4.demote_f64x2_zero
              (f64x2.add
                (f64x2.add (f64x2.mul (local.get $W0) (v128.load offset=16 (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load offset=16 (local.get $r1))))
                (f64x2.mul (local.get $W2) (v128.load offset=16 (local.get $r2)))))))
        ;; -1 / 0 lanes narrowed to 4 bytes, negated to 1 / 0
        (local.set $m (f32x4.gt (local.get $v) (local.get $T)))
        (local.set $m (i8x16.neg (i8x16.narrow_i16x8_s (i16x8.narrow_i32x4_s (local.get $m) (local.get $m)) (local.get $m))))
        (i32.store align=1 (local.get $out) (i32x4.extract_lane 0 (local.get $m)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 32)))
        (local.set $r1 (i32.add (local.get $r1) (i32.const 32)))
        (local.set $r2 (i32.add (local.get $r2) (i32.const 32)))
        (br $next)))
    ;; the last n % 4 pixels, one at a time (the same operations on scalars)
    (local.set $end (i32.add (local.get $end) (i32.and (local.get $n) (i32.const 3))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $out) (local.get $end)))
        (i32.store8 (local.get $out)
          (f32.gt
            (f32.demote_f64
              (f64.add
                (f64.add (f64.mul (local.get $w0) (f64.load (local.get $r0))) (f64.mul (local.get $w1) (f64.load (local.get $r1))))
                (f64.mul (local.get $w2) (f64.load (local.get $r2)))))
            (local.get $t)))
        (local.set $out (i32.add (local.get $out) (i32.const 1)))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 8)))
        (local.set $r1 (i32.add (local.get $r1) (i32.const 8)))
        (local.set $r2 (i32.add (local.get $r2) (i32.const 8)))
        (br $tail))))

  ;; Counts of v[x] > low and v[x] > high for x < n, stored as two i32 at $counts.
  (func (export "count3") (param $counts i32) (param $r0 i32) (param $r1 i32) (param $r2 i32) (param $n i32)
    (param $w0 f64) (param $w1 f64) (param $w2 f64) (param $low f32) (param $high f32)
    (local $W0 v128) (local $W1 v128) (local $W2 v128) (local $L v128) (local $H v128) (local $v v128)
    (local $above_low v128) (local $above_high v128) (local $x i32) (local $end i32) (local $s f32) (local $cl i32) (local $ch i32)
    (local.set $W0 (f64x2.splat (local.get $w0)))
    (local.set $W1 (f64x2.splat (local.get $w1)))
    (local.set $W2 (f64x2.splat (local.get $w2)))
    (local.set $L (f32x4.splat (local.get $low)))
    (local.set $H (f32x4.splat (local.get $high)))
    (local.set $end (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero
              (f64x2.add
                (f64x2.add (f64x2.mul (local.get $W0) (v128.load (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load (local.get $r1))))
                (f64x2.mul (local.get $W2) (v128.load (local.get $r2)))))
            (f32x4.demote_f64x2_zero
              (f64x2.add
                (f64x2.add (f64x2.mul (local.get $W0) (v128.load offset=16 (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load offset=16 (local.get $r1))))
                (f64x2.mul (local.get $W2) (v128.load offset=16 (local.get $r2)))))))
        ;; true lanes are -1: subtracting counts them
        (local.set $above_low (i32x4.sub (local.get $above_low) (f32x4.gt (local.get $v) (local.get $L))))
        (local.set $above_high (i32x4.sub (local.get $above_high) (f32x4.gt (local.get $v) (local.get $H))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 32)))
        (local.set $r1 (i32.add (local.get $r1) (i32.const 32)))
        (local.set $r2 (i32.add (local.get $r2) (i32.const 32)))
        (br $next)))
    (local.set $cl
      (i32.add
        (i32.add (i32x4.extract_lane 0 (local.get $above_low)) (i32x4.extract_lane 1 (local.get $above_low)))
        (i32.add (i32x4.extract_lane 2 (local.get $above_low)) (i32x4.extract_lane 3 (local.get $above_low)))))
    (local.set $ch
      (i32.add
        (i32.add (i32x4.extract_lane 0 (local.get $above_high)) (i32x4.extract_lane 1 (local.get $above_high)))
        (i32.add (i32x4.extract_lane 2 (local.get $above_high)) (i32x4.extract_lane 3 (local.get $above_high)))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $x) (local.get $n)))
        (local.set $s
          (f32.demote_f64
            (f64.add
              (f64.add (f64.mul (local.get $w0) (f64.load (local.get $r0))) (f64.mul (local.get $w1) (f64.load (local.get $r1))))
              (f64.mul (local.get $w2) (f64.load (local.get $r2))))))
        (local.set $cl (i32.add (local.get $cl) (f32.gt (local.get $s) (local.get $low))))
        (local.set $ch (i32.add (local.get $ch) (f32.gt (local.get $s) (local.get $high))))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 8)))
        (local.set $r1 (i32.add (local.get $r1) (i32.const 8)))
        (local.set $r2 (i32.add (local.get $r2) (i32.const 8)))
        (br $tail)))
    (i32.store (local.get $counts) (local.get $cl))
    (i32.store offset=4 (local.get $counts) (local.get $ch)))

  ;; out[x] = v[x] (float32) for x < n.
  (func (export "values3") (param $out i32) (param $r0 i32) (param $r1 i32) (param $r2 i32) (param $n i32)
    (param $w0 f64) (param $w1 f64) (param $w2 f64)
    (local $W0 v128) (local $W1 v128) (local $W2 v128) (local $end i32)
    (local.set $W0 (f64x2.splat (local.get $w0)))
    (local.set $W1 (f64x2.splat (local.get $w1)))
    (local.set $W2 (f64x2.splat (local.get $w2)))
    (local.set $end (i32.add (local.get $out) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (v128.store align=4 (local.get $out)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero
              (f64x2.add
                (f64x2.add (f64x2.mul (local.get $W0) (v128.load (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load (local.get $r1))))
                (f64x2.mul (local.get $W2) (v128.load (local.get $r2)))))
            (f32x4.demote_f64x2_zero
              (f64x2.add
                (f64x2.add (f64x2.mul (local.get $W0) (v128.load offset=16 (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load offset=16 (local.get $r1))))
                (f64x2.mul (local.get $W2) (v128.load offset=16 (local.get $r2)))))))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 32)))
        (local.set $r1 (i32.add (local.get $r1) (i32.const 32)))
        (local.set $r2 (i32.add (local.get $r2) (i32.const 32)))
        (br $next)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $out) (local.get $end)))
        (f32.store (local.get $out)
          (f32.demote_f64
            (f64.add
              (f64.add (f64.mul (local.get $w0) (f64.load (local.get $r0))) (f64.mul (local.get $w1) (f64.load (local.get $r1))))
              (f64.mul (local.get $w2) (f64.load (local.get $r2))))))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 8)))
        (local.set $r1 (i32.add (local.get $r1) (i32.const 8)))
        (local.set $r2 (i32.add (local.get $r2) (i32.const 8)))
        (br $tail))))
;; out[x] = (w[3x] src[s] + w[3x + 1] src[s + 1]) + w[3x + 2] src[s + 2], s = start[x], for
  ;; x < n: float64 out and w, float32 src, int32 start (element indices into src).
  (func (export "wide_row3") (param $out i32) (param $src i32) (param $start i32) (param $w i32) (param $n i32)
    (local $end i32) (local $s i32)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $s (i32.add (local.get $src) (i32.shl (i32.load (local.get $start)) (i32.const 2))))
        (f64.store (local.get $out)
          (f64.add
            (f64.add
              (f64.mul (f64.load (local.get $w)) (f64.promote_f32 (f32.load (local.get $s))))
              (f64.mul (f64.load offset=8 (local.get $w)) (f64.promote_f32 (f32.load offset=4 (local.get $s)))))
            (f64.mul (f64.load offset=16 (local.get $w)) (f64.promote_f32 (f32.load offset=8 (local.get $s))))))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $start (i32.add (local.get $start) (i32.const 4)))
        (local.set $w (i32.add (local.get $w) (i32.const 24)))
        (br $next))))
)
