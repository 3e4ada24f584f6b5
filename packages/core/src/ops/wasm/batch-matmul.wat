;; A batch of small float32 matrix products with 128-bit SIMD: C[b] = A[b] · B[b], row-major,
;; A [M, K], B [K, N], C [M, N]. tfjs-backend-wasm 4.22 runs such batches in a scalar loop; this is
;; the kernel `batch-matmul-simd.ts` loads (the bytes in batch-matmul-wasm.ts are this file compiled
;; with wabt: `pnpm --filter @dynavit/core gen:wasm`; a test checks they match).
;;
;; Each output row is made 16 columns at a time in four f32x4 sums kept in registers over k (then 4
;; columns at a time, then one), so every C value is Σ_k A[i,k]·B[k,j] added in order of k, as the
;; scalar loop does, from 0.
(module
  (memory (export "memory") 1)

  ;; a, b, c: byte offsets of the first matrices; sa, sb: byte steps between the batch's matrices of A
  ;; and B (0: one matrix shared by the whole batch). M, K, N ≥ 1.
  (func (export "bmm")
    (param $a i32) (param $b i32) (param $c i32) (param $batch i32)
    (param $M i32) (param $K i32) (param $N i32) (param $sa i32) (param $sb i32)
    (local $i i32) (local $j i32) (local $k i32)
    (local $arow i32) (local $crow i32) (local $pa i32) (local $pb i32)
    (local $rowB i32) (local $n16 i32) (local $n4 i32)
    (local $av v128) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local $sum f32)
    (local.set $rowB (i32.shl (local.get $N) (i32.const 2)))
    (local.set $n16 (i32.and (local.get $N) (i32.const -16)))
    (local.set $n4 (i32.and (local.get $N) (i32.const -4)))
    (loop $batches
      (local.set $i (i32.const 0))
      (loop $rows
        (local.set $arow (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $K)) (i32.const 2))))
        (local.set $crow (i32.add (local.get $c) (i32.shl (i32.mul (local.get $i) (local.get $N)) (i32.const 2))))
        (local.set $j (i32.const 0))
        ;; 16 columns at a time
        (block $done16
          (loop $cols16
            (br_if $done16 (i32.ge_u (local.get $j) (local.get $n16)))
            (local.set $s0 (v128.const i32x4 0 0 0 0))
            (local.set $s1 (v128.const i32x4 0 0 0 0))
            (local.set $s2 (v128.const i32x4 0 0 0 0))
            (local.set $s3 (v128.const i32x4 0 0 0 0))
            (local.set $pa (local.get $arow))
            (local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $k (local.get $K))
            (loop $inner16
              (local.set $av (f32x4.splat (f32.load (local.get $pa))))
              (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (local.get $av) (v128.load offset=0 (local.get $pb)))))
              (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (local.get $av) (v128.load offset=16 (local.get $pb)))))
              (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $av) (v128.load offset=32 (local.get $pb)))))
              (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (local.get $av) (v128.load offset=48 (local.get $pb)))))
              (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
              (local.set $pb (i32.add (local.get $pb) (local.get $rowB)))
              (local.set $k (i32.sub (local.get $k) (i32.const 1)))
              (br_if $inner16 (local.get $k)))
            (local.set $pb (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))))
            (v128.store offset=0 (local.get $pb) (local.get $s0))
            (v128.store offset=16 (local.get $pb) (local.get $s1))
            (v128.store offset=32 (local.get $pb) (local.get $s2))
            (v128.store offset=48 (local.get $pb) (local.get $s3))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $cols16)))
        ;; then 4 columns at a time
        (block $done4
          (loop $cols4
            (br_if $done4 (i32.ge_u (local.get $j) (local.get $n4)))
            (local.set $s0 (v128.const i32x4 0 0 0 0))
            (local.set $pa (local.get $arow))
            (local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $k (local.get $K))
            (loop $inner4
              (local.set $s0
                (f32x4.add (local.get $s0)
                  (f32x4.mul (f32x4.splat (f32.load (local.get $pa))) (v128.load (local.get $pb)))))
              (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
              (local.set $pb (i32.add (local.get $pb) (local.get $rowB)))
              (local.set $k (i32.sub (local.get $k) (i32.const 1)))
              (br_if $inner4 (local.get $k)))
            (v128.store (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))) (local.get $s0))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $cols4)))
        ;; then one column at a time
        (block $done1
          (loop $cols1
            (br_if $done1 (i32.ge_u (local.get $j) (local.get $N)))
            (local.set $sum (f32.const 0))
            (local.set $pa (local.get $arow))
            (local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $k (local.get $K))
            (loop $inner1
              (local.set $sum (f32.add (local.get $sum) (f32.mul (f32.load (local.get $pa)) (f32.load (local.get $pb)))))
              (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
              (local.set $pb (i32.add (local.get $pb) (local.get $rowB)))
              (local.set $k (i32.sub (local.get $k) (i32.const 1)))
              (br_if $inner1 (local.get $k)))
            (f32.store (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))) (local.get $sum))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $cols1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $rows (i32.lt_u (local.get $i) (local.get $M))))
      (local.set $a (i32.add (local.get $a) (local.get $sa)))
      (local.set $b (i32.add (local.get $b) (local.get $sb)))
      (local.set $c (i32.add (local.get $c) (i32.shl (i32.mul (local.get $M) (local.get $N)) (i32.const 2))))
      (local.set $batch (i32.sub (local.get $batch) (i32.const 1)))
      (br_if $batches (local.get $batch)))))
