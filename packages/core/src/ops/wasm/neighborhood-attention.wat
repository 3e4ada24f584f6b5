;; Neighbourhood attention (neighborhood-attention-simd.ts), float32: its two products in 128-bit SIMD
;; over the head dimension (a multiple of 4), and the softmax between them. Every pointer and stride is
;; in bytes. `key` is the window table: for query i and slot s, key[i·kk + s] is the position (i32) of
;; the key that slot reads.
;; The bytes in neighborhood-attention-wasm.ts are this file compiled with wabt
;; (`pnpm --filter @dynavit/core gen:wasm`; a test checks they match).
(module
  (memory (export "memory") 1)

  ;; out[i·kk + s] = Σ_d q[q + i·stride + d] · k[k + key[i·kk + s]·stride + d], for i < n, s < kk
  (func (export "logits")
    (param $q i32) (param $k i32) (param $key i32) (param $out i32)
    (param $n i32) (param $kk i32) (param $dimBytes i32) (param $stride i32)
    (local $s i32) (local $d i32) (local $krow i32) (local $acc0 v128) (local $acc1 v128)
    (block $queries
      (br_if $queries (i32.eqz (local.get $n)))
      (loop $query
        (local.set $s (local.get $kk))
        (loop $slot
          (local.set $krow (i32.add (local.get $k) (i32.mul (i32.load (local.get $key)) (local.get $stride))))
          (local.set $acc0 (v128.const f32x4 0 0 0 0))
          (local.set $acc1 (v128.const f32x4 0 0 0 0))
          (local.set $d (i32.const 0))
          ;; two sums, 8 values a step, while 8 remain
          (block $pairs
            (loop $pair
              (br_if $pairs (i32.gt_u (i32.add (local.get $d) (i32.const 32)) (local.get $dimBytes)))
              (local.set $acc0 (f32x4.add (local.get $acc0)
                (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $d)))
                           (v128.load (i32.add (local.get $krow) (local.get $d))))))
              (local.set $acc1 (f32x4.add (local.get $acc1)
                (f32x4.mul (v128.load offset=16 (i32.add (local.get $q) (local.get $d)))
                           (v128.load offset=16 (i32.add (local.get $krow) (local.get $d))))))
              (local.set $d (i32.add (local.get $d) (i32.const 32)))
              (br $pair)))
          ;; then 4 at a time
          (block $quads
            (loop $quad
              (br_if $quads (i32.ge_u (local.get $d) (local.get $dimBytes)))
              (local.set $acc0 (f32x4.add (local.get $acc0)
                (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $d)))
                           (v128.load (i32.add (local.get $krow) (local.get $d))))))
              (local.set $d (i32.add (local.get $d) (i32.const 16)))
              (br $quad)))
          (local.set $acc0 (f32x4.add (local.get $acc0) (local.get $acc1)))
          (f32.store (local.get $out)
            (f32.add
              (f32.add (f32x4.extract_lane 0 (local.get $acc0)) (f32x4.extract_lane 1 (local.get $acc0)))
              (f32.add (f32x4.extract_lane 2 (local.get $acc0)) (f32x4.extract_lane 3 (local.get $acc0)))))
          (local.set $out (i32.add (local.get $out) (i32.const 4)))
          (local.set $key (i32.add (local.get $key) (i32.const 4)))
          (local.set $s (i32.sub (local.get $s) (i32.const 1)))
          (br_if $slot (local.get $s)))
        (local.set $q (i32.add (local.get $q) (local.get $stride)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $query (local.get $n)))))

;; The logits' softmax per query, in place: x = p·scale + rpb[bias[i·kk + s]] (the relative-position
  ;; bias, when hasRpb), then e^(x − max) / Σ e^(x − max) over the query's kk slots. The adds and the sums
  ;; are scalar, in order; e^w (w ≤ 0) goes four values at a time over all n·kk values, so `p` must hold
  ;; them rounded up to a multiple of 4. e^w is Cephes' expf: 2^n · e^r, r = w − n·ln 2 in two parts, e^r
  ;; a degree-7 polynomial by Estrin's scheme, n rounded by adding 1.5·2^23; 0 below −87.
  (func (export "softmax")
    (param $p i32) (param $bias i32) (param $rpb i32) (param $hasRpb i32) (param $n i32) (param $kk i32)
    (param $scale f32)
    (local $row i32) (local $q i32) (local $s i32) (local $end i32) (local $x f32) (local $mx f32) (local $sum f32)
    (local $w v128) (local $k v128) (local $jj v128) (local $e v128) (local $r v128) (local $r2 v128)
    ;;@include lib/expf-locals.wat
    (block $none
      (br_if $none (i32.or (i32.eqz (local.get $n)) (i32.eqz (local.get $kk))))
      ;; pass 1, per query: x and its maximum, then x − max
      (local.set $row (local.get $p))
      (local.set $end (i32.add (local.get $p) (i32.shl (i32.mul (local.get $n) (local.get $kk)) (i32.const 2))))
      (loop $rows1
        (local.set $mx (f32.const -inf))
        (local.set $q (local.get $row))
        (local.set $s (local.get $kk))
        (loop $slots1
          (local.set $x (f32.mul (f32.load (local.get $q)) (local.get $scale)))
          (if (local.get $hasRpb)
            (then
              (local.set $x (f32.add (local.get $x)
                (f32.load (i32.add (local.get $rpb) (i32.shl (i32.load (local.get $bias)) (i32.const 2))))))
              (local.set $bias (i32.add (local.get $bias) (i32.const 4)))))
          (f32.store (local.get $q) (local.get $x))
          (local.set $mx (f32.max (local.get $mx) (local.get $x)))
          (local.set $q (i32.add (local.get $q) (i32.const 4)))
          (local.set $s (i32.sub (local.get $s) (i32.const 1)))
          (br_if $slots1 (local.get $s)))
        (local.set $q (local.get $row))
        (local.set $s (local.get $kk))
        (loop $shift
          (f32.store (local.get $q) (f32.sub (f32.load (local.get $q)) (local.get $mx)))
          (local.set $q (i32.add (local.get $q) (i32.const 4)))
          (local.set $s (i32.sub (local.get $s) (i32.const 1)))
          (br_if $shift (local.get $s)))
        (local.set $row (local.get $q))
        (br_if $rows1 (i32.lt_u (local.get $row) (local.get $end))))

      ;; pass 2: e^w, four values at a time
      ;;@include lib/expf-constants.wat
      (local.set $q (local.get $p))
      (loop $exp
        (local.set $w (v128.load (local.get $q)))
        ;;@include lib/expf-body.wat
        (v128.store (local.get $q) (v128.and (local.get $e) (f32x4.ge (local.get $w) (local.get $cMin))))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (br_if $exp (i32.lt_u (local.get $q) (local.get $end))))

      ;; pass 3, per query: divide by the sum
      (local.set $row (local.get $p))
      (loop $rows3
        (local.set $sum (f32.const 0))
        (local.set $q (local.get $row))
        (local.set $s (local.get $kk))
        (loop $sums
          (local.set $sum (f32.add (local.get $sum) (f32.load (local.get $q))))
          (local.set $q (i32.add (local.get $q) (i32.const 4)))
          (local.set $s (i32.sub (local.get $s) (i32.const 1)))
          (br_if $sums (local.get $s)))
        (local.set $q (local.get $row))
        (local.set $s (local.get $kk))
        (loop $divide
          (f32.store (local.get $q) (f32.div (f32.load (local.get $q)) (local.get $sum)))
          (local.set $q (i32.add (local.get $q) (i32.const 4)))
          (local.set $s (i32.sub (local.get $s) (i32.const 1)))
          (br_if $divide (local.get $s)))
        (local.set $row (local.get $q))
        (br_if $rows3 (i32.lt_u (local.get $row) (local.get $end))))))

  ;; out[out + i·outStride + d] = Σ_s p[i·kk + s] · v[v + key[i·kk + s]·stride + d], for i < n
  (func (export "aggregate")
    (param $v i32) (param $key i32) (param $p i32) (param $out i32)
    (param $n i32) (param $kk i32) (param $dimBytes i32) (param $stride i32) (param $outStride i32)
    (local $s i32) (local $d i32) (local $vrow i32) (local $w v128)
    (block $queries
      (br_if $queries (i32.eqz (local.get $n)))
      (loop $query
        (local.set $d (i32.const 0))
        (loop $zero
          (v128.store (i32.add (local.get $out) (local.get $d)) (v128.const f32x4 0 0 0 0))
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br_if $zero (i32.lt_u (local.get $d) (local.get $dimBytes))))
        (local.set $s (local.get $kk))
        (loop $slot
          (local.set $w (f32x4.splat (f32.load (local.get $p))))
          (local.set $vrow (i32.add (local.get $v) (i32.mul (i32.load (local.get $key)) (local.get $stride))))
          (local.set $d (i32.const 0))
          (loop $quad
            (v128.store (i32.add (local.get $out) (local.get $d))
              (f32x4.add (v128.load (i32.add (local.get $out) (local.get $d)))
                (f32x4.mul (local.get $w) (v128.load (i32.add (local.get $vrow) (local.get $d))))))
            (local.set $d (i32.add (local.get $d) (i32.const 16)))
            (br_if $quad (i32.lt_u (local.get $d) (local.get $dimBytes))))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (local.set $key (i32.add (local.get $key) (i32.const 4)))
          (local.set $s (i32.sub (local.get $s) (i32.const 1)))
          (br_if $slot (local.get $s)))
        (local.set $out (i32.add (local.get $out) (local.get $outStride)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $query (local.get $n))))))
