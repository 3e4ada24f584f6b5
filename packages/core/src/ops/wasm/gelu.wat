;; Exact GELU, y = 0.5·x·(1 + erf(x/√2)) (gelu.ts), float32, four lanes at a time. erf by Abramowitz and
;; Stegun 7.1.26 (|error| ≤ 1.5e-7; the formula of tfjs-cpu's Erf): for a = |u|, t = 1/(1 + p·a),
;; erf(a) = 1 − t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·e^(−a²), and erf(−a) = −erf(a). e^w by Cephes
;; expf (lib/expf-*.wat); where −a² < −87 it is 0 (erf is ±1 in float32 long before). NaN stays NaN,
;; +∞ gives +∞ and −∞ NaN, as the composite. Pointers in bytes (in and out may be the same); n a
;; multiple of 4 (the host rounds its chunk up and copies back only its values). The bytes in
;; gelu-wasm.ts are this file compiled (`pnpm --filter @dynavit/core gen:wasm`; a test checks they match).
(module
  (memory (export "memory") 1)

  (func (export "gelu") (param $x i32) (param $out i32) (param $n i32)
    (local $i i32) (local $end i32) (local $v v128) (local $a v128) (local $t v128) (local $q v128)
    (local $sign v128) (local $w v128) (local $jj v128) (local $k v128) (local $r v128) (local $r2 v128)
    (local $e v128) (local $cHalf v128) (local $cRsqrt2 v128) (local $cP v128) (local $cA1 v128)
    (local $cA2 v128) (local $cA3 v128) (local $cA4 v128) (local $cA5 v128) (local $cSignBit v128)
    ;;@include lib/expf-locals.wat
    ;;@include lib/expf-constants.wat
    (local.set $cHalf (v128.const f32x4 0.5 0.5 0.5 0.5))
    (local.set $cRsqrt2 (v128.const f32x4 0.70710678118654752 0.70710678118654752 0.70710678118654752 0.70710678118654752))
    (local.set $cP (v128.const f32x4 0.3275911 0.3275911 0.3275911 0.3275911))
    (local.set $cA1 (v128.const f32x4 0.254829592 0.254829592 0.254829592 0.254829592))
    (local.set $cA2 (v128.const f32x4 -0.284496736 -0.284496736 -0.284496736 -0.284496736))
    (local.set $cA3 (v128.const f32x4 1.421413741 1.421413741 1.421413741 1.421413741))
    (local.set $cA4 (v128.const f32x4 -1.453152027 -1.453152027 -1.453152027 -1.453152027))
    (local.set $cA5 (v128.const f32x4 1.061405429 1.061405429 1.061405429 1.061405429))
    (local.set $cSignBit (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $lanes
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $v (v128.load (i32.add (local.get $x) (local.get $i))))
        ;; u = x/√2: its sign, a = |u|, t = 1/(1 + p·a)
        (local.set $a (f32x4.mul (local.get $v) (local.get $cRsqrt2)))
        (local.set $sign (v128.and (local.get $a) (local.get $cSignBit)))
        (local.set $a (f32x4.abs (local.get $a)))
        (local.set $t (f32x4.div (local.get $one)
          (f32x4.add (local.get $one) (f32x4.mul (local.get $cP) (local.get $a)))))
        ;; the polynomial in t, by Horner
        (local.set $q (f32x4.add (local.get $cA4) (f32x4.mul (local.get $t) (local.get $cA5))))
        (local.set $q (f32x4.add (local.get $cA3) (f32x4.mul (local.get $t) (local.get $q))))
        (local.set $q (f32x4.add (local.get $cA2) (f32x4.mul (local.get $t) (local.get $q))))
        (local.set $q (f32x4.add (local.get $cA1) (f32x4.mul (local.get $t) (local.get $q))))
        (local.set $q (f32x4.mul (local.get $t) (local.get $q)))
        ;; e = e^(−a²), 0 below −87
        (local.set $w (f32x4.neg (f32x4.mul (local.get $a) (local.get $a))))
        ;;@include lib/expf-body.wat
        (local.set $e (v128.and (local.get $e) (f32x4.ge (local.get $w) (local.get $cMin))))
        ;; erf(u) = ±(1 − q·e); y = 0.5·x·(1 + erf)
        (local.set $e (v128.xor (local.get $sign)
          (f32x4.sub (local.get $one) (f32x4.mul (local.get $q) (local.get $e)))))
        (v128.store (i32.add (local.get $out) (local.get $i))
          (f32x4.mul (f32x4.mul (local.get $cHalf) (local.get $v)) (f32x4.add (local.get $one) (local.get $e))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $lanes)))))
