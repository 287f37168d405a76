;; SIMD kernels that run on tfjs-backend-wasm's own memory (see wasm_kernels.ts).
;;
;; tfjs-wasm runs its elementwise ops one op per pass over memory, and some of them (broadcast
;; adds, 2-D transposes) as scalar loops. These kernels do in one vectorised pass what the
;; model otherwise spends several tfjs ops on. Each works on float32 arrays given by byte
;; offsets into the imported memory, writes a separate output and reads nothing else.
;;
;; The memory import is rewritten by scripts/build_wasm_kernels.ts into two variants: shared
;; (tfjs's threaded build) and plain. Built with wabt; kernels_wasm.ts holds the binaries.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; y = GELU(x) for n floats, exact GELU x * Phi(x) in the form of activations.ts:
  ;;   relu(x) - |x| * Phi(-|x|),  Phi(-|x|) = t (a1' + t (a2' + ... + t a5')) * exp(-x^2 / 2)
  ;; with t = 1 / (1 + p |x| / sqrt 2) (Abramowitz & Stegun 7.1.26, halved a_i). |x| is
  ;; capped at 20 in the tail, where Phi(-|x|) underflows float32 anyway (the tail is 0 from
  ;; |x| = 13.2 on): that keeps +Inf -> +Inf instead of Inf * 0. exp is Cephes' expf, with the power of two
  ;; taken from the bits of a float sum. NaN stays NaN.
  ;; The caps and the relu are pmin/pmax (pmin(a, b) = b < a ? b : a, pmax(a, b) = a < b ?
  ;; b : a; each a single minps/maxps on x64, where V8 spends ~7 instructions on min/max's NaN
  ;; and signed-zero rules): a NaN operand comes first, so NaN still propagates, and GELU(-0)
  ;; is -0, as in PyTorch. The same values as min/max otherwise, ~25% faster ([16384, 128] on
  ;; 2 threads: 2.7-3.2 against 3.7-4.1 ms best, alternating builds).
  ;;
  ;; Written out inline for three vectors an iteration: V8 does not inline wasm calls, and
  ;; independent chains keep the core busy (two: 2.3x faster than a call per vector; three:
  ;; ~13% faster than two; four spill registers and gain nothing; measured). The last n % 12
  ;; values go through the same loop from a zero-padded copy (see "gelu"). In the fused
  ;; variant (scripts/build_wasm_kernels.ts) each `a * b + c` step with c a constant is one
  ;; multiply-add.
  (func $gelu12 (param $x i32) (param $y i32) (param $end i32)
    (local $x0 v128) (local $a0 v128) (local $m0 v128) (local $t0 v128) (local $p0 v128) (local $e0 v128) (local $v0 v128) (local $n0 v128) (local $r0 v128) (local $q0 v128)
    (local $x1 v128) (local $a1 v128) (local $m1 v128) (local $t1 v128) (local $p1 v128) (local $e1 v128) (local $v1 v128) (local $n1 v128) (local $r1 v128) (local $q1 v128)
    (local $x2 v128) (local $a2 v128) (local $m2 v128) (local $t2 v128) (local $p2 v128) (local $e2 v128) (local $v2 v128) (local $n2 v128) (local $r2 v128) (local $q2 v128)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        ;; first vector
        (local.set $x0 (v128.load offset=0 (local.get $x)))
        ;; a = min(|x|, 20)
        (local.set $a0 (f32x4.pmin (f32x4.abs (local.get $x0)) (v128.const f32x4 20 20 20 20)))
        ;; t = 1 / (1 + (0.3275911 / sqrt 2) |x|)
        (local.set $t0 (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.add (f32x4.mul (local.get $a0) (v128.const f32x4 0.2316418883 0.2316418883 0.2316418883 0.2316418883)) (v128.const f32x4 1 1 1 1))))
        ;; p = t (a1' + t (a2' + t (a3' + t (a4' + t a5')))), Horner from a5' = a5 / 2
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $t0) (v128.const f32x4 0.5307027145 0.5307027145 0.5307027145 0.5307027145)) (v128.const f32x4 -0.7265760135 -0.7265760135 -0.7265760135 -0.7265760135)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $t0)) (v128.const f32x4 0.7107068705 0.7107068705 0.7107068705 0.7107068705)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $t0)) (v128.const f32x4 -0.142248368 -0.142248368 -0.142248368 -0.142248368)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $t0)) (v128.const f32x4 0.127414796 0.127414796 0.127414796 0.127414796)))
        (local.set $p0 (f32x4.mul (local.get $p0) (local.get $t0)))
        (local.set $e0 (f32x4.mul (f32x4.mul (local.get $a0) (local.get $a0)) (v128.const f32x4 -0.5 -0.5 -0.5 -0.5)))
        (local.set $m0 (f32x4.ge (local.get $e0) (v128.const f32x4 -87 -87 -87 -87)))
        (local.set $e0 (f32x4.pmax (local.get $e0) (v128.const f32x4 -87 -87 -87 -87)))
        ;; n = round(e / ln 2): adding 1.5 * 2^23 leaves n in the low mantissa bits
        (local.set $v0 (f32x4.add (f32x4.mul (local.get $e0) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341)) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $n0 (f32x4.sub (local.get $v0) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        ;; r = e - n ln 2 (ln 2 in two parts); exp(r) = 1 + r + r^2 P(r) (Cephes expf)
        (local.set $r0 (f32x4.sub (f32x4.sub (local.get $e0) (f32x4.mul (local.get $n0) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))) (f32x4.mul (local.get $n0) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
        (local.set $q0 (f32x4.add (f32x4.mul (local.get $r0) (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
        (local.set $q0 (f32x4.add (f32x4.mul (local.get $q0) (local.get $r0)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
        (local.set $q0 (f32x4.add (f32x4.mul (local.get $q0) (local.get $r0)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
        (local.set $q0 (f32x4.add (f32x4.mul (local.get $q0) (local.get $r0)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
        (local.set $q0 (f32x4.add (f32x4.mul (local.get $q0) (local.get $r0)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
        (local.set $q0 (f32x4.add (f32x4.add (f32x4.mul (local.get $q0) (f32x4.mul (local.get $r0) (local.get $r0))) (local.get $r0)) (v128.const f32x4 1 1 1 1)))
        ;; times 2^n: (bits(v) - bits(1.5 * 2^23) + 127) << 23; 0 where masked
        (local.set $e0 (v128.and (local.get $m0) (f32x4.mul (local.get $q0) (i32x4.shl (i32x4.add (local.get $v0) (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377)) (i32.const 23)))))
        ;; second vector: the same steps
        (local.set $x1 (v128.load offset=16 (local.get $x)))
        (local.set $a1 (f32x4.pmin (f32x4.abs (local.get $x1)) (v128.const f32x4 20 20 20 20)))
        (local.set $t1 (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.add (f32x4.mul (local.get $a1) (v128.const f32x4 0.2316418883 0.2316418883 0.2316418883 0.2316418883)) (v128.const f32x4 1 1 1 1))))
        (local.set $p1 (f32x4.add (f32x4.mul (local.get $t1) (v128.const f32x4 0.5307027145 0.5307027145 0.5307027145 0.5307027145)) (v128.const f32x4 -0.7265760135 -0.7265760135 -0.7265760135 -0.7265760135)))
        (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $t1)) (v128.const f32x4 0.7107068705 0.7107068705 0.7107068705 0.7107068705)))
        (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $t1)) (v128.const f32x4 -0.142248368 -0.142248368 -0.142248368 -0.142248368)))
        (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $t1)) (v128.const f32x4 0.127414796 0.127414796 0.127414796 0.127414796)))
        (local.set $p1 (f32x4.mul (local.get $p1) (local.get $t1)))
        (local.set $e1 (f32x4.mul (f32x4.mul (local.get $a1) (local.get $a1)) (v128.const f32x4 -0.5 -0.5 -0.5 -0.5)))
        (local.set $m1 (f32x4.ge (local.get $e1) (v128.const f32x4 -87 -87 -87 -87)))
        (local.set $e1 (f32x4.pmax (local.get $e1) (v128.const f32x4 -87 -87 -87 -87)))
        (local.set $v1 (f32x4.add (f32x4.mul (local.get $e1) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341)) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $n1 (f32x4.sub (local.get $v1) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $r1 (f32x4.sub (f32x4.sub (local.get $e1) (f32x4.mul (local.get $n1) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))) (f32x4.mul (local.get $n1) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
        (local.set $q1 (f32x4.add (f32x4.mul (local.get $r1) (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
        (local.set $q1 (f32x4.add (f32x4.mul (local.get $q1) (local.get $r1)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
        (local.set $q1 (f32x4.add (f32x4.mul (local.get $q1) (local.get $r1)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
        (local.set $q1 (f32x4.add (f32x4.mul (local.get $q1) (local.get $r1)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
        (local.set $q1 (f32x4.add (f32x4.mul (local.get $q1) (local.get $r1)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
        (local.set $q1 (f32x4.add (f32x4.add (f32x4.mul (local.get $q1) (f32x4.mul (local.get $r1) (local.get $r1))) (local.get $r1)) (v128.const f32x4 1 1 1 1)))
        (local.set $e1 (v128.and (local.get $m1) (f32x4.mul (local.get $q1) (i32x4.shl (i32x4.add (local.get $v1) (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377)) (i32.const 23)))))
        ;; third vector: the same steps
        (local.set $x2 (v128.load offset=32 (local.get $x)))
        (local.set $a2 (f32x4.pmin (f32x4.abs (local.get $x2)) (v128.const f32x4 20 20 20 20)))
        (local.set $t2 (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.add (f32x4.mul (local.get $a2) (v128.const f32x4 0.2316418883 0.2316418883 0.2316418883 0.2316418883)) (v128.const f32x4 1 1 1 1))))
        (local.set $p2 (f32x4.add (f32x4.mul (local.get $t2) (v128.const f32x4 0.5307027145 0.5307027145 0.5307027145 0.5307027145)) (v128.const f32x4 -0.7265760135 -0.7265760135 -0.7265760135 -0.7265760135)))
        (local.set $p2 (f32x4.add (f32x4.mul (local.get $p2) (local.get $t2)) (v128.const f32x4 0.7107068705 0.7107068705 0.7107068705 0.7107068705)))
        (local.set $p2 (f32x4.add (f32x4.mul (local.get $p2) (local.get $t2)) (v128.const f32x4 -0.142248368 -0.142248368 -0.142248368 -0.142248368)))
        (local.set $p2 (f32x4.add (f32x4.mul (local.get $p2) (local.get $t2)) (v128.const f32x4 0.127414796 0.127414796 0.127414796 0.127414796)))
        (local.set $p2 (f32x4.mul (local.get $p2) (local.get $t2)))
        (local.set $e2 (f32x4.mul (f32x4.mul (local.get $a2) (local.get $a2)) (v128.const f32x4 -0.5 -0.5 -0.5 -0.5)))
        (local.set $m2 (f32x4.ge (local.get $e2) (v128.const f32x4 -87 -87 -87 -87)))
        (local.set $e2 (f32x4.pmax (local.get $e2) (v128.const f32x4 -87 -87 -87 -87)))
        (local.set $v2 (f32x4.add (f32x4.mul (local.get $e2) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341)) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $n2 (f32x4.sub (local.get $v2) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $r2 (f32x4.sub (f32x4.sub (local.get $e2) (f32x4.mul (local.get $n2) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))) (f32x4.mul (local.get $n2) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
        (local.set $q2 (f32x4.add (f32x4.mul (local.get $r2) (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
        (local.set $q2 (f32x4.add (f32x4.mul (local.get $q2) (local.get $r2)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
        (local.set $q2 (f32x4.add (f32x4.mul (local.get $q2) (local.get $r2)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
        (local.set $q2 (f32x4.add (f32x4.mul (local.get $q2) (local.get $r2)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
        (local.set $q2 (f32x4.add (f32x4.mul (local.get $q2) (local.get $r2)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
        (local.set $q2 (f32x4.add (f32x4.add (f32x4.mul (local.get $q2) (f32x4.mul (local.get $r2) (local.get $r2))) (local.get $r2)) (v128.const f32x4 1 1 1 1)))
        (local.set $e2 (v128.and (local.get $m2) (f32x4.mul (local.get $q2) (i32x4.shl (i32x4.add (local.get $v2) (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377)) (i32.const 23)))))
        (v128.store (local.get $y) (f32x4.sub (f32x4.pmax (local.get $x0) (v128.const f32x4 0 0 0 0)) (f32x4.mul (f32x4.mul (local.get $p0) (local.get $e0)) (local.get $a0))))
        (v128.store offset=16 (local.get $y) (f32x4.sub (f32x4.pmax (local.get $x1) (v128.const f32x4 0 0 0 0)) (f32x4.mul (f32x4.mul (local.get $p1) (local.get $e1)) (local.get $a1))))
        (v128.store offset=32 (local.get $y) (f32x4.sub (f32x4.pmax (local.get $x2) (v128.const f32x4 0 0 0 0)) (f32x4.mul (f32x4.mul (local.get $p2) (local.get $e2)) (local.get $a2))))
        (local.set $x (i32.add (local.get $x) (i32.const 48)))
        (local.set $y (i32.add (local.get $y) (i32.const 48)))
        (br $next))))

  ;; $scratch: 48 bytes the caller owns.
  (func (export "gelu") (param $x i32) (param $y i32) (param $n i32) (param $scratch i32)
    (local $whole i32) (local $rest i32)
    (local.set $whole (i32.mul (i32.div_u (local.get $n) (i32.const 12)) (i32.const 48)))
    (call $gelu12 (local.get $x) (local.get $y) (i32.add (local.get $x) (local.get $whole)))
    ;; the last n % 12 values: copied into 48 zeroed scratch bytes, computed there, copied out
    (local.set $rest (i32.sub (i32.shl (local.get $n) (i32.const 2)) (local.get $whole)))
    (if (local.get $rest)
      (then
        (v128.store (local.get $scratch) (v128.const i32x4 0 0 0 0))
        (v128.store offset=16 (local.get $scratch) (v128.const i32x4 0 0 0 0))
        (v128.store offset=32 (local.get $scratch) (v128.const i32x4 0 0 0 0))
        (memory.copy (local.get $scratch) (i32.add (local.get $x) (local.get $whole)) (local.get $rest))
        (call $gelu12 (local.get $scratch) (local.get $scratch) (i32.add (local.get $scratch) (i32.const 48)))
        (memory.copy (i32.add (local.get $y) (local.get $whole)) (local.get $scratch) (local.get $rest)))))

  ;; out[r, i, j] = (s[r, i, j] + h[r, i]) + w[r, j] for s [rows, kh, kw], h [rows, kh],
  ;; w [rows, kw]: the decomposed relative-position terms added to attention scores, in the
  ;; reference's order of the two adds.
  (func (export "rel_pos_add") (param $s i32) (param $h i32) (param $w i32) (param $out i32)
    (param $rows i32) (param $kh i32) (param $kw i32)
    (local $i i32) (local $j i32) (local $hv v128) (local $hs f32) (local $kw4 i32) (local $wrow i32)
    (local.set $kw4 (i32.and (local.get $kw) (i32.const -4)))
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.eqz (local.get $rows)))
        (local.set $i (i32.const 0))
        (block $i_done
          (loop $each_i
            (br_if $i_done (i32.ge_u (local.get $i) (local.get $kh)))
            (local.set $hs (f32.load (local.get $h)))
            (local.set $hv (f32x4.splat (local.get $hs)))
            (local.set $wrow (local.get $w))
            (local.set $j (i32.const 0))
            (block $j_done
              (loop $each_j
                (br_if $j_done (i32.ge_u (local.get $j) (local.get $kw4)))
                (v128.store (local.get $out)
                  (f32x4.add (f32x4.add (v128.load (local.get $s)) (local.get $hv)) (v128.load (local.get $wrow))))
                (local.set $s (i32.add (local.get $s) (i32.const 16)))
                (local.set $out (i32.add (local.get $out) (i32.const 16)))
                (local.set $wrow (i32.add (local.get $wrow) (i32.const 16)))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $each_j)))
            (block $tail_done
              (loop $tail
                (br_if $tail_done (i32.ge_u (local.get $j) (local.get $kw)))
                (f32.store (local.get $out)
                  (f32.add (f32.add (f32.load (local.get $s)) (local.get $hs)) (f32.load (local.get $wrow))))
                (local.set $s (i32.add (local.get $s) (i32.const 4)))
                (local.set $out (i32.add (local.get $out) (i32.const 4)))
                (local.set $wrow (i32.add (local.get $wrow) (i32.const 4)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $tail)))
            (local.set $h (i32.add (local.get $h) (i32.const 4)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $each_i)))
        (local.set $w (i32.add (local.get $w) (i32.shl (local.get $kw) (i32.const 2))))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; The columns of x [rows, cols] into out [rows, outCols] from column `at` on (a concat
  ;; along the last axis, one input at a time): one memory.copy a row.
  (func (export "copy_columns") (param $x i32) (param $out i32) (param $rows i32) (param $cols i32) (param $out_cols i32) (param $at i32)
    (local $bytes i32) (local $stride i32) (local $end i32)
    (local.set $bytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $stride (i32.shl (local.get $out_cols) (i32.const 2)))
    (local.set $out (i32.add (local.get $out) (i32.shl (local.get $at) (i32.const 2))))
    (local.set $end (i32.add (local.get $x) (i32.mul (local.get $rows) (local.get $bytes))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (memory.copy (local.get $out) (local.get $x) (local.get $bytes))
        (local.set $x (i32.add (local.get $x) (local.get $bytes)))
        (local.set $out (i32.add (local.get $out) (local.get $stride)))
        (br $each))))

  ;; Window partition (the reference's window_partition): x [B, H, W, C] -> windows
  ;; [B * nh * nw, ws, ws, C], nh = ceil(H / ws), nw = ceil(W / ws), zeros where a window
  ;; passes the image's bottom or right edge; and back (window_unpartition), the tokens past
  ;; the edges dropped. Both are window_copy.
  (func (export "window_partition") (param $x i32) (param $out i32) (param $b i32) (param $h i32) (param $w i32) (param $c i32) (param $ws i32)
    (call $window_copy (local.get $x) (local.get $out) (local.get $b) (local.get $h) (local.get $w) (local.get $c) (local.get $ws) (i32.const 1)))

  (func (export "window_unpartition") (param $win i32) (param $out i32) (param $b i32) (param $h i32) (param $w i32) (param $c i32) (param $ws i32)
    (call $window_copy (local.get $out) (local.get $win) (local.get $b) (local.get $h) (local.get $w) (local.get $c) (local.get $ws) (i32.const 0)))

  ;; Images x [B, H, W, C] to windows win (to_windows), or windows to images: a window row
  ;; at a time, its tokens inside the image one run of memory (memory.copy); into windows,
  ;; the rest of the row is filled with zeros.
  (func $window_copy (param $x i32) (param $win i32) (param $b i32) (param $h i32) (param $w i32) (param $c i32) (param $ws i32) (param $to_windows i32)
    (local $nh i32) (local $nw i32) (local $wy i32) (local $wx i32) (local $r i32) (local $y i32) (local $n i32)
    (local $token i32) (local $run i32) (local $bi i32)
    (local.set $nh (i32.div_u (i32.sub (i32.add (local.get $h) (local.get $ws)) (i32.const 1)) (local.get $ws)))
    (local.set $nw (i32.div_u (i32.sub (i32.add (local.get $w) (local.get $ws)) (i32.const 1)) (local.get $ws)))
    (local.set $token (i32.shl (local.get $c) (i32.const 2)))
    (block $images_done
      (loop $images
        (br_if $images_done (i32.ge_u (local.get $bi) (local.get $b)))
        (local.set $wy (i32.const 0))
        (block $wy_done
          (loop $each_wy
            (br_if $wy_done (i32.ge_u (local.get $wy) (local.get $nh)))
            (local.set $wx (i32.const 0))
            (block $wx_done
              (loop $each_wx
                (br_if $wx_done (i32.ge_u (local.get $wx) (local.get $nw)))
                (local.set $r (i32.const 0))
                (block $r_done
                  (loop $each_r
                    (br_if $r_done (i32.ge_u (local.get $r) (local.get $ws)))
                    (local.set $y (i32.add (i32.mul (local.get $wy) (local.get $ws)) (local.get $r)))
                    ;; tokens of this window row inside the image, and where they start there
                    (local.set $n (i32.const 0))
                    (if (i32.lt_u (local.get $y) (local.get $h))
                      (then
                        (local.set $n (i32.sub (local.get $w) (i32.mul (local.get $wx) (local.get $ws))))
                        (if (i32.gt_u (local.get $n) (local.get $ws)) (then (local.set $n (local.get $ws))))
                        (local.set $run
                          (i32.add (local.get $x) (i32.mul (i32.add (i32.mul (local.get $y) (local.get $w)) (i32.mul (local.get $wx) (local.get $ws))) (local.get $token))))
                        (if (local.get $to_windows)
                          (then (memory.copy (local.get $win) (local.get $run) (i32.mul (local.get $n) (local.get $token))))
                          (else (memory.copy (local.get $run) (local.get $win) (i32.mul (local.get $n) (local.get $token)))))))
                    (if (i32.and (local.get $to_windows) (i32.lt_u (local.get $n) (local.get $ws)))
                      (then
                        (memory.fill (i32.add (local.get $win) (i32.mul (local.get $n) (local.get $token))) (i32.const 0)
                          (i32.mul (i32.sub (local.get $ws) (local.get $n)) (local.get $token)))))
                    (local.set $win (i32.add (local.get $win) (i32.mul (local.get $ws) (local.get $token))))
                    (local.set $r (i32.add (local.get $r) (i32.const 1)))
                    (br $each_r)))
                (local.set $wx (i32.add (local.get $wx) (i32.const 1)))
                (br $each_wx)))
            (local.set $wy (i32.add (local.get $wy) (i32.const 1)))
            (br $each_wy)))
        (local.set $x (i32.add (local.get $x) (i32.mul (i32.mul (local.get $h) (local.get $w)) (local.get $token))))
        (local.set $bi (i32.add (local.get $bi) (i32.const 1)))
        (br $images))))

  ;; exp(v - m) lane by lane with exactly softmax_rows's operations (0 under -87; its
  ;; polynomial steps fused in the fused variant, as there). The one-row loops of
  ;; softmax_rows keep their copies inline: V8 does not inline this call, and calling it per
  ;; vector there made a global head's softmax ~40% slower (24-26 against 30-40 ms best,
  ;; alternating runs).
  (func $exp_minus (param $v v128) (param $mv v128) (result v128)
    (local $e v128) (local $m4 v128) (local $t v128) (local $nn v128) (local $r v128) (local $q v128)
    (local.set $e (f32x4.pmax (f32x4.sub (local.get $v) (local.get $mv)) (v128.const f32x4 -87 -87 -87 -87)))
    (local.set $m4 (f32x4.ge (local.get $e) (v128.const f32x4 -87 -87 -87 -87)))
    (local.set $t (f32x4.add (f32x4.mul (local.get $e) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341)) (v128.const f32x4 12582912 12582912 12582912 12582912)))
    (local.set $nn (f32x4.sub (local.get $t) (v128.const f32x4 12582912 12582912 12582912 12582912)))
    (local.set $r (f32x4.sub (f32x4.sub (local.get $e) (f32x4.mul (local.get $nn) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))) (f32x4.mul (local.get $nn) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
    (local.set $q (f32x4.add (f32x4.mul (local.get $r) (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
    (local.set $q (f32x4.add (f32x4.add (f32x4.mul (local.get $q) (f32x4.mul (local.get $r) (local.get $r))) (local.get $r)) (v128.const f32x4 1 1 1 1)))
    (v128.and (local.get $m4) (f32x4.mul (local.get $q) (i32x4.shl (i32x4.add (local.get $t) (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377)) (i32.const 23)))))

  ;; softmax_rows on 4 rows of n values, 5 <= n <= 8, without relative-position terms (the
  ;; decoder's image-to-token attention: rows of as many values as prompt tokens), the rows
  ;; side by side in the lanes: element j of the 4 rows is one vector ($e0..$e7, from a 4 x
  ;; 4 transpose of each row's first 4 and last 4 values), so each exp serves 4 rows where
  ;; the one-row path spends a whole vector on each value past the first 4. The same
  ;; operations as the one-row path on each value, its max, its sum in the same order
  ;; ((e0 + e1) + (e2 + e3), then e4, e5, e6; for 8 values ((e0 + e4) + (e1 + e5)) + ((e2 +
  ;; e6) + (e3 + e7))) and the same 1 / sum, so the same values bit for bit. Returns 0
  ;; (writing nothing) where a row holds a NaN: the one-row path takes those. Reads all 4
  ;; rows before it writes, so out may be x. Its four 4 x 4 transposes are written out: as
  ;; calls of one multi-value function they made [4096, 8, 7] slower (0.51-0.65 against
  ;; 0.37-0.52 ms best, alternating runs), V8 not inlining them.
  (func $softmax4_short (param $x i32) (param $out i32) (param $n i32) (result i32)
    (local $stride i32) (local $hi i32) (local $e0 v128) (local $e1 v128) (local $e2 v128) (local $e3 v128) (local $e4 v128) (local $e5 v128) (local $e6 v128) (local $e7 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $tt0 v128) (local $tt1 v128) (local $tt2 v128) (local $tt3 v128) (local $mv v128) (local $nan v128) (local $s v128) (local $inv v128)
    (local.set $stride (i32.shl (local.get $n) (i32.const 2)))
    (local.set $hi (i32.sub (local.get $stride) (i32.const 16)))
    (local.set $a0 (v128.load (i32.add (local.get $x) (i32.mul (local.get $stride) (i32.const 0)))))
    (local.set $a1 (v128.load (i32.add (local.get $x) (i32.mul (local.get $stride) (i32.const 1)))))
    (local.set $a2 (v128.load (i32.add (local.get $x) (i32.mul (local.get $stride) (i32.const 2)))))
    (local.set $a3 (v128.load (i32.add (local.get $x) (i32.mul (local.get $stride) (i32.const 3)))))
    (local.set $b0 (v128.load (i32.add (i32.add (local.get $x) (i32.mul (local.get $stride) (i32.const 0))) (local.get $hi))))
    (local.set $b1 (v128.load (i32.add (i32.add (local.get $x) (i32.mul (local.get $stride) (i32.const 1))) (local.get $hi))))
    (local.set $b2 (v128.load (i32.add (i32.add (local.get $x) (i32.mul (local.get $stride) (i32.const 2))) (local.get $hi))))
    (local.set $b3 (v128.load (i32.add (i32.add (local.get $x) (i32.mul (local.get $stride) (i32.const 3))) (local.get $hi))))
    (local.set $tt0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1)))
    (local.set $tt1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1)))
    (local.set $tt2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3)))
    (local.set $tt3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3)))
    (local.set $e0 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $tt0) (local.get $tt2)))
    (local.set $e1 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $tt0) (local.get $tt2)))
    (local.set $e2 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $tt1) (local.get $tt3)))
    (local.set $e3 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $tt1) (local.get $tt3)))
    (local.set $tt0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $b0) (local.get $b1)))
    (local.set $tt1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $b0) (local.get $b1)))
    (local.set $tt2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $b2) (local.get $b3)))
    (local.set $tt3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $b2) (local.get $b3)))
    (local.set $b0 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $tt0) (local.get $tt2)))
    (local.set $b1 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $tt0) (local.get $tt2)))
    (local.set $b2 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $tt1) (local.get $tt3)))
    (local.set $b3 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $tt1) (local.get $tt3)))
    ;; $b0..$b3 now hold elements n - 4 .. n - 1: elements 4 .. n - 1 are the last n - 4 of them
    (if (i32.eq (local.get $n) (i32.const 8))
      (then (local.set $e4 (local.get $b0)) (local.set $e5 (local.get $b1)) (local.set $e6 (local.get $b2)) (local.set $e7 (local.get $b3))))
    (if (i32.eq (local.get $n) (i32.const 7))
      (then (local.set $e4 (local.get $b1)) (local.set $e5 (local.get $b2)) (local.set $e6 (local.get $b3))))
    (if (i32.eq (local.get $n) (i32.const 6))
      (then (local.set $e4 (local.get $b2)) (local.set $e5 (local.get $b3))))
    (if (i32.eq (local.get $n) (i32.const 5))
      (then (local.set $e4 (local.get $b3))))
    ;; the max (pmax, in any order: a row that is used holds no NaN) and whether a row holds a NaN
    (local.set $mv (f32x4.pmax (f32x4.pmax (local.get $e0) (local.get $e1)) (f32x4.pmax (local.get $e2) (local.get $e3))))
    (local.set $nan (v128.or (v128.or (f32x4.ne (local.get $e0) (local.get $e0)) (f32x4.ne (local.get $e1) (local.get $e1)))
                             (v128.or (f32x4.ne (local.get $e2) (local.get $e2)) (f32x4.ne (local.get $e3) (local.get $e3)))))
    (local.set $mv (f32x4.pmax (local.get $mv) (local.get $e4)))
    (local.set $nan (v128.or (local.get $nan) (f32x4.ne (local.get $e4) (local.get $e4))))
    (if (i32.ge_u (local.get $n) (i32.const 6))
      (then
        (local.set $mv (f32x4.pmax (local.get $mv) (local.get $e5)))
        (local.set $nan (v128.or (local.get $nan) (f32x4.ne (local.get $e5) (local.get $e5))))))
    (if (i32.ge_u (local.get $n) (i32.const 7))
      (then
        (local.set $mv (f32x4.pmax (local.get $mv) (local.get $e6)))
        (local.set $nan (v128.or (local.get $nan) (f32x4.ne (local.get $e6) (local.get $e6))))))
    (if (i32.eq (local.get $n) (i32.const 8))
      (then
        (local.set $mv (f32x4.pmax (local.get $mv) (local.get $e7)))
        (local.set $nan (v128.or (local.get $nan) (f32x4.ne (local.get $e7) (local.get $e7))))))
    (if (v128.any_true (local.get $nan)) (then (return (i32.const 0))))
    (local.set $e0 (call $exp_minus (local.get $e0) (local.get $mv)))
    (local.set $e1 (call $exp_minus (local.get $e1) (local.get $mv)))
    (local.set $e2 (call $exp_minus (local.get $e2) (local.get $mv)))
    (local.set $e3 (call $exp_minus (local.get $e3) (local.get $mv)))
    (local.set $e4 (call $exp_minus (local.get $e4) (local.get $mv)))
    (if (i32.ge_u (local.get $n) (i32.const 6)) (then (local.set $e5 (call $exp_minus (local.get $e5) (local.get $mv)))))
    (if (i32.ge_u (local.get $n) (i32.const 7)) (then (local.set $e6 (call $exp_minus (local.get $e6) (local.get $mv)))))
    (if (i32.eq (local.get $n) (i32.const 8))
      (then
        (local.set $e7 (call $exp_minus (local.get $e7) (local.get $mv)))
        (local.set $s (f32x4.add
          (f32x4.add (f32x4.add (local.get $e0) (local.get $e4)) (f32x4.add (local.get $e1) (local.get $e5)))
          (f32x4.add (f32x4.add (local.get $e2) (local.get $e6)) (f32x4.add (local.get $e3) (local.get $e7))))))
      (else
        (local.set $s (f32x4.add (f32x4.add (f32x4.add (local.get $e0) (local.get $e1)) (f32x4.add (local.get $e2) (local.get $e3))) (local.get $e4)))
        (if (i32.ge_u (local.get $n) (i32.const 6)) (then (local.set $s (f32x4.add (local.get $s) (local.get $e5)))))
        (if (i32.ge_u (local.get $n) (i32.const 7)) (then (local.set $s (f32x4.add (local.get $s) (local.get $e6)))))))
    (local.set $inv (f32x4.div (v128.const f32x4 1 1 1 1) (local.get $s)))
    (local.set $e0 (f32x4.mul (local.get $e0) (local.get $inv)))
    (local.set $e1 (f32x4.mul (local.get $e1) (local.get $inv)))
    (local.set $e2 (f32x4.mul (local.get $e2) (local.get $inv)))
    (local.set $e3 (f32x4.mul (local.get $e3) (local.get $inv)))
    (local.set $e4 (f32x4.mul (local.get $e4) (local.get $inv)))
    (local.set $e5 (f32x4.mul (local.get $e5) (local.get $inv)))
    (local.set $e6 (f32x4.mul (local.get $e6) (local.get $inv)))
    (local.set $e7 (f32x4.mul (local.get $e7) (local.get $inv)))
    ;; elements n - 4 .. n - 1 into $b0..$b3, then both halves back to rows
    (if (i32.eq (local.get $n) (i32.const 8))
      (then (local.set $b0 (local.get $e4)) (local.set $b1 (local.get $e5)) (local.set $b2 (local.get $e6)) (local.set $b3 (local.get $e7))))
    (if (i32.eq (local.get $n) (i32.const 7))
      (then (local.set $b0 (local.get $e3)) (local.set $b1 (local.get $e4)) (local.set $b2 (local.get $e5)) (local.set $b3 (local.get $e6))))
    (if (i32.eq (local.get $n) (i32.const 6))
      (then (local.set $b0 (local.get $e2)) (local.set $b1 (local.get $e3)) (local.set $b2 (local.get $e4)) (local.set $b3 (local.get $e5))))
    (if (i32.eq (local.get $n) (i32.const 5))
      (then (local.set $b0 (local.get $e1)) (local.set $b1 (local.get $e2)) (local.set $b2 (local.get $e3)) (local.set $b3 (local.get $e4))))
    (local.set $tt0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $e0) (local.get $e1)))
    (local.set $tt1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $e0) (local.get $e1)))
    (local.set $tt2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $e2) (local.get $e3)))
    (local.set $tt3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $e2) (local.get $e3)))
    (local.set $a0 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $tt0) (local.get $tt2)))
    (local.set $a1 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $tt0) (local.get $tt2)))
    (local.set $a2 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $tt1) (local.get $tt3)))
    (local.set $a3 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $tt1) (local.get $tt3)))
    (local.set $tt0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $b0) (local.get $b1)))
    (local.set $tt1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $b0) (local.get $b1)))
    (local.set $tt2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $b2) (local.get $b3)))
    (local.set $tt3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $b2) (local.get $b3)))
    (local.set $b0 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $tt0) (local.get $tt2)))
    (local.set $b1 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $tt0) (local.get $tt2)))
    (local.set $b2 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $tt1) (local.get $tt3)))
    (local.set $b3 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $tt1) (local.get $tt3)))
    (v128.store (i32.add (i32.add (local.get $out) (i32.mul (local.get $stride) (i32.const 0))) (local.get $hi)) (local.get $b0))
    (v128.store (i32.add (i32.add (local.get $out) (i32.mul (local.get $stride) (i32.const 1))) (local.get $hi)) (local.get $b1))
    (v128.store (i32.add (i32.add (local.get $out) (i32.mul (local.get $stride) (i32.const 2))) (local.get $hi)) (local.get $b2))
    (v128.store (i32.add (i32.add (local.get $out) (i32.mul (local.get $stride) (i32.const 3))) (local.get $hi)) (local.get $b3))
    (v128.store (i32.add (local.get $out) (i32.mul (local.get $stride) (i32.const 0))) (local.get $a0))
    (v128.store (i32.add (local.get $out) (i32.mul (local.get $stride) (i32.const 1))) (local.get $a1))
    (v128.store (i32.add (local.get $out) (i32.mul (local.get $stride) (i32.const 2))) (local.get $a2))
    (v128.store (i32.add (local.get $out) (i32.mul (local.get $stride) (i32.const 3))) (local.get $a3))
    (i32.const 1))

  ;; Softmax over rows of n = kh * kw values: out[r] = softmax(x[r]), with $rel the
  ;; relative-position terms added first, in rel_pos_add's order:
  ;;   (x[r, i * kw + j] + h[r, i]) + w[r, j]
  ;; (the encoder's windowed and global attention); without them x as it is ($h and $w
  ;; unread). Per row: the values and their max in one pass (written to out), then e =
  ;; exp(v - max) in place and their sum, then e * (1 / sum). exp is Cephes' expf as in GELU
  ;; above (an exponent under -87 gives 0; in the fused variant its polynomial steps are
  ;; multiply-adds). The sum is taken in 4 lanes, each 64 values' partial sums added to a
  ;; total, then across the lanes, then the tail. A row holding a NaN comes out all NaN. The
  ;; max and the clamp use pmax (one instruction; NaN is handled on its own). Rows of 5 to 8
  ;; values without the terms go 4 at a time through softmax4_short (the same values).
  (func (export "softmax_rows") (param $x i32) (param $h i32) (param $w i32) (param $out i32)
    (param $rows i32) (param $kh i32) (param $kw i32) (param $rel i32)
    (local $n i32) (local $n4 i32) (local $kw4 i32) (local $i i32) (local $j i32) (local $o i32) (local $wrow i32)
    (local $hs f32) (local $hv v128) (local $v v128) (local $mx v128) (local $nan v128) (local $m f32) (local $mv v128)
    (local $acc v128) (local $tot v128) (local $cend i32) (local $sum f32) (local $inv f32) (local $iv v128) (local $f f32)
    (local $e v128) (local $m4 v128) (local $t v128) (local $nn v128) (local $r v128) (local $q v128) (local $y v128)
    (local.set $n (i32.mul (local.get $kh) (local.get $kw)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $kw4 (i32.and (local.get $kw) (i32.const -4)))
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.eqz (local.get $rows)))
        ;; 4 short rows at a time where there are (softmax4_short; it leaves rows with a NaN here)
        (if (i32.and (i32.and (i32.eqz (local.get $rel)) (i32.ge_u (local.get $rows) (i32.const 4)))
                     (i32.and (i32.ge_u (local.get $n) (i32.const 5)) (i32.le_u (local.get $n) (i32.const 8))))
          (then
            (if (call $softmax4_short (local.get $x) (local.get $out) (local.get $n))
              (then
                (local.set $x (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 4))))
                (local.set $out (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 4))))
                (local.set $rows (i32.sub (local.get $rows) (i32.const 4)))
                (br $row)))))
        ;; 1. the values (with the terms) into out, their max, and whether one is NaN
        (local.set $mx (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $nan (v128.const i32x4 0 0 0 0))
        (local.set $m (f32.const -inf))
        (local.set $o (local.get $out))
        (if (local.get $rel)
          (then
            (local.set $i (i32.const 0))
            (block $i_done
              (loop $each_i
                (br_if $i_done (i32.ge_u (local.get $i) (local.get $kh)))
                (local.set $hs (f32.load (local.get $h)))
                (local.set $hv (f32x4.splat (local.get $hs)))
                (local.set $wrow (local.get $w))
                (local.set $j (i32.const 0))
                (block $j_done
                  (loop $each_j
                    (br_if $j_done (i32.ge_u (local.get $j) (local.get $kw4)))
                    (local.set $v (f32x4.add (f32x4.add (v128.load (local.get $x)) (local.get $hv)) (v128.load (local.get $wrow))))
                    (v128.store (local.get $o) (local.get $v))
                    (local.set $mx (f32x4.pmax (local.get $mx) (local.get $v)))
                    (local.set $nan (v128.or (local.get $nan) (f32x4.ne (local.get $v) (local.get $v))))
                    (local.set $x (i32.add (local.get $x) (i32.const 16)))
                    (local.set $o (i32.add (local.get $o) (i32.const 16)))
                    (local.set $wrow (i32.add (local.get $wrow) (i32.const 16)))
                    (local.set $j (i32.add (local.get $j) (i32.const 4)))
                    (br $each_j)))
                (block $tail_done
                  (loop $tail
                    (br_if $tail_done (i32.ge_u (local.get $j) (local.get $kw)))
                    (local.set $f (f32.add (f32.add (f32.load (local.get $x)) (local.get $hs)) (f32.load (local.get $wrow))))
                    (f32.store (local.get $o) (local.get $f))
                    (local.set $m (f32.max (local.get $m) (local.get $f)))
                    (local.set $x (i32.add (local.get $x) (i32.const 4)))
                    (local.set $o (i32.add (local.get $o) (i32.const 4)))
                    (local.set $wrow (i32.add (local.get $wrow) (i32.const 4)))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))
                    (br $tail)))
                (local.set $h (i32.add (local.get $h) (i32.const 4)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $each_i)))
            (local.set $w (i32.add (local.get $w) (i32.shl (local.get $kw) (i32.const 2)))))
          (else
            (local.set $j (i32.const 0))
            (block $c_done
              (loop $copy
                (br_if $c_done (i32.ge_u (local.get $j) (local.get $n4)))
                (local.set $v (v128.load (local.get $x)))
                (v128.store (local.get $o) (local.get $v))
                (local.set $mx (f32x4.pmax (local.get $mx) (local.get $v)))
                (local.set $nan (v128.or (local.get $nan) (f32x4.ne (local.get $v) (local.get $v))))
                (local.set $x (i32.add (local.get $x) (i32.const 16)))
                (local.set $o (i32.add (local.get $o) (i32.const 16)))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $copy)))
            (block $ct_done
              (loop $copy_tail
                (br_if $ct_done (i32.ge_u (local.get $j) (local.get $n)))
                (local.set $f (f32.load (local.get $x)))
                (f32.store (local.get $o) (local.get $f))
                (local.set $m (f32.max (local.get $m) (local.get $f)))
                (local.set $x (i32.add (local.get $x) (i32.const 4)))
                (local.set $o (i32.add (local.get $o) (i32.const 4)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $copy_tail)))))
        ;; f32.max carries a NaN of the tails into m; the vector part reports its own in $nan
        (local.set $m (f32.max (local.get $m)
          (f32.max (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
                   (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx))))))
        (if (i32.or (v128.any_true (local.get $nan)) (f32.ne (local.get $m) (local.get $m)))
          (then
            ;; a NaN: the whole row is NaN
            (local.set $o (local.get $out))
            (local.set $j (i32.const 0))
            (block $nan_done
              (loop $fill
                (br_if $nan_done (i32.ge_u (local.get $j) (local.get $n)))
                (f32.store (local.get $o) (f32.const nan))
                (local.set $o (i32.add (local.get $o) (i32.const 4)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $fill))))
          (else
            (local.set $mv (f32x4.splat (local.get $m)))
            ;; 2. e = exp(v - max) in place, and their sum: each 64 values' in 4 lanes, added
            ;; to the total (a long row's sum then rounds less than through one running sum per
            ;; lane: [6, 4096] rows' largest error against float64 softmax 1.1e-6 -> 1.0e-7)
            (local.set $acc (v128.const f32x4 0 0 0 0))
            (local.set $tot (v128.const f32x4 0 0 0 0))
            (local.set $o (local.get $out))
            (local.set $j (i32.const 0))
            (block $e_done
              (loop $each_chunk
                (br_if $e_done (i32.ge_u (local.get $j) (local.get $n4)))
                (local.set $cend (i32.add (local.get $j) (i32.const 64)))
                (if (i32.gt_u (local.get $cend) (local.get $n4)) (then (local.set $cend (local.get $n4))))
                (local.set $acc (v128.const f32x4 0 0 0 0))
              (loop $each_e
            (local.set $e (f32x4.pmax (f32x4.sub (v128.load (local.get $o)) (local.get $mv)) (v128.const f32x4 -87 -87 -87 -87)))
            (local.set $m4 (f32x4.ge (local.get $e) (v128.const f32x4 -87 -87 -87 -87)))
            (local.set $t (f32x4.add (f32x4.mul (local.get $e) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341)) (v128.const f32x4 12582912 12582912 12582912 12582912)))
            (local.set $nn (f32x4.sub (local.get $t) (v128.const f32x4 12582912 12582912 12582912 12582912)))
            (local.set $r (f32x4.sub (f32x4.sub (local.get $e) (f32x4.mul (local.get $nn) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))) (f32x4.mul (local.get $nn) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
            (local.set $q (f32x4.add (f32x4.mul (local.get $r) (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
            (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
            (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
            (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
            (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
            (local.set $q (f32x4.add (f32x4.add (f32x4.mul (local.get $q) (f32x4.mul (local.get $r) (local.get $r))) (local.get $r)) (v128.const f32x4 1 1 1 1)))
            (local.set $y (v128.and (local.get $m4) (f32x4.mul (local.get $q) (i32x4.shl (i32x4.add (local.get $t) (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377)) (i32.const 23)))))
                (v128.store (local.get $o) (local.get $y))
                (local.set $acc (f32x4.add (local.get $acc) (local.get $y)))
                (local.set $o (i32.add (local.get $o) (i32.const 16)))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br_if $each_e (i32.lt_u (local.get $j) (local.get $cend))))
                (local.set $tot (f32x4.add (local.get $tot) (local.get $acc)))
                (br $each_chunk)))
            (local.set $sum (call $hsum (local.get $tot)))
            (block $et_done
              (loop $each_et
                (br_if $et_done (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $e (f32x4.pmax (f32x4.splat (f32.sub (f32.load (local.get $o)) (local.get $m))) (v128.const f32x4 -87 -87 -87 -87)))
            (local.set $m4 (f32x4.ge (local.get $e) (v128.const f32x4 -87 -87 -87 -87)))
            (local.set $t (f32x4.add (f32x4.mul (local.get $e) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341)) (v128.const f32x4 12582912 12582912 12582912 12582912)))
            (local.set $nn (f32x4.sub (local.get $t) (v128.const f32x4 12582912 12582912 12582912 12582912)))
            (local.set $r (f32x4.sub (f32x4.sub (local.get $e) (f32x4.mul (local.get $nn) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))) (f32x4.mul (local.get $nn) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
            (local.set $q (f32x4.add (f32x4.mul (local.get $r) (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
            (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
            (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
            (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
            (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
            (local.set $q (f32x4.add (f32x4.add (f32x4.mul (local.get $q) (f32x4.mul (local.get $r) (local.get $r))) (local.get $r)) (v128.const f32x4 1 1 1 1)))
            (local.set $y (v128.and (local.get $m4) (f32x4.mul (local.get $q) (i32x4.shl (i32x4.add (local.get $t) (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377)) (i32.const 23)))))
                (local.set $f (f32x4.extract_lane 0 (local.get $y)))
                (f32.store (local.get $o) (local.get $f))
                (local.set $sum (f32.add (local.get $sum) (local.get $f)))
                (local.set $o (i32.add (local.get $o) (i32.const 4)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $each_et)))
            ;; 3. times 1 / sum
            (local.set $inv (f32.div (f32.const 1) (local.get $sum)))
            (local.set $iv (f32x4.splat (local.get $inv)))
            (local.set $o (local.get $out))
            (local.set $j (i32.const 0))
            (block $s_done
              (loop $scale
                (br_if $s_done (i32.ge_u (local.get $j) (local.get $n4)))
                (v128.store (local.get $o) (f32x4.mul (v128.load (local.get $o)) (local.get $iv)))
                (local.set $o (i32.add (local.get $o) (i32.const 16)))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $scale)))
            (block $st_done
              (loop $scale_tail
                (br_if $st_done (i32.ge_u (local.get $j) (local.get $n)))
                (f32.store (local.get $o) (f32.mul (f32.load (local.get $o)) (local.get $inv)))
                (local.set $o (i32.add (local.get $o) (i32.const 4)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $scale_tail)))))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

;; out = x + y for `rows` rows of `cols` floats: y of x's shape, or (broadcast 1) one row
  ;; [cols] added to every row. One float32 add per value, as tfjs's Add (the same values).
  (func $add_rows (export "add_rows") (param $x i32) (param $y i32) (param $out i32) (param $rows i32) (param $cols i32) (param $broadcast i32)
    (local $yr i32) (local $end i32) (local $end4 i32)
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.eqz (local.get $rows)))
        (local.set $yr (local.get $y))
        (local.set $end (i32.add (local.get $x) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $end4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $cols) (i32.const -4)) (i32.const 2))))
        (block $v_done
          (loop $v
            (br_if $v_done (i32.ge_u (local.get $x) (local.get $end4)))
            (v128.store (local.get $out) (f32x4.add (v128.load (local.get $x)) (v128.load (local.get $yr))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $yr (i32.add (local.get $yr) (i32.const 16)))
            (local.set $out (i32.add (local.get $out) (i32.const 16)))
            (br $v)))
        (block $t_done
          (loop $t
            (br_if $t_done (i32.ge_u (local.get $x) (local.get $end)))
            (f32.store (local.get $out) (f32.add (f32.load (local.get $x)) (f32.load (local.get $yr))))
            (local.set $x (i32.add (local.get $x) (i32.const 4)))
            (local.set $yr (i32.add (local.get $yr) (i32.const 4)))
            (local.set $out (i32.add (local.get $out) (i32.const 4)))
            (br $t)))
        ;; the next row of y, or (broadcast) the same row again
        (if (i32.eqz (local.get $broadcast)) (then (local.set $y (local.get $yr))))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; out [cols, rows] = transpose of x [rows, cols]: 4 x 4 blocks moved by shuffles, in
  ;; strips of 64 columns so that the 64 output rows being filled stay in the L1 cache.
  (func (export "transpose2d") (param $x i32) (param $out i32) (param $rows i32) (param $cols i32)
    (local $rows4 i32) (local $cols4 i32) (local $jb i32) (local $jend i32) (local $i i32) (local $j i32)
    (local $src i32) (local $dst i32) (local $rs i32) (local $cs i32)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local $ab0 v128) (local $ab1 v128) (local $cd0 v128) (local $cd1 v128)
    (local.set $rows4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $cols4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $rs (i32.shl (local.get $cols) (i32.const 2))) ;; bytes per input row
    (local.set $cs (i32.shl (local.get $rows) (i32.const 2))) ;; bytes per output row
    (local.set $jb (i32.const 0))
    (block $strips_done
      (loop $strip
        (br_if $strips_done (i32.ge_u (local.get $jb) (local.get $cols4)))
        (local.set $jend (i32.add (local.get $jb) (i32.const 64)))
        (if (i32.gt_u (local.get $jend) (local.get $cols4)) (then (local.set $jend (local.get $cols4))))
        (local.set $i (i32.const 0))
        (block $i_done
          (loop $each_i
            (br_if $i_done (i32.ge_u (local.get $i) (local.get $rows4)))
            (local.set $j (local.get $jb))
            (block $j_done
              (loop $each_j
                (br_if $j_done (i32.ge_u (local.get $j) (local.get $jend)))
                (local.set $src (i32.add (local.get $x)
                  (i32.shl (i32.add (i32.mul (local.get $i) (local.get $cols)) (local.get $j)) (i32.const 2))))
                (local.set $a (v128.load (local.get $src)))
                (local.set $b (v128.load (i32.add (local.get $src) (local.get $rs))))
                (local.set $c (v128.load (i32.add (local.get $src) (i32.shl (local.get $rs) (i32.const 1)))))
                (local.set $d (v128.load (i32.add (local.get $src) (i32.mul (local.get $rs) (i32.const 3)))))
                ;; (a0 b0 a1 b1) (a2 b2 a3 b3) (c0 d0 c1 d1) (c2 d2 c3 d3)
                (local.set $ab0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b)))
                (local.set $ab1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b)))
                (local.set $cd0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c) (local.get $d)))
                (local.set $cd1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c) (local.get $d)))
                (local.set $dst (i32.add (local.get $out)
                  (i32.shl (i32.add (i32.mul (local.get $j) (local.get $rows)) (local.get $i)) (i32.const 2))))
                (v128.store (local.get $dst)
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ab0) (local.get $cd0)))
                (v128.store (i32.add (local.get $dst) (local.get $cs))
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ab0) (local.get $cd0)))
                (v128.store (i32.add (local.get $dst) (i32.shl (local.get $cs) (i32.const 1)))
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ab1) (local.get $cd1)))
                (v128.store (i32.add (local.get $dst) (i32.mul (local.get $cs) (i32.const 3)))
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ab1) (local.get $cd1)))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $each_j)))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $each_i)))
        (local.set $jb (local.get $jend))
        (br $strip)))
    ;; the columns past cols4 of the first rows4 rows, then the rows past rows4
    (call $transpose_scalar (local.get $x) (local.get $out) (local.get $rows) (local.get $cols)
      (i32.const 0) (local.get $rows4) (local.get $cols4) (local.get $cols))
    (call $transpose_scalar (local.get $x) (local.get $out) (local.get $rows) (local.get $cols)
      (local.get $rows4) (local.get $rows) (i32.const 0) (local.get $cols)))

  ;; out[j, i] = x[i, j] for i in [i0, i1), j in [j0, j1)
  (func $transpose_scalar (param $x i32) (param $out i32) (param $rows i32) (param $cols i32)
    (param $i0 i32) (param $i1 i32) (param $j0 i32) (param $j1 i32)
    (local $i i32) (local $j i32)
    (local.set $i (local.get $i0))
    (block $i_done
      (loop $each_i
        (br_if $i_done (i32.ge_u (local.get $i) (local.get $i1)))
        (local.set $j (local.get $j0))
        (block $j_done
          (loop $each_j
            (br_if $j_done (i32.ge_u (local.get $j) (local.get $j1)))
            (f32.store
              (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $j) (local.get $rows)) (local.get $i)) (i32.const 2)))
              (f32.load (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $cols)) (local.get $j)) (i32.const 2)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $each_j)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each_i))))

  ;; Layer norm of each row of x [rows, cols] over its cols values, as layer_norm.ts computes
  ;; it: mean, centred values, biased variance of those, then
  ;; out = ((x - mean) * (1 / sqrt(var + eps))) * weight + bias.
  (func $layer_norm (export "layer_norm") (param $x i32) (param $weight i32) (param $bias i32) (param $out i32)
    (param $rows i32) (param $cols i32) (param $eps f32)
    (local $cols4 i32) (local $j i32) (local $acc v128) (local $sum f32) (local $mean f32) (local $rstd f32)
    (local $d f32) (local $mv v128) (local $rv v128) (local $inv f32)
    (local.set $cols4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $inv (f32.div (f32.const 1) (f32.convert_i32_u (local.get $cols))))
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.eqz (local.get $rows)))
        ;; mean
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $s_done
          (loop $s
            (br_if $s_done (i32.ge_u (local.get $j) (local.get $cols4)))
            (local.set $acc (f32x4.add (local.get $acc) (v128.load (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $s)))
        (local.set $sum (call $hsum (local.get $acc)))
        (block $st_done
          (loop $st
            (br_if $st_done (i32.ge_u (local.get $j) (local.get $cols)))
            (local.set $sum (f32.add (local.get $sum) (f32.load (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $st)))
        (local.set $mean (f32.mul (local.get $sum) (local.get $inv)))
        (local.set $mv (f32x4.splat (local.get $mean)))
        ;; biased variance of the centred values
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $v_done
          (loop $v
            (br_if $v_done (i32.ge_u (local.get $j) (local.get $cols4)))
            (local.set $rv (f32x4.sub (v128.load (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2)))) (local.get $mv)))
            (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $rv) (local.get $rv))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $v)))
        (local.set $sum (call $hsum (local.get $acc)))
        (block $vt_done
          (loop $vt
            (br_if $vt_done (i32.ge_u (local.get $j) (local.get $cols)))
            (local.set $d (f32.sub (f32.load (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2)))) (local.get $mean)))
            (local.set $sum (f32.add (local.get $sum) (f32.mul (local.get $d) (local.get $d))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $vt)))
        (local.set $rstd (f32.div (f32.const 1) (f32.sqrt (f32.add (f32.mul (local.get $sum) (local.get $inv)) (local.get $eps)))))
        (local.set $rv (f32x4.splat (local.get $rstd)))
        ;; normalise, scale, shift
        (local.set $j (i32.const 0))
        (block $n_done
          (loop $n
            (br_if $n_done (i32.ge_u (local.get $j) (local.get $cols4)))
            (v128.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
              (f32x4.add
                (f32x4.mul
                  (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2)))) (local.get $mv)) (local.get $rv))
                  (v128.load (i32.add (local.get $weight) (i32.shl (local.get $j) (i32.const 2)))))
                (v128.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $n)))
        (block $nt_done
          (loop $nt
            (br_if $nt_done (i32.ge_u (local.get $j) (local.get $cols)))
            (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
              (f32.add
                (f32.mul
                  (f32.mul (f32.sub (f32.load (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2)))) (local.get $mean)) (local.get $rstd))
                  (f32.load (i32.add (local.get $weight) (i32.shl (local.get $j) (i32.const 2)))))
                (f32.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $nt)))
        (local.set $x (i32.add (local.get $x) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; out = layer_norm(x + y) for `rows` rows of `cols` floats (y of x's shape): each row's sum
  ;; written to out, then normalised there in place by "layer_norm" (which reads each value
  ;; before it writes it). The values of add_rows then layer_norm, with one pass over memory
  ;; fewer: the row stays in cache between the two.
  (func (export "add_layer_norm") (param $x i32) (param $y i32) (param $weight i32) (param $bias i32) (param $out i32)
    (param $rows i32) (param $cols i32) (param $eps f32)
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.eqz (local.get $rows)))
        (call $add_rows (local.get $x) (local.get $y) (local.get $out) (i32.const 1) (local.get $cols) (i32.const 0))
        (call $layer_norm (local.get $out) (local.get $weight) (local.get $bias) (local.get $out) (i32.const 1) (local.get $cols) (local.get $eps))
        (local.set $x (i32.add (local.get $x) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $y (i32.add (local.get $y) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; C[i, j] = sum over k of A[i, k] * B[k, j] for `batch` row-major products A [m, k] x
  ;; B [k, n] -> C [m, n], stored one after another: the attention of SAM's windows, 25
  ;; small products per head that tfjs-wasm would run as separate ops. Each output sums its
  ;; k products in order, in float32. Strips of 6 rows in tiles of 6 x 8 columns (6 x 4 at a
  ;; column remainder of 4 or more), of the rows left a strip of 4 the same way (4 x 8, 4 x
  ;; 4), and plain loops for the last rows and columns. 6-row strips against 4 (a head's 25
  ;; windows, [196, 64] x [64, 196] and [196, 196] x [196, 64], one thread on a bare memory,
  ;; alternating, two runs of 60 each): fused 38.6 / 36.3 and 37.4 / 35.1 against 34.2 / 32.4
  ;; and 31.9 / 30.4 GFLOP/s best / median (21.5 / 20.0 and 21.5 / 20.3 against 19.9 / 18.7
  ;; and 20.1 / 18.6 in a slower phase of this machine); unfused the same within the noise.
  ;; Through tfjs on 2 threads (SamBatchMatMul, best of 40, runs alternately): fused q kᵀ
  ;; 1.57-1.60 against 1.85-1.92 ms and p v 1.61-1.67 against 1.97-2.02 ms (3 runs); unfused
  ;; 2.16-2.23 against 2.27-2.92 ms and 2.22-2.30 against 2.40-3.13 ms (2 runs).
  (func (export "gemm_batched") (param $a i32) (param $b i32) (param $c i32) (param $batch i32)
    (param $m i32) (param $n i32) (param $k i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $batch)))
        (call $gemm (local.get $a) (local.get $b) (local.get $c) (local.get $m) (local.get $n) (local.get $k))
        (local.set $a (i32.add (local.get $a) (i32.shl (i32.mul (local.get $m) (local.get $k)) (i32.const 2))))
        (local.set $b (i32.add (local.get $b) (i32.shl (i32.mul (local.get $k) (local.get $n)) (i32.const 2))))
        (local.set $c (i32.add (local.get $c) (i32.shl (i32.mul (local.get $m) (local.get $n)) (i32.const 2))))
        (local.set $batch (i32.sub (local.get $batch) (i32.const 1)))
        (br $next))))

  (func $gemm (param $a i32) (param $b i32) (param $c i32) (param $m i32) (param $n i32) (param $k i32)
    (local $lda i32) (local $ldb i32) (local $m6 i32) (local $m4 i32) (local $n8 i32) (local $n4 i32) (local $i i32) (local $j i32)
    (local $arow i32) (local $crow i32)
    (local.set $lda (i32.shl (local.get $k) (i32.const 2)))
    (local.set $ldb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $m6 (i32.mul (i32.div_u (local.get $m) (i32.const 6)) (i32.const 6)))
    (local.set $m4 (i32.add (local.get $m6) (i32.and (i32.sub (local.get $m) (local.get $m6)) (i32.const -4))))
    (local.set $n8 (i32.and (local.get $n) (i32.const -8)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $i (i32.const 0))
    ;; strips of 6 rows, then (of the 0-5 rows left) one of 4
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $m4)))
        (local.set $arow (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))))
        (local.set $crow (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldb))))
        (local.set $j (i32.const 0))
        (if (i32.lt_u (local.get $i) (local.get $m6))
          (then
            (block $cols6_done
              (loop $cols6
                (br_if $cols6_done (i32.ge_u (local.get $j) (local.get $n8)))
                (call $tile6x8 (local.get $arow) (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
                  (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))) (local.get $k) (local.get $lda) (local.get $ldb) (local.get $ldb))
                (local.set $j (i32.add (local.get $j) (i32.const 8)))
                (br $cols6)))
            (if (i32.lt_u (local.get $j) (local.get $n4))
              (then
                (call $tile6x4 (local.get $arow) (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
                  (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))) (local.get $k) (local.get $lda) (local.get $ldb) (local.get $ldb))))
            (call $gemm_scalar (local.get $a) (local.get $b) (local.get $c) (local.get $n) (local.get $k)
              (local.get $i) (i32.add (local.get $i) (i32.const 6)) (local.get $n4) (local.get $n))
            (local.set $i (i32.add (local.get $i) (i32.const 6)))
            (br $rows)))
        (block $cols_done
          (loop $cols
            (br_if $cols_done (i32.ge_u (local.get $j) (local.get $n8)))
            (call $tile4x8 (local.get $arow) (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
              (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))) (local.get $k) (local.get $lda) (local.get $ldb) (local.get $ldb))
            (local.set $j (i32.add (local.get $j) (i32.const 8)))
            (br $cols)))
        (if (i32.lt_u (local.get $j) (local.get $n4))
          (then
            (call $tile4x4 (local.get $arow) (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
              (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))) (local.get $k) (local.get $lda) (local.get $ldb) (local.get $ldb))))
        (call $gemm_scalar (local.get $a) (local.get $b) (local.get $c) (local.get $n) (local.get $k)
          (local.get $i) (i32.add (local.get $i) (i32.const 4)) (local.get $n4) (local.get $n))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $rows)))
    (call $gemm_scalar (local.get $a) (local.get $b) (local.get $c) (local.get $n) (local.get $k)
      (local.get $m4) (local.get $m) (i32.const 0) (local.get $n)))

  ;; C[i, j] for i in [i0, i1), j in [j0, j1), one product at a time
  (func $gemm_scalar (param $a i32) (param $b i32) (param $c i32) (param $n i32) (param $k i32)
    (param $i0 i32) (param $i1 i32) (param $j0 i32) (param $j1 i32)
    (local $j i32) (local $kk i32) (local $acc f32) (local $pa i32) (local $pb i32)
    (block $i_done
      (loop $each_i
        (br_if $i_done (i32.ge_u (local.get $i0) (local.get $i1)))
        (local.set $j (local.get $j0))
        (block $j_done
          (loop $each_j
            (br_if $j_done (i32.ge_u (local.get $j) (local.get $j1)))
            (local.set $acc (f32.const 0))
            (local.set $pa (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i0) (local.get $k)) (i32.const 2))))
            (local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $kk (local.get $k))
            (block $k_done
              (loop $each_k
                (br_if $k_done (i32.eqz (local.get $kk)))
                (local.set $acc (f32.add (local.get $acc) (f32.mul (f32.load (local.get $pa)) (f32.load (local.get $pb)))))
                (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
                (local.set $pb (i32.add (local.get $pb) (i32.shl (local.get $n) (i32.const 2))))
                (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
                (br $each_k)))
            (f32.store (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i0) (local.get $n)) (local.get $j)) (i32.const 2)))
              (local.get $acc))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $each_j)))
        (local.set $i0 (i32.add (local.get $i0) (i32.const 1)))
        (br $each_i))))

  ;; C tile of 6 rows x 8 columns: sum over k of A[r, k] * B[k, cols], k in order (A's rows
  ;; read in place through 6 pointers; 12 accumulators, as gemm_packed's packed tile).
  (func $tile6x8 (param $a i32) (param $b i32) (param $c i32) (param $k i32) (param $lda i32) (param $ldb i32) (param $ldc i32)
    (local $end i32) (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $a4 i32) (local $a5 i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128) (local $c40 v128) (local $c41 v128) (local $c50 v128) (local $c51 v128) (local $b0 v128) (local $b1 v128) (local $s v128)
    (local.set $a1 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 1))))
    (local.set $a2 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 2))))
    (local.set $a3 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 3))))
    (local.set $a4 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 4))))
    (local.set $a5 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 5))))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $k) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $b0 (v128.load offset=0 (local.get $b)))
        (local.set $b1 (v128.load offset=16 (local.get $b)))
        (local.set $s (v128.load32_splat (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat (local.get $a1)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat (local.get $a2)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat (local.get $a3)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat (local.get $a4)))
        (local.set $c40 (f32x4.add (local.get $c40) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c41 (f32x4.add (local.get $c41) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat (local.get $a5)))
        (local.set $c50 (f32x4.add (local.get $c50) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c51 (f32x4.add (local.get $c51) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
        (local.set $a2 (i32.add (local.get $a2) (i32.const 4)))
        (local.set $a3 (i32.add (local.get $a3) (i32.const 4)))
        (local.set $a4 (i32.add (local.get $a4) (i32.const 4)))
        (local.set $a5 (i32.add (local.get $a5) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (local.get $ldb)))
        (br $next)))
    (v128.store offset=0 (local.get $c) (local.get $c00))
    (v128.store offset=16 (local.get $c) (local.get $c01))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c10))
    (v128.store offset=16 (local.get $c) (local.get $c11))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c20))
    (v128.store offset=16 (local.get $c) (local.get $c21))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c30))
    (v128.store offset=16 (local.get $c) (local.get $c31))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c40))
    (v128.store offset=16 (local.get $c) (local.get $c41))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c50))
    (v128.store offset=16 (local.get $c) (local.get $c51)))
  ;; C tile of 6 rows x 4 columns, the same way.
  (func $tile6x4 (param $a i32) (param $b i32) (param $c i32) (param $k i32) (param $lda i32) (param $ldb i32) (param $ldc i32)
    (local $end i32) (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $a4 i32) (local $a5 i32)
    (local $c00 v128) (local $c10 v128) (local $c20 v128) (local $c30 v128) (local $c40 v128) (local $c50 v128) (local $b0 v128) (local $s v128)
    (local.set $a1 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 1))))
    (local.set $a2 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 2))))
    (local.set $a3 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 3))))
    (local.set $a4 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 4))))
    (local.set $a5 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 5))))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $k) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $b0 (v128.load offset=0 (local.get $b)))
        (local.set $s (v128.load32_splat (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $s (v128.load32_splat (local.get $a1)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $s (v128.load32_splat (local.get $a2)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $s (v128.load32_splat (local.get $a3)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $s (v128.load32_splat (local.get $a4)))
        (local.set $c40 (f32x4.add (local.get $c40) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $s (v128.load32_splat (local.get $a5)))
        (local.set $c50 (f32x4.add (local.get $c50) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
        (local.set $a2 (i32.add (local.get $a2) (i32.const 4)))
        (local.set $a3 (i32.add (local.get $a3) (i32.const 4)))
        (local.set $a4 (i32.add (local.get $a4) (i32.const 4)))
        (local.set $a5 (i32.add (local.get $a5) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (local.get $ldb)))
        (br $next)))
    (v128.store offset=0 (local.get $c) (local.get $c00))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c10))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c20))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c30))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c40))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c50)))

  ;; C tile of 4 rows x 8 columns: sum over k of A[r, k] * B[k, cols], k in order.
  (func $tile4x8 (param $a i32) (param $b i32) (param $c i32) (param $k i32) (param $lda i32) (param $ldb i32) (param $ldc i32)
    (local $end i32) (local $a1 i32) (local $a2 i32) (local $a3 i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128) (local $b0 v128) (local $b1 v128) (local $s v128)
    (local.set $a1 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 1))))
    (local.set $a2 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 2))))
    (local.set $a3 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 3))))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $k) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $b0 (v128.load offset=0 (local.get $b)))
        (local.set $b1 (v128.load offset=16 (local.get $b)))
        (local.set $s (v128.load32_splat (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat (local.get $a1)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat (local.get $a2)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat (local.get $a3)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
        (local.set $a2 (i32.add (local.get $a2) (i32.const 4)))
        (local.set $a3 (i32.add (local.get $a3) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (local.get $ldb)))
        (br $next)))
    (v128.store offset=0 (local.get $c) (local.get $c00))
    (v128.store offset=16 (local.get $c) (local.get $c01))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c10))
    (v128.store offset=16 (local.get $c) (local.get $c11))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c20))
    (v128.store offset=16 (local.get $c) (local.get $c21))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c30))
    (v128.store offset=16 (local.get $c) (local.get $c31)))

  ;; C tile of 4 rows x 4 columns: sum over k of A[r, k] * B[k, cols], k in order.
  (func $tile4x4 (param $a i32) (param $b i32) (param $c i32) (param $k i32) (param $lda i32) (param $ldb i32) (param $ldc i32)
    (local $end i32) (local $a1 i32) (local $a2 i32) (local $a3 i32)
    (local $c00 v128) (local $c10 v128) (local $c20 v128) (local $c30 v128) (local $b0 v128) (local $s v128)
    (local.set $a1 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 1))))
    (local.set $a2 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 2))))
    (local.set $a3 (i32.add (local.get $a) (i32.mul (local.get $lda) (i32.const 3))))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $k) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $b0 (v128.load offset=0 (local.get $b)))
        (local.set $s (v128.load32_splat (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $s (v128.load32_splat (local.get $a1)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $s (v128.load32_splat (local.get $a2)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $s (v128.load32_splat (local.get $a3)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
        (local.set $a2 (i32.add (local.get $a2) (i32.const 4)))
        (local.set $a3 (i32.add (local.get $a3) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (local.get $ldb)))
        (br $next)))
    (v128.store offset=0 (local.get $c) (local.get $c00))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c10))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c20))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c30)))

  ;; C[i, :] = bias + A[i, :] B for the rows i in [i0, i1) of a [m, k] x [k, n] product, B
  ;; packed in panels of 8 columns ([n / 8][k][8], see pack_b / pack_bt; n a multiple of 8).
  ;; The rows go in blocks of mc, so that a block of A stays in cache while every panel passes
  ;; over it, and a panel (k x 32 bytes) stays in L1 across the block. Each output starts
  ;; from its bias (0 without one) and adds its k products in order, as XNNPACK does: the
  ;; values are those of tfjs-wasm's matMul, bit for bit (in the fused variant that
  ;; build_wasm_kernels.ts makes, the in-order fused sums). Threads claim blocks of rows.
  ;;
  ;; With `scratch` (this thread's own, mc x k floats; 0: none), a block's rows go in tiles of
  ;; 6, each first copied to scratch as [k][6] (pack_a6), so that the inner loop reads A
  ;; through one pointer: 6 x 8 outputs from 2 loads of B, 6 splats and 12 multiply-adds a
  ;; step, against 4 x 8 from 4 pointers. With fused multiply-adds that is 10-20% faster on
  ;; every shape of the model; unfused, the 6 x 8 tile leaves V8 too few registers for the
  ;; separate multiply and add and is a few % slower, so the caller gives no scratch there
  ;; (numbers at aScratchFor in wasm_kernels.ts). The rows left over (fewer than 6) and
  ;; products without scratch take the 4 x 8 and 1 x 8 panels straight from A. The values
  ;; are the same either way: the same products, in order.
  ;;
  ;; C's columns may be stored in groups of $gw (a multiple of 8 that divides n): group g,
  ;; columns [g gw, (g + 1) gw), is a [m, gw] matrix at c + g slab (a head's q, k or v taken
  ;; from one product of every head). With gw = n, C is the plain [m, n] matrix.
  (func (export "gemm_packed") (param $a i32) (param $bp i32) (param $bias i32) (param $has_bias i32)
    (param $c i32) (param $i0 i32) (param $i1 i32) (param $n i32) (param $k i32) (param $mc i32) (param $scratch i32)
    (param $gw i32) (param $slab i32)
    (local $lda i32) (local $ldc i32) (local $blk_end i32) (local $j i32) (local $i i32) (local $panel i32)
    (local $tiles i32) (local $t i32) (local $tile_bytes i32) (local $rest i32) (local $cj i32)
    (local $bias0 v128) (local $bias1 v128)
    (local.set $lda (i32.shl (local.get $k) (i32.const 2)))
    (local.set $ldc (i32.shl (local.get $gw) (i32.const 2)))
    (local.set $tile_bytes (i32.mul (local.get $lda) (i32.const 6)))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $i0) (local.get $i1)))
        (local.set $blk_end (i32.add (local.get $i0) (local.get $mc)))
        (if (i32.gt_u (local.get $blk_end) (local.get $i1)) (then (local.set $blk_end (local.get $i1))))
        ;; the block's tiles of 6 rows, packed
        (local.set $tiles (i32.const 0))
        (if (local.get $scratch)
          (then
            (local.set $tiles (i32.div_u (i32.sub (local.get $blk_end) (local.get $i0)) (i32.const 6)))
            (local.set $t (i32.const 0))
            (block $packed
              (loop $pack
                (br_if $packed (i32.ge_u (local.get $t) (local.get $tiles)))
                (call $pack_a6
                  (i32.add (local.get $a) (i32.mul (i32.add (local.get $i0) (i32.mul (local.get $t) (i32.const 6))) (local.get $lda)))
                  (local.get $lda) (i32.add (local.get $scratch) (i32.mul (local.get $t) (local.get $tile_bytes))) (local.get $k))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $pack)))))
        (local.set $rest (i32.add (local.get $i0) (i32.mul (local.get $tiles) (i32.const 6))))
        (local.set $j (i32.const 0))
        (block $panels_done
          (loop $panels
            (br_if $panels_done (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $panel (i32.add (local.get $bp) (i32.mul (local.get $j) (local.get $lda))))
            ;; column j of C: in group j / gw, at column j % gw of it
            (local.set $cj (i32.add (local.get $c) (i32.add (i32.mul (i32.div_u (local.get $j) (local.get $gw)) (local.get $slab))
              (i32.shl (i32.rem_u (local.get $j) (local.get $gw)) (i32.const 2)))))
            (if (local.get $has_bias)
              (then
                (local.set $bias0 (v128.load offset=0 (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))
                (local.set $bias1 (v128.load offset=16 (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))))
            (local.set $t (i32.const 0))
            (block $tiles_done
              (loop $each_tile
                (br_if $tiles_done (i32.ge_u (local.get $t) (local.get $tiles)))
                (call $panel6x8
                  (i32.add (local.get $scratch) (i32.mul (local.get $t) (local.get $tile_bytes))) (local.get $panel)
                  (i32.add (local.get $cj) (i32.mul (i32.add (local.get $i0) (i32.mul (local.get $t) (i32.const 6))) (local.get $ldc)))
                  (local.get $ldc) (local.get $k) (local.get $bias0) (local.get $bias1))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $each_tile)))
            (local.set $i (local.get $rest))
            (block $quads_done
              (loop $quads
                (br_if $quads_done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $blk_end)))
                (call $panel4x8
                  (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))) (local.get $lda) (local.get $panel)
                  (i32.add (local.get $cj) (i32.mul (local.get $i) (local.get $ldc)))
                  (local.get $ldc) (local.get $k) (local.get $bias0) (local.get $bias1))
                (local.set $i (i32.add (local.get $i) (i32.const 4)))
                (br $quads)))
            (block $rows_done
              (loop $rows
                (br_if $rows_done (i32.ge_u (local.get $i) (local.get $blk_end)))
                (call $panel1x8
                  (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))) (local.get $panel)
                  (i32.add (local.get $cj) (i32.mul (local.get $i) (local.get $ldc)))
                  (local.get $k) (local.get $bias0) (local.get $bias1))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $rows)))
            (local.set $j (i32.add (local.get $j) (i32.const 8)))
            (br $panels)))
        (local.set $i0 (local.get $blk_end))
        (br $blocks))))

  ;; 6 rows of A (a, a + lda, ... a + 5 lda) -> [k][6] at dst: 4 columns at a time through a
  ;; 4 x 4 transpose of the first 4 rows and the last 2 interleaved, the rest one by one.
  (func $pack_a6 (param $a i32) (param $lda i32) (param $dst i32) (param $k i32)
    (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $a4 i32) (local $a5 i32) (local $end4 i32) (local $end i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $v4 v128) (local $v5 v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $t1 v128) (local $t3 v128)
    (local.set $a1 (i32.add (local.get $a) (local.get $lda)))
    (local.set $a2 (i32.add (local.get $a1) (local.get $lda)))
    (local.set $a3 (i32.add (local.get $a2) (local.get $lda)))
    (local.set $a4 (i32.add (local.get $a3) (local.get $lda)))
    (local.set $a5 (i32.add (local.get $a4) (local.get $lda)))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $k) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $a) (i32.shl (i32.and (local.get $k) (i32.const -4)) (i32.const 2))))
    (block $done4
      (loop $by4
        (br_if $done4 (i32.ge_u (local.get $a) (local.get $end4)))
        (local.set $v0 (v128.load (local.get $a)))
        (local.set $v1 (v128.load (local.get $a1)))
        (local.set $v2 (v128.load (local.get $a2)))
        (local.set $v3 (v128.load (local.get $a3)))
        (local.set $v4 (v128.load (local.get $a4)))
        (local.set $v5 (v128.load (local.get $a5)))
        ;; s0 = [v0_0 v1_0 v0_1 v1_1], s1 = [v0_2 v1_2 v0_3 v1_3], s2 and s3 the same of v2, v3
        (local.set $s0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
        (local.set $s1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
        (local.set $s2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
        (local.set $s3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
        ;; v4 = [v4_0 v5_0 v4_1 v5_1], v5 = [v4_2 v5_2 v4_3 v5_3]
        (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v4) (local.get $v5)))
        (local.set $v5 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v4) (local.get $v5)))
        (local.set $v4 (local.get $t1))
        ;; column 0 of rows 0-3, then of rows 4-5 with column 1 of rows 0-1, and so on
        (v128.store offset=0 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s0) (local.get $s2)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s0) (local.get $s2)))
        (v128.store offset=16 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $v4) (local.get $t1)))
        (v128.store offset=32 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $v4)))
        (v128.store offset=48 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s1) (local.get $s3)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s1) (local.get $s3)))
        (v128.store offset=64 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $v5) (local.get $t3)))
        (v128.store offset=80 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t3) (local.get $v5)))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $a1 (i32.add (local.get $a1) (i32.const 16)))
        (local.set $a2 (i32.add (local.get $a2) (i32.const 16)))
        (local.set $a3 (i32.add (local.get $a3) (i32.const 16)))
        (local.set $a4 (i32.add (local.get $a4) (i32.const 16)))
        (local.set $a5 (i32.add (local.get $a5) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 96)))
        (br $by4)))
    (block $done
      (loop $by1
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (f32.store offset=0 (local.get $dst) (f32.load (local.get $a)))
        (f32.store offset=4 (local.get $dst) (f32.load (local.get $a1)))
        (f32.store offset=8 (local.get $dst) (f32.load (local.get $a2)))
        (f32.store offset=12 (local.get $dst) (f32.load (local.get $a3)))
        (f32.store offset=16 (local.get $dst) (f32.load (local.get $a4)))
        (f32.store offset=20 (local.get $dst) (f32.load (local.get $a5)))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
        (local.set $a2 (i32.add (local.get $a2) (i32.const 4)))
        (local.set $a3 (i32.add (local.get $a3) (i32.const 4)))
        (local.set $a4 (i32.add (local.get $a4) (i32.const 4)))
        (local.set $a5 (i32.add (local.get $a5) (i32.const 4)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 24)))
        (br $by1))))

  ;; 6 rows x 8 columns of C from a tile of A packed by pack_a6 ([k][6] at pa) and a packed
  ;; panel: the accumulators start at the bias.
  (func $panel6x8 (param $pa i32) (param $p i32) (param $c i32) (param $ldc i32) (param $k i32) (param $c00 v128) (param $c01 v128)
    (local $end i32) (local $b0 v128) (local $b1 v128) (local $s v128)
    (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $c40 v128) (local $c41 v128) (local $c50 v128) (local $c51 v128)
    (local.set $c10 (local.get $c00)) (local.set $c11 (local.get $c01))
    (local.set $c20 (local.get $c00)) (local.set $c21 (local.get $c01))
    (local.set $c30 (local.get $c00)) (local.set $c31 (local.get $c01))
    (local.set $c40 (local.get $c00)) (local.set $c41 (local.get $c01))
    (local.set $c50 (local.get $c00)) (local.set $c51 (local.get $c01))
    (local.set $end (i32.add (local.get $pa) (i32.mul (local.get $k) (i32.const 24))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $pa) (local.get $end)))
        (local.set $b0 (v128.load offset=0 (local.get $p)))
        (local.set $b1 (v128.load offset=16 (local.get $p)))
        (local.set $s (v128.load32_splat offset=0 (local.get $pa)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat offset=4 (local.get $pa)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat offset=8 (local.get $pa)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat offset=12 (local.get $pa)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat offset=16 (local.get $pa)))
        (local.set $c40 (f32x4.add (local.get $c40) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c41 (f32x4.add (local.get $c41) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat offset=20 (local.get $pa)))
        (local.set $c50 (f32x4.add (local.get $c50) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c51 (f32x4.add (local.get $c51) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (local.set $pa (i32.add (local.get $pa) (i32.const 24)))
        (br $next)))
    (v128.store offset=0 (local.get $c) (local.get $c00))
    (v128.store offset=16 (local.get $c) (local.get $c01))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c10))
    (v128.store offset=16 (local.get $c) (local.get $c11))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c20))
    (v128.store offset=16 (local.get $c) (local.get $c21))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c30))
    (v128.store offset=16 (local.get $c) (local.get $c31))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c40))
    (v128.store offset=16 (local.get $c) (local.get $c41))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c50))
    (v128.store offset=16 (local.get $c) (local.get $c51)))

  ;; 4 rows x 8 columns of C from a packed panel: the accumulators start at the bias.
  (func $panel4x8 (param $a i32) (param $lda i32) (param $p i32) (param $c i32) (param $ldc i32) (param $k i32)
    (param $c00 v128) (param $c01 v128)
    (local $end i32) (local $a1 i32) (local $a2 i32) (local $a3 i32)
    (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $s v128)
    (local.set $c10 (local.get $c00)) (local.set $c11 (local.get $c01))
    (local.set $c20 (local.get $c00)) (local.set $c21 (local.get $c01))
    (local.set $c30 (local.get $c00)) (local.set $c31 (local.get $c01))
    (local.set $a1 (i32.add (local.get $a) (local.get $lda)))
    (local.set $a2 (i32.add (local.get $a1) (local.get $lda)))
    (local.set $a3 (i32.add (local.get $a2) (local.get $lda)))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $k) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $b0 (v128.load offset=0 (local.get $p)))
        (local.set $b1 (v128.load offset=16 (local.get $p)))
        (local.set $s (v128.load32_splat (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat (local.get $a1)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat (local.get $a2)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $s (v128.load32_splat (local.get $a3)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $s) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $s) (local.get $b1))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
        (local.set $a2 (i32.add (local.get $a2) (i32.const 4)))
        (local.set $a3 (i32.add (local.get $a3) (i32.const 4)))
        (br $next)))
    (v128.store offset=0 (local.get $c) (local.get $c00))
    (v128.store offset=16 (local.get $c) (local.get $c01))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c10))
    (v128.store offset=16 (local.get $c) (local.get $c11))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c20))
    (v128.store offset=16 (local.get $c) (local.get $c21))
    (local.set $c (i32.add (local.get $c) (local.get $ldc)))
    (v128.store offset=0 (local.get $c) (local.get $c30))
    (v128.store offset=16 (local.get $c) (local.get $c31)))

  ;; 1 row x 8 columns of C from a packed panel (the rows left over from the blocks of 4).
  (func $panel1x8 (param $a i32) (param $p i32) (param $c i32) (param $k i32) (param $c00 v128) (param $c01 v128)
    (local $end i32) (local $s v128)
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $k) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $s (v128.load32_splat (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (v128.load offset=0 (local.get $p)))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (br $next)))
    (v128.store offset=0 (local.get $c) (local.get $c00))
    (v128.store offset=16 (local.get $c) (local.get $c01)))

  ;; B [k, n] -> panels of 8 columns [n / 8][k][8] (n a multiple of 8), for gemm_packed.
  (func (export "pack_b") (param $b i32) (param $out i32) (param $k i32) (param $n i32)
    (local $row_end i32) (local $dst i32) (local $stride i32) (local $end i32)
    (local.set $stride (i32.shl (local.get $k) (i32.const 5)))
    (local.set $end (i32.add (local.get $b) (i32.shl (i32.mul (local.get $k) (local.get $n)) (i32.const 2))))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $b) (local.get $end)))
        (local.set $row_end (i32.add (local.get $b) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $dst (local.get $out))
        (block $row_done
          (loop $panels
            (br_if $row_done (i32.ge_u (local.get $b) (local.get $row_end)))
            (v128.store offset=0 (local.get $dst) (v128.load offset=0 (local.get $b)))
            (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $b)))
            (local.set $b (i32.add (local.get $b) (i32.const 32)))
            (local.set $dst (i32.add (local.get $dst) (local.get $stride)))
            (br $panels)))
        (local.set $out (i32.add (local.get $out) (i32.const 32)))
        (br $rows))))

  ;; Bᵀ given as [n, k] -> the panels of B [k, n], [n / 8][k][8] (n a multiple of 8).
  (func (export "pack_bt") (param $bt i32) (param $out i32) (param $k i32) (param $n i32)
    (local $col i32) (local $dst i32) (local $src i32) (local $src_end i32) (local $lda i32)
    (local.set $lda (i32.shl (local.get $k) (i32.const 2)))
    (block $done
      (loop $cols
        (br_if $done (i32.ge_u (local.get $col) (local.get $n)))
        ;; column col of B is row col of Bᵀ: its k values go to panel col / 8, lane col % 8
        (local.set $src (i32.add (local.get $bt) (i32.mul (local.get $col) (local.get $lda))))
        (local.set $src_end (i32.add (local.get $src) (local.get $lda)))
        (local.set $dst (i32.add (local.get $out)
          (i32.add (i32.mul (i32.shr_u (local.get $col) (i32.const 3)) (i32.shl (local.get $lda) (i32.const 3)))
                   (i32.shl (i32.and (local.get $col) (i32.const 7)) (i32.const 2)))))
        (block $col_done
          (loop $each
            (br_if $col_done (i32.ge_u (local.get $src) (local.get $src_end)))
            (f32.store (local.get $dst) (f32.load (local.get $src)))
            (local.set $src (i32.add (local.get $src) (i32.const 4)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
            (br $each)))
        (local.set $col (i32.add (local.get $col) (i32.const 1)))
        (br $cols))))

  ;; Every head's scores from the heads' blocks of two row-sets, without the zeros of a
  ;; block-diagonal product: out[i, h n + c] = sum over j < hd of a[i, h hd + j] t[c, h hd + j]
  ;; for a [rows, d] (heads side by side, d = heads hd) and the short side t [n, d], given as
  ;; tp [heads, np / 8, hd, 8]: per head, groups of 8 columns (c = 8 g + e, zero past n), each
  ;; group's hd rows of 8 in a row. Each sum adds its hd products in order, as a product with
  ;; the block-diagonal matrix would (whose other products are exact zeros). Two rows at a
  ;; time, sharing the loads of tp; an odd last row is computed twice; 4 products of a sum
  ;; an iteration; a group of at most 4 columns (the last of n) takes one vector. A group's 8
  ;; values are stored whole where they end within the row (a later head overwrites what
  ;; passes its n), else value by value ($store_head).
  (func $head_scores (export "head_scores") (param $a i32) (param $tp i32) (param $out i32) (param $rows i32)
    (param $d i32) (param $hd i32) (param $heads i32) (param $n i32) (param $np i32)
    (local $i i32) (local $i1 i32) (local $h i32) (local $j i32) (local $col i32) (local $row_cols i32)
    (local $a0 i32) (local $a1 i32) (local $p i32) (local $o0 i32) (local $o1 i32)
    (local $s v128) (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local.set $row_cols (i32.mul (local.get $heads) (local.get $n)))
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $rows)))
        ;; rows i and i1 (i itself when i is the last)
        (local.set $i1 (i32.add (local.get $i) (i32.const 1)))
        (if (i32.ge_u (local.get $i1) (local.get $rows)) (then (local.set $i1 (local.get $i))))
        (local.set $h (i32.const 0))
        (block $heads_done
          (loop $head
            (br_if $heads_done (i32.ge_u (local.get $h) (local.get $heads)))
            ;; columns [col, col + 8) of head h's n, a group at a time; p: the group in tp
            (local.set $col (i32.const 0))
            (local.set $p (i32.add (local.get $tp) (i32.shl (i32.mul (i32.mul (local.get $h) (local.get $hd)) (local.get $np)) (i32.const 2))))
            (block $cols_done
              (loop $cols
                (br_if $cols_done (i32.ge_u (local.get $col) (local.get $n)))
                (local.set $a0 (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $d)) (i32.mul (local.get $h) (local.get $hd))) (i32.const 2))))
                (local.set $a1 (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $i1) (local.get $d)) (i32.mul (local.get $h) (local.get $hd))) (i32.const 2))))
                (local.set $c00 (v128.const i32x4 0 0 0 0))
                (local.set $c01 (v128.const i32x4 0 0 0 0))
                (local.set $c10 (v128.const i32x4 0 0 0 0))
                (local.set $c11 (v128.const i32x4 0 0 0 0))
                (local.set $j (local.get $hd))
                (if (i32.le_u (i32.sub (local.get $n) (local.get $col)) (i32.const 4))
                  (then
                    (block $k4_done
                      (loop $k4
                        (br_if $k4_done (i32.lt_u (local.get $j) (i32.const 4)))
                        (local.set $s (v128.load32_splat offset=0 (local.get $a0)))
                        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (v128.load offset=0 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=0 (local.get $a1)))
                        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (v128.load offset=0 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=4 (local.get $a0)))
                        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (v128.load offset=32 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=4 (local.get $a1)))
                        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (v128.load offset=32 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=8 (local.get $a0)))
                        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (v128.load offset=64 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=8 (local.get $a1)))
                        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (v128.load offset=64 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=12 (local.get $a0)))
                        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (v128.load offset=96 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=12 (local.get $a1)))
                        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (v128.load offset=96 (local.get $p)))))
                        (local.set $a0 (i32.add (local.get $a0) (i32.const 16)))
                        (local.set $a1 (i32.add (local.get $a1) (i32.const 16)))
                        (local.set $p (i32.add (local.get $p) (i32.const 128)))
                        (local.set $j (i32.sub (local.get $j) (i32.const 4)))
                        (br $k4)))
                    (block $r4_done
                      (loop $r4
                        (br_if $r4_done (i32.eqz (local.get $j)))
                        (local.set $s (v128.load32_splat offset=0 (local.get $a0)))
                        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (v128.load offset=0 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=0 (local.get $a1)))
                        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (v128.load offset=0 (local.get $p)))))
                        (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
                        (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
                        (local.set $p (i32.add (local.get $p) (i32.const 32)))
                        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
                        (br $r4))))
                  (else
                    (block $k8_done
                      (loop $k8
                        (br_if $k8_done (i32.lt_u (local.get $j) (i32.const 4)))
                        (local.set $s (v128.load32_splat offset=0 (local.get $a0)))
                        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (v128.load offset=0 (local.get $p)))))
                        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=0 (local.get $a1)))
                        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (v128.load offset=0 (local.get $p)))))
                        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=4 (local.get $a0)))
                        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (v128.load offset=32 (local.get $p)))))
                        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (v128.load offset=48 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=4 (local.get $a1)))
                        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (v128.load offset=32 (local.get $p)))))
                        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s) (v128.load offset=48 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=8 (local.get $a0)))
                        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (v128.load offset=64 (local.get $p)))))
                        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (v128.load offset=80 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=8 (local.get $a1)))
                        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (v128.load offset=64 (local.get $p)))))
                        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s) (v128.load offset=80 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=12 (local.get $a0)))
                        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (v128.load offset=96 (local.get $p)))))
                        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (v128.load offset=112 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=12 (local.get $a1)))
                        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (v128.load offset=96 (local.get $p)))))
                        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s) (v128.load offset=112 (local.get $p)))))
                        (local.set $a0 (i32.add (local.get $a0) (i32.const 16)))
                        (local.set $a1 (i32.add (local.get $a1) (i32.const 16)))
                        (local.set $p (i32.add (local.get $p) (i32.const 128)))
                        (local.set $j (i32.sub (local.get $j) (i32.const 4)))
                        (br $k8)))
                    (block $r8_done
                      (loop $r8
                        (br_if $r8_done (i32.eqz (local.get $j)))
                        (local.set $s (v128.load32_splat offset=0 (local.get $a0)))
                        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (v128.load offset=0 (local.get $p)))))
                        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $p)))))
                        (local.set $s (v128.load32_splat offset=0 (local.get $a1)))
                        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (v128.load offset=0 (local.get $p)))))
                        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $p)))))
                        (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
                        (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
                        (local.set $p (i32.add (local.get $p) (i32.const 32)))
                        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
                        (br $r8)))))
                ;; p is now at the next group. Row i1 first: when i1 = i, row i's store (the same values) comes last either way.
                (local.set $o1 (i32.add (i32.mul (local.get $i1) (local.get $row_cols)) (i32.add (i32.mul (local.get $h) (local.get $n)) (local.get $col))))
                (local.set $o0 (i32.add (i32.mul (local.get $i) (local.get $row_cols)) (i32.add (i32.mul (local.get $h) (local.get $n)) (local.get $col))))
                (call $store_head (i32.add (local.get $out) (i32.shl (local.get $o1) (i32.const 2))) (local.get $c10) (local.get $c11)
                  (i32.sub (local.get $n) (local.get $col)) (i32.sub (i32.mul (i32.add (local.get $i1) (i32.const 1)) (local.get $row_cols)) (local.get $o1)))
                (call $store_head (i32.add (local.get $out) (i32.shl (local.get $o0) (i32.const 2))) (local.get $c00) (local.get $c01)
                  (i32.sub (local.get $n) (local.get $col)) (i32.sub (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $row_cols)) (local.get $o0)))
                (local.set $col (i32.add (local.get $col) (i32.const 8)))
                (br $cols)))
            (local.set $h (i32.add (local.get $h) (i32.const 1)))
            (br $head)))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $row))))

  ;; Stores the first `m` (at least 1) of the 8 values v0, v1 at dst: all 8 where `room` (the
  ;; floats left in the row from dst) allows, else only m, one by one past the whole vectors.
  (func $store_head (param $dst i32) (param $v0 v128) (param $v1 v128) (param $m i32) (param $room i32)
    (if (i32.ge_u (local.get $room) (i32.const 8))
      (then
        (v128.store (local.get $dst) (local.get $v0))
        (v128.store offset=16 (local.get $dst) (local.get $v1))
        (return)))
    (if (i32.ge_u (local.get $m) (i32.const 4))
      (then
        (v128.store (local.get $dst) (local.get $v0))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $v0 (local.get $v1))
        (local.set $m (i32.sub (local.get $m) (i32.const 4)))))
    (if (i32.eqz (local.get $m)) (then (return)))
    (f32.store (local.get $dst) (f32x4.extract_lane 0 (local.get $v0)))
    (if (i32.lt_u (local.get $m) (i32.const 2)) (then (return)))
    (f32.store offset=4 (local.get $dst) (f32x4.extract_lane 1 (local.get $v0)))
    (if (i32.lt_u (local.get $m) (i32.const 3)) (then (return)))
    (f32.store offset=8 (local.get $dst) (f32x4.extract_lane 2 (local.get $v0))))

  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
)
