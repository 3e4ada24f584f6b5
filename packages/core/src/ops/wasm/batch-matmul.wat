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
      (br_if $batches (local.get $batch))))

  ;; C[M, N] += Σ_r A[r, i] · B[r, j] for r < R: the product Aᵀ·B of two row-major matrices with the same
  ;; rows, A [R, M] and B [R, N], added to C (a weight gradient: the inputs' rows times the output
  ;; gradients' rows). Four rows of A and B at a time, so each C vector is loaded and stored once per
  ;; four products; then one row at a time. a, b, c: byte offsets; R, M, N ≥ 1.
  (func (export "atb")
    (param $a i32) (param $b i32) (param $c i32) (param $R i32) (param $M i32) (param $N i32)
    (local $r i32) (local $i i32) (local $j i32) (local $rowA i32) (local $rowB i32)
    (local $n4 i32) (local $pa i32) (local $pb i32) (local $pc i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32)
    (local.set $rowA (i32.shl (local.get $M) (i32.const 2)))
    (local.set $rowB (i32.shl (local.get $N) (i32.const 2)))
    (local.set $n4 (i32.and (local.get $N) (i32.const -4)))
    (local.set $r (i32.const 0))
    ;; four rows at a time
    (block $done4
      (loop $rows4
        (br_if $done4 (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $R)))
        (local.set $i (i32.const 0))
        (loop $cols
          ;; A[r..r+3, i]
          (local.set $pa (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $M)) (local.get $i)) (i32.const 2))))
          (local.set $s0 (f32.load (local.get $pa)))
          (local.set $s1 (f32.load (i32.add (local.get $pa) (local.get $rowA))))
          (local.set $s2 (f32.load (i32.add (local.get $pa) (i32.shl (local.get $rowA) (i32.const 1)))))
          (local.set $s3 (f32.load (i32.add (local.get $pa) (i32.mul (local.get $rowA) (i32.const 3)))))
          (local.set $a0 (f32x4.splat (local.get $s0)))
          (local.set $a1 (f32x4.splat (local.get $s1)))
          (local.set $a2 (f32x4.splat (local.get $s2)))
          (local.set $a3 (f32x4.splat (local.get $s3)))
          (local.set $pb (i32.add (local.get $b) (i32.mul (local.get $r) (local.get $rowB))))
          (local.set $pc (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $rowB))))
          (local.set $j (i32.const 0))
          (block $doneJ4
            (loop $j4
              (br_if $doneJ4 (i32.ge_u (local.get $j) (local.get $n4)))
              (v128.store (local.get $pc)
                (f32x4.add
                  (f32x4.add
                    (f32x4.add
                      (f32x4.add (v128.load (local.get $pc))
                        (f32x4.mul (local.get $a0) (v128.load (local.get $pb))))
                      (f32x4.mul (local.get $a1) (v128.load (i32.add (local.get $pb) (local.get $rowB)))))
                    (f32x4.mul (local.get $a2) (v128.load (i32.add (local.get $pb) (i32.shl (local.get $rowB) (i32.const 1))))))
                  (f32x4.mul (local.get $a3) (v128.load (i32.add (local.get $pb) (i32.mul (local.get $rowB) (i32.const 3)))))))
              (local.set $pb (i32.add (local.get $pb) (i32.const 16)))
              (local.set $pc (i32.add (local.get $pc) (i32.const 16)))
              (local.set $j (i32.add (local.get $j) (i32.const 4)))
              (br $j4)))
          (block $doneJ1
            (loop $j1
              (br_if $doneJ1 (i32.ge_u (local.get $j) (local.get $N)))
              (f32.store (local.get $pc)
                (f32.add
                  (f32.add
                    (f32.add
                      (f32.add (f32.load (local.get $pc)) (f32.mul (local.get $s0) (f32.load (local.get $pb))))
                      (f32.mul (local.get $s1) (f32.load (i32.add (local.get $pb) (local.get $rowB)))))
                    (f32.mul (local.get $s2) (f32.load (i32.add (local.get $pb) (i32.shl (local.get $rowB) (i32.const 1))))))
                  (f32.mul (local.get $s3) (f32.load (i32.add (local.get $pb) (i32.mul (local.get $rowB) (i32.const 3)))))))
              (local.set $pb (i32.add (local.get $pb) (i32.const 4)))
              (local.set $pc (i32.add (local.get $pc) (i32.const 4)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $j1)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $cols (i32.lt_u (local.get $i) (local.get $M))))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $rows4)))
    ;; the remaining rows, one at a time
    (block $done1
      (loop $rows1
        (br_if $done1 (i32.ge_u (local.get $r) (local.get $R)))
        (local.set $i (i32.const 0))
        (loop $cols1
          (local.set $s0 (f32.load (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $M)) (local.get $i)) (i32.const 2)))))
          (local.set $a0 (f32x4.splat (local.get $s0)))
          (local.set $pb (i32.add (local.get $b) (i32.mul (local.get $r) (local.get $rowB))))
          (local.set $pc (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $rowB))))
          (local.set $j (i32.const 0))
          (block $doneK4
            (loop $k4
              (br_if $doneK4 (i32.ge_u (local.get $j) (local.get $n4)))
              (v128.store (local.get $pc)
                (f32x4.add (v128.load (local.get $pc)) (f32x4.mul (local.get $a0) (v128.load (local.get $pb)))))
              (local.set $pb (i32.add (local.get $pb) (i32.const 16)))
              (local.set $pc (i32.add (local.get $pc) (i32.const 16)))
              (local.set $j (i32.add (local.get $j) (i32.const 4)))
              (br $k4)))
          (block $doneK1
            (loop $k1
              (br_if $doneK1 (i32.ge_u (local.get $j) (local.get $N)))
              (f32.store (local.get $pc)
                (f32.add (f32.load (local.get $pc)) (f32.mul (local.get $s0) (f32.load (local.get $pb)))))
              (local.set $pb (i32.add (local.get $pb) (i32.const 4)))
              (local.set $pc (i32.add (local.get $pc) (i32.const 4)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $k1)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $cols1 (i32.lt_u (local.get $i) (local.get $M))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows1))))
)
