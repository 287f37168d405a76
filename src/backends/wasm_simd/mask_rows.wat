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
;; The module has its own memory (exported), or in its second binary imports a shared one
;; (for helper threads, see scripts/build_wasm_kernels.ts); the caller lays out its rows in
;; it. Pointers are byte offsets; nothing is written outside [ptr, ptr + n elements), and
;; only band_codes reads past its rows (into padding the caller lays out).
(module
  (memory (export "memory") 1)

  ;; 4 pixels from x (byte offset into float64 rows r0, r1, r2) as an f32x4.
  ;; Written out inline in each loop (V8 does not inline wasm calls); this is its text:
  ;;   lo = (w0 * r0[0..1] + w1 * r1[0..1]) + w2 * r2[0..1]      f64x2
  ;;   hi = (w0 * r0[2..3] + w1 * r1[2..3]) + w2 * r2[2..3]      f64x2
  ;;   v  = [demote(lo) lanes 0-1, demote(hi) lanes 0-1]        f32x4

  ;; out[x] = v[x] > t (bytes 0 / 1) for x < n.
  (func $threshold3 (export "threshold3") (param $out i32) (param $r0 i32) (param $r1 i32) (param $r2 i32) (param $n i32)
    (param $w0 f64) (param $w1 f64) (param $w2 f64) (param $t f32)
    (local $W0 v128) (local $W1 v128) (local $W2 v128) (local $T v128) (local $v v128) (local $m v128) (local $end i32)
    (local $m1 v128) (local $m2 v128) (local $m3 v128)
    (local.set $W0 (f64x2.splat (local.get $w0)))
    (local.set $W1 (f64x2.splat (local.get $w1)))
    (local.set $W2 (f64x2.splat (local.get $w2)))
    (local.set $T (f32x4.splat (local.get $t)))
    ;; 16 pixels an iteration while 16 remain: the four compares narrowed to one 16-byte store
    (local.set $end (i32.add (local.get $out) (i32.and (local.get $n) (i32.const -16))))
    (block $done16
      (loop $next16
        (br_if $done16 (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $m (f32x4.gt (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (f32x4.demote_f64x2_zero
                (f64x2.add
                  (f64x2.add (f64x2.mul (local.get $W0) (v128.load offset=0 (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load offset=0 (local.get $r1))))
                  (f64x2.mul (local.get $W2) (v128.load offset=0 (local.get $r2)))))
              (f32x4.demote_f64x2_zero
                (f64x2.add
                  (f64x2.add (f64x2.mul (local.get $W0) (v128.load offset=16 (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load offset=16 (local.get $r1))))
                  (f64x2.mul (local.get $W2) (v128.load offset=16 (local.get $r2)))))) (local.get $T)))
        (local.set $m1 (f32x4.gt (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (f32x4.demote_f64x2_zero
                (f64x2.add
                  (f64x2.add (f64x2.mul (local.get $W0) (v128.load offset=32 (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load offset=32 (local.get $r1))))
                  (f64x2.mul (local.get $W2) (v128.load offset=32 (local.get $r2)))))
              (f32x4.demote_f64x2_zero
                (f64x2.add
                  (f64x2.add (f64x2.mul (local.get $W0) (v128.load offset=48 (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load offset=48 (local.get $r1))))
                  (f64x2.mul (local.get $W2) (v128.load offset=48 (local.get $r2)))))) (local.get $T)))
        (local.set $m2 (f32x4.gt (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (f32x4.demote_f64x2_zero
                (f64x2.add
                  (f64x2.add (f64x2.mul (local.get $W0) (v128.load offset=64 (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load offset=64 (local.get $r1))))
                  (f64x2.mul (local.get $W2) (v128.load offset=64 (local.get $r2)))))
              (f32x4.demote_f64x2_zero
                (f64x2.add
                  (f64x2.add (f64x2.mul (local.get $W0) (v128.load offset=80 (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load offset=80 (local.get $r1))))
                  (f64x2.mul (local.get $W2) (v128.load offset=80 (local.get $r2)))))) (local.get $T)))
        (local.set $m3 (f32x4.gt (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (f32x4.demote_f64x2_zero
                (f64x2.add
                  (f64x2.add (f64x2.mul (local.get $W0) (v128.load offset=96 (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load offset=96 (local.get $r1))))
                  (f64x2.mul (local.get $W2) (v128.load offset=96 (local.get $r2)))))
              (f32x4.demote_f64x2_zero
                (f64x2.add
                  (f64x2.add (f64x2.mul (local.get $W0) (v128.load offset=112 (local.get $r0))) (f64x2.mul (local.get $W1) (v128.load offset=112 (local.get $r1))))
                  (f64x2.mul (local.get $W2) (v128.load offset=112 (local.get $r2)))))) (local.get $T)))
        (v128.store align=1 (local.get $out)
          (i8x16.neg
            (i8x16.narrow_i16x8_s
              (i16x8.narrow_i32x4_s (local.get $m) (local.get $m1))
              (i16x8.narrow_i32x4_s (local.get $m2) (local.get $m3)))))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 128)))
        (local.set $r1 (i32.add (local.get $r1) (i32.const 128)))
        (local.set $r2 (i32.add (local.get $r2) (i32.const 128)))
        (br $next16)))
    ;; then 4 pixels an iteration while 4 remain
    (local.set $end (i32.add (local.get $end) (i32.and (local.get $n) (i32.const 12))))
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

  ;; out[0 .. n) = value (bytes): memory.fill, which on a shared memory beats a typed array's
  ;; fill ~10x (V8 fills a SharedArrayBuffer's bytes with relaxed atomic stores).
  (func (export "fill_bytes") (param $out i32) (param $value i32) (param $n i32)
    (memory.fill (local.get $out) (local.get $value) (local.get $n)))

  ;; wide_row3 for each low-res row y in list[first .. last) (int32 row indices):
  ;; out = wide + 8 y n, src = low + 4 y lowWidth. Rows of one mask write disjoint bytes.
  (func (export "wide_rows") (param $list i32) (param $first i32) (param $last i32) (param $wide i32) (param $low i32)
    (param $lowWidth i32) (param $start i32) (param $w i32) (param $n i32)
    (local $y i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $first) (local.get $last)))
        (local.set $y (i32.load (i32.add (local.get $list) (i32.shl (local.get $first) (i32.const 2)))))
        (call $wide_row3
          (i32.add (local.get $wide) (i32.shl (i32.mul (local.get $y) (local.get $n)) (i32.const 3)))
          (i32.add (local.get $low) (i32.shl (i32.mul (local.get $y) (local.get $lowWidth)) (i32.const 2)))
          (local.get $start) (local.get $w) (local.get $n))
        (local.set $first (i32.add (local.get $first) (i32.const 1)))
        (br $next))))

  ;; threshold3 for each of the items [first, last) of a list at $items: 48-byte records
  ;; { out, r0, r1, r2, n: i32; (4 bytes unused); w0, w1, w2: f64 }, as threshold3's
  ;; arguments. The items of one mask touch disjoint output bytes, so threads can share a list.
  (func (export "threshold_items") (param $items i32) (param $first i32) (param $last i32) (param $t f32)
    (local $p i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $first) (local.get $last)))
        (local.set $p (i32.add (local.get $items) (i32.mul (local.get $first) (i32.const 48))))
        (call $threshold3
          (i32.load (local.get $p)) (i32.load offset=4 (local.get $p)) (i32.load offset=8 (local.get $p))
          (i32.load offset=12 (local.get $p)) (i32.load offset=16 (local.get $p))
          (f64.load offset=24 (local.get $p)) (f64.load offset=32 (local.get $p)) (f64.load offset=40 (local.get $p))
          (local.get $t))
        (local.set $first (i32.add (local.get $first) (i32.const 1)))
        (br $next))))

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
;; Band codes of MaskUpscaler.bands, computed for every column of the low-res grid.
  ;; Step 1, per low-res row i < h4 and column j < stride (a multiple of 4):
  ;;   colMin[i, j] = min(low[i, j .. j + cw - 1]), colMax likewise (NaN if any is NaN).
  ;; Columns past w4 - cw read past their row (into the next row, or past the low-res image:
  ;; the caller pads it); their values are never looked up.
  ;; Step 2, per group g < ng of output rows, whose rows read low-res rows first[g] ..
  ;; first[g] + rw - 1, and column j:
  ;;   mn = min over those rows of colMin[., j], mx = max of colMax[., j]
  ;;   b = (mn > a0) + (mn > a1)       (a0 < a1: the cuts' upper margins, float32)
  ;;   code = b   where mn > -Inf, mx < +Inf and (b = 2, or b = 1 and mx < b1, or b = 0 and mx < b0)
  ;;        = -1  elsewhere (the pixels there are computed)
  ;; One cut: a1 = b1 = +Inf. All four thresholds are float32 versions of the float64 margins
  ;; that decide as they do (float32AtOrBelow, float32AtOrAbove).
  (func (export "band_codes") (param $low i32) (param $h4 i32) (param $w4 i32) (param $cw i32) (param $stride i32)
    (param $colMin i32) (param $colMax i32) (param $first i32) (param $ng i32) (param $rw i32) (param $codes i32)
    (param $a0 f32) (param $a1 f32) (param $b0 f32) (param $b1 f32)
    (local $i i32) (local $j i32) (local $t i32) (local $p i32) (local $o i32) (local $mn v128) (local $mx v128) (local $v v128)
    (local $A0 v128) (local $A1 v128) (local $B0 v128) (local $B1 v128) (local $gt0 v128) (local $gt1 v128) (local $ok v128)
    (local $g i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $stride) (i32.const 2)))
    ;; step 1
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $h4)))
        (local.set $j (i32.const 0))
        (block $cols_done
          (loop $cols
            (br_if $cols_done (i32.ge_u (local.get $j) (local.get $stride)))
            (local.set $p (i32.add (local.get $low) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $w4)) (local.get $j)) (i32.const 2))))
            (local.set $mn (v128.load align=4 (local.get $p)))
            (local.set $mx (local.get $mn))
            (local.set $t (i32.const 1))
            (block $taps_done
              (loop $taps
                (br_if $taps_done (i32.ge_u (local.get $t) (local.get $cw)))
                (local.set $v (v128.load align=4 (i32.add (local.get $p) (i32.shl (local.get $t) (i32.const 2)))))
                (local.set $mn (f32x4.min (local.get $mn) (local.get $v)))
                (local.set $mx (f32x4.max (local.get $mx) (local.get $v)))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $taps)))
            (local.set $o (i32.add (i32.mul (local.get $i) (local.get $rowBytes)) (i32.shl (local.get $j) (i32.const 2))))
            (v128.store (i32.add (local.get $colMin) (local.get $o)) (local.get $mn))
            (v128.store (i32.add (local.get $colMax) (local.get $o)) (local.get $mx))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $cols)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
    ;; step 2
    (local.set $A0 (f32x4.splat (local.get $a0)))
    (local.set $A1 (f32x4.splat (local.get $a1)))
    (local.set $B0 (f32x4.splat (local.get $b0)))
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (block $groups_done
      (loop $groups
        (br_if $groups_done (i32.ge_u (local.get $g) (local.get $ng)))
        (local.set $i (i32.load (i32.add (local.get $first) (i32.shl (local.get $g) (i32.const 2)))))
        (local.set $j (i32.const 0))
        (block $gcols_done
          (loop $gcols
            (br_if $gcols_done (i32.ge_u (local.get $j) (local.get $rowBytes)))
            (local.set $o (i32.add (i32.mul (local.get $i) (local.get $rowBytes)) (local.get $j)))
            (local.set $mn (v128.load (i32.add (local.get $colMin) (local.get $o))))
            (local.set $mx (v128.load (i32.add (local.get $colMax) (local.get $o))))
            (local.set $t (i32.const 1))
            (block $trows_done
              (loop $trows
                (br_if $trows_done (i32.ge_u (local.get $t) (local.get $rw)))
                (local.set $o (i32.add (local.get $o) (local.get $rowBytes)))
                (local.set $mn (f32x4.min (local.get $mn) (v128.load (i32.add (local.get $colMin) (local.get $o)))))
                (local.set $mx (f32x4.max (local.get $mx) (v128.load (i32.add (local.get $colMax) (local.get $o)))))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $trows)))
            (local.set $gt0 (f32x4.gt (local.get $mn) (local.get $A0)))
            (local.set $gt1 (f32x4.gt (local.get $mn) (local.get $A1)))
            ;; b = 2: gt1; b = 1: gt0 and not gt1, mx < b1; b = 0: not gt0, mx < b0
            (local.set $ok
              (v128.or (local.get $gt1)
                (v128.or
                  (v128.and (v128.andnot (local.get $gt0) (local.get $gt1)) (f32x4.lt (local.get $mx) (local.get $B1)))
                  (v128.andnot (f32x4.lt (local.get $mx) (local.get $B0)) (local.get $gt0)))))
            ;; finite: NaN fails both
            (local.set $ok
              (v128.and (local.get $ok)
                (v128.and
                  (f32x4.gt (local.get $mn) (v128.const f32x4 -inf -inf -inf -inf))
                  (f32x4.lt (local.get $mx) (v128.const f32x4 inf inf inf inf)))))
            (v128.store (i32.add (local.get $codes) (i32.add (i32.mul (local.get $g) (local.get $rowBytes)) (local.get $j)))
              (v128.bitselect
                (i32x4.sub (i32x4.sub (v128.const i32x4 0 0 0 0) (local.get $gt0)) (local.get $gt1))
                (v128.const i32x4 -1 -1 -1 -1)
                (local.get $ok)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $gcols)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $groups))))

  ;; out[x] = (w[3x] src[s] + w[3x + 1] src[s + 1]) + w[3x + 2] src[s + 2], s = start[x], for
  ;; x < n: float64 out and w, float32 src, int32 start (element indices into src).
  (func $wide_row3 (export "wide_row3") (param $out i32) (param $src i32) (param $start i32) (param $w i32) (param $n i32)
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
