;; acc[c] += Σ_i x[i·xStep + c] · y[i·yStep + c] for c < C, i < count, float32, 128-bit SIMD over c:
;; the inner loop of a depthwise convolution's filter gradient (gradient-kernels.ts), where each call is
;; one run of output columns of one filter tap. The bytes in multiply-accumulate-wasm.ts are this file
;; compiled with wabt (`pnpm --filter @dynavit/core gen:wasm`; a test checks they match).
(module
  (memory (export "memory") 1)

  ;; acc, x, y: byte offsets; xStep, yStep: byte steps between the count positions; count, C ≥ 1
  (func (export "accumulate")
    (param $acc i32) (param $x i32) (param $y i32) (param $count i32) (param $C i32)
    (param $xStep i32) (param $yStep i32)
    (local $c i32) (local $c4 i32) (local $pa i32) (local $px i32) (local $py i32)
    (local.set $c4 (i32.and (local.get $C) (i32.const -4)))
    (loop $positions
      (local.set $pa (local.get $acc))
      (local.set $px (local.get $x))
      (local.set $py (local.get $y))
      (local.set $c (i32.const 0))
      ;; 4 channels at a time
      (block $done4
        (loop $ch4
          (br_if $done4 (i32.ge_u (local.get $c) (local.get $c4)))
          (v128.store (local.get $pa)
            (f32x4.add (v128.load (local.get $pa))
              (f32x4.mul (v128.load (local.get $px)) (v128.load (local.get $py)))))
          (local.set $pa (i32.add (local.get $pa) (i32.const 16)))
          (local.set $px (i32.add (local.get $px) (i32.const 16)))
          (local.set $py (i32.add (local.get $py) (i32.const 16)))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $ch4)))
      ;; then one at a time
      (block $done1
        (loop $ch1
          (br_if $done1 (i32.ge_u (local.get $c) (local.get $C)))
          (f32.store (local.get $pa)
            (f32.add (f32.load (local.get $pa)) (f32.mul (f32.load (local.get $px)) (f32.load (local.get $py)))))
          (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
          (local.set $px (i32.add (local.get $px) (i32.const 4)))
          (local.set $py (i32.add (local.get $py) (i32.const 4)))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $ch1)))
      (local.set $x (i32.add (local.get $x) (local.get $xStep)))
      (local.set $y (i32.add (local.get $y) (local.get $yStep)))
      (local.set $count (i32.sub (local.get $count) (i32.const 1)))
      (br_if $positions (local.get $count)))))
