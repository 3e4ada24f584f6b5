;; LayerNorm over the last axis (layer-norm.ts), float32, 128-bit SIMD over the channels: for each of
;; `rows` rows of C values, mean = Σx/C, var = Σ(x − mean)²/C (the two passes of tf.moments), then
;; out = (x − mean)·(1/√(var + eps))·weight + bias. Pointers in bytes; C ≥ 1; weight and bias may be 0
;; (then 1 and 0 are used). The bytes in layer-norm-wasm.ts are this file compiled with wabt
;; (`pnpm --filter @dynavit/core gen:wasm`; a test checks they match).
(module
  (memory (export "memory") 1)

  ;; the sum of the four lanes
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  (func (export "layerNorm")
    (param $x i32) (param $out i32) (param $rows i32) (param $C i32)
    (param $weight i32) (param $bias i32) (param $eps f32)
    (local $c i32) (local $c4 i32) (local $p i32) (local $acc v128) (local $sum f32)
    (local $mean f32) (local $inv f32) (local $d f32) (local $vm v128) (local $vi v128)
    (local $rowBytes i32) (local $y v128) (local $s f32)
    (local.set $c4 (i32.and (local.get $C) (i32.const -4)))
    (local.set $rowBytes (i32.shl (local.get $C) (i32.const 2)))
    (block $done
      (br_if $done (i32.eqz (local.get $rows)))
      (loop $row
        ;; pass 1: the mean
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $c (i32.const 0))
        (block $e1 (loop $l1
          (br_if $e1 (i32.ge_u (local.get $c) (local.get $c4)))
          (local.set $acc (f32x4.add (local.get $acc)
            (v128.load (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $l1)))
        (local.set $sum (call $hsum (local.get $acc)))
        (block $t1 (loop $m1
          (br_if $t1 (i32.ge_u (local.get $c) (local.get $C)))
          (local.set $sum (f32.add (local.get $sum)
            (f32.load (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $m1)))
        (local.set $mean (f32.div (local.get $sum) (f32.convert_i32_u (local.get $C))))
        (local.set $vm (f32x4.splat (local.get $mean)))
        ;; pass 2: the variance about it
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $c (i32.const 0))
        (block $e2 (loop $l2
          (br_if $e2 (i32.ge_u (local.get $c) (local.get $c4)))
          (local.set $y (f32x4.sub
            (v128.load (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2)))) (local.get $vm)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $y) (local.get $y))))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $l2)))
        (local.set $sum (call $hsum (local.get $acc)))
        (block $t2 (loop $m2
          (br_if $t2 (i32.ge_u (local.get $c) (local.get $C)))
          (local.set $d (f32.sub
            (f32.load (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2)))) (local.get $mean)))
          (local.set $sum (f32.add (local.get $sum) (f32.mul (local.get $d) (local.get $d))))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $m2)))
        (local.set $inv (f32.div (f32.const 1)
          (f32.sqrt (f32.add (f32.div (local.get $sum) (f32.convert_i32_u (local.get $C))) (local.get $eps)))))
        (local.set $vi (f32x4.splat (local.get $inv)))
        ;; pass 3: normalise, scale, shift
        (local.set $c (i32.const 0))
        (block $e3 (loop $l3
          (br_if $e3 (i32.ge_u (local.get $c) (local.get $c4)))
          (local.set $p (i32.shl (local.get $c) (i32.const 2)))
          (local.set $y (f32x4.mul
            (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $p))) (local.get $vm)) (local.get $vi)))
          (if (local.get $weight)
            (then (local.set $y (f32x4.mul (local.get $y) (v128.load (i32.add (local.get $weight) (local.get $p)))))))
          (if (local.get $bias)
            (then (local.set $y (f32x4.add (local.get $y) (v128.load (i32.add (local.get $bias) (local.get $p)))))))
          (v128.store (i32.add (local.get $out) (local.get $p)) (local.get $y))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $l3)))
        (block $t3 (loop $m3
          (br_if $t3 (i32.ge_u (local.get $c) (local.get $C)))
          (local.set $p (i32.shl (local.get $c) (i32.const 2)))
          (local.set $s (f32.mul
            (f32.sub (f32.load (i32.add (local.get $x) (local.get $p))) (local.get $mean)) (local.get $inv)))
          (if (local.get $weight)
            (then (local.set $s (f32.mul (local.get $s) (f32.load (i32.add (local.get $weight) (local.get $p)))))))
          (if (local.get $bias)
            (then (local.set $s (f32.add (local.get $s) (f32.load (i32.add (local.get $bias) (local.get $p)))))))
          (f32.store (i32.add (local.get $out) (local.get $p)) (local.get $s))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $m3)))
        (local.set $x (i32.add (local.get $x) (local.get $rowBytes)))
        (local.set $out (i32.add (local.get $out) (local.get $rowBytes)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br_if $row (local.get $rows))))))
