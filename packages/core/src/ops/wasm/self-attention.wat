;; One head of scaled dot-product self-attention read straight from a packed projection
;; (self-attention.ts), float32, 128-bit SIMD. Each of the N rows of `qkv` (`row` bytes apart) holds
;; q, k and v of one token; this head's q, k and v start `qOff`, `kOff`, `vOff` bytes into the row, hd
;; values each (hd a multiple of 4). For every query row i:
;;   s_j = Σ_d (q_i,d·scale)·k_j,d          (q scaled first, then the product, as the composite does;
;;                                          the head's q is scaled once, in place in qkv: the caller's copy)
;;   p_j = e^(s_j − max s) / Σ e^(s − max s)
;;   o_i = Σ_j p_j·v_j                       written at out + i·orow + qOff (heads side by side)
;; The products sum over d (resp. j) in order, 16 output values in four f32x4 sums, as batch-matmul.wat.
;; kᵀ is first laid out in `kt` as [hd, N4] (N4 = N rounded up to 4); `s` holds one row of N4 scores.
;; e^w is Cephes' expf: 2^n · e^r, r = w − n·ln 2 in two parts, e^r a degree-7 polynomial by Estrin's
;; scheme, n rounded by adding 1.5·2^23; lanes with w < −87 (and the padding, set to −∞) give 0.
;; Pointers in bytes. The bytes in self-attention-wasm.ts are this file compiled with wabt
;; (`pnpm --filter @dynavit/core gen:wasm`; a test checks they match).
(module
  (memory (export "memory") 1)

  (func (export "attendHead")
    (param $qkv i32) (param $out i32) (param $kt i32) (param $s i32)
    (param $N i32) (param $N4 i32) (param $row i32) (param $orow i32)
    (param $qOff i32) (param $kOff i32) (param $vOff i32) (param $hd i32) (param $scale f32)
    (local $i i32) (local $j i32) (local $d i32) (local $src i32) (local $dst i32) (local $q i32)
    (local $p i32) (local $ktRow i32) (local $end i32) (local $o i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $x v128)
    (local $w v128) (local $jj v128) (local $k v128) (local $r v128) (local $r2 v128) (local $e v128)
    (local $mx f32) (local $hdBytes i32)
    ;; e^w's locals and constants (lib/expf-*.wat, shared with neighborhood-attention.wat)
    ;;@include lib/expf-locals.wat
    ;;@include lib/expf-constants.wat
    (local.set $ktRow (i32.shl (local.get $N4) (i32.const 2)))
    (local.set $hdBytes (i32.shl (local.get $hd) (i32.const 2)))
    (block $empty
      (br_if $empty (i32.eqz (local.get $N)))

      ;; kᵀ: kt[d, j] = k_j,d
      (local.set $j (i32.const 0))
      (loop $kcols
        (local.set $src (i32.add (i32.add (local.get $qkv) (i32.mul (local.get $j) (local.get $row))) (local.get $kOff)))
        (local.set $dst (i32.add (local.get $kt) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $d (local.get $hd))
        (loop $kd
          (f32.store (local.get $dst) (f32.load (local.get $src)))
          (local.set $src (i32.add (local.get $src) (i32.const 4)))
          (local.set $dst (i32.add (local.get $dst) (local.get $ktRow)))
          (local.set $d (i32.sub (local.get $d) (i32.const 1)))
          (br_if $kd (local.get $d)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $kcols (i32.lt_u (local.get $j) (local.get $N))))

      ;; q·scale once, in place: qkv is the module's own copy, and this head's q is read by this head alone
      (local.set $x (f32x4.splat (local.get $scale)))
      (local.set $j (i32.const 0))
      (loop $qrows
        (local.set $src (i32.add (i32.add (local.get $qkv) (i32.mul (local.get $j) (local.get $row))) (local.get $qOff)))
        (local.set $end (i32.add (local.get $src) (local.get $hdBytes)))
        (loop $qd
          (v128.store (local.get $src) (f32x4.mul (v128.load (local.get $src)) (local.get $x)))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (br_if $qd (i32.lt_u (local.get $src) (local.get $end))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $qrows (i32.lt_u (local.get $j) (local.get $N))))

      (local.set $i (i32.const 0))
      (loop $rows
        (local.set $q (i32.add (i32.add (local.get $qkv) (i32.mul (local.get $i) (local.get $row))) (local.get $qOff)))

        ;; scores s_j for j < N4, sixteen columns at a time, then four
        (local.set $j (i32.const 0))
        (block $e16 (loop $l16
          (br_if $e16 (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $N4)))
          (local.set $a0 (v128.const f32x4 0 0 0 0))
          (local.set $a1 (v128.const f32x4 0 0 0 0))
          (local.set $a2 (v128.const f32x4 0 0 0 0))
          (local.set $a3 (v128.const f32x4 0 0 0 0))
          (local.set $src (local.get $q))
          (local.set $p (i32.add (local.get $kt) (i32.shl (local.get $j) (i32.const 2))))
          (local.set $d (local.get $hd))
          (loop $sd
            (local.set $x (f32x4.splat (f32.load (local.get $src))))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $x) (v128.load (local.get $p)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $x) (v128.load offset=16 (local.get $p)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $x) (v128.load offset=32 (local.get $p)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $x) (v128.load offset=48 (local.get $p)))))
            (local.set $src (i32.add (local.get $src) (i32.const 4)))
            (local.set $p (i32.add (local.get $p) (local.get $ktRow)))
            (local.set $d (i32.sub (local.get $d) (i32.const 1)))
            (br_if $sd (local.get $d)))
          (local.set $dst (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 2))))
          (v128.store (local.get $dst) (local.get $a0))
          (v128.store offset=16 (local.get $dst) (local.get $a1))
          (v128.store offset=32 (local.get $dst) (local.get $a2))
          (v128.store offset=48 (local.get $dst) (local.get $a3))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $l16)))
        (block $e4 (loop $l4
          (br_if $e4 (i32.ge_u (local.get $j) (local.get $N4)))
          (local.set $a0 (v128.const f32x4 0 0 0 0))
          (local.set $src (local.get $q))
          (local.set $p (i32.add (local.get $kt) (i32.shl (local.get $j) (i32.const 2))))
          (local.set $d (local.get $hd))
          (loop $sd4
            (local.set $a0 (f32x4.add (local.get $a0)
              (f32x4.mul (f32x4.splat (f32.load (local.get $src))) (v128.load (local.get $p)))))
            (local.set $src (i32.add (local.get $src) (i32.const 4)))
            (local.set $p (i32.add (local.get $p) (local.get $ktRow)))
            (local.set $d (i32.sub (local.get $d) (i32.const 1)))
            (br_if $sd4 (local.get $d)))
          (v128.store (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 2))) (local.get $a0))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (br $l4)))

        ;; the padding columns N … N4−1 take −∞: they leave the maximum alone and give e = 0
        (local.set $j (local.get $N))
        (block $ep (loop $lp
          (br_if $ep (i32.ge_u (local.get $j) (local.get $N4)))
          (f32.store (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 2))) (f32.const -inf))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $lp)))

        ;; the row's maximum
        (local.set $end (i32.add (local.get $s) (local.get $ktRow)))
        (local.set $p (local.get $s))
        (local.set $x (v128.const f32x4 -inf -inf -inf -inf))
        (loop $lm
          (local.set $x (f32x4.max (local.get $x) (v128.load (local.get $p))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $lm (i32.lt_u (local.get $p) (local.get $end))))
        (local.set $mx (f32.max
          (f32.max (f32x4.extract_lane 0 (local.get $x)) (f32x4.extract_lane 1 (local.get $x)))
          (f32.max (f32x4.extract_lane 2 (local.get $x)) (f32x4.extract_lane 3 (local.get $x)))))
        (local.set $x (f32x4.splat (local.get $mx)))

        ;; e^(s − max), in place, and their sum in a0
        (local.set $a0 (v128.const f32x4 0 0 0 0))
        (local.set $p (local.get $s))
        (loop $le
          (local.set $w (f32x4.sub (v128.load (local.get $p)) (local.get $x)))
          ;;@include lib/expf-body.wat
          ;; 0 below −87 (e^−87 ≈ 1.6e-38) and for the −∞ padding
          (local.set $e (v128.and (local.get $e) (f32x4.ge (local.get $w) (local.get $cMin))))
          (v128.store (local.get $p) (local.get $e))
          (local.set $a0 (f32x4.add (local.get $a0) (local.get $e)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $le (i32.lt_u (local.get $p) (local.get $end))))
        (local.set $x (f32x4.splat (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 1 (local.get $a0)))
          (f32.add (f32x4.extract_lane 2 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0))))))
        (local.set $p (local.get $s))
        (loop $ln
          (v128.store (local.get $p) (f32x4.div (v128.load (local.get $p)) (local.get $x)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $ln (i32.lt_u (local.get $p) (local.get $end))))

        ;; o_i = Σ_j p_j·v_j, sixteen channels at a time, then four
        (local.set $o (i32.add (i32.add (local.get $out) (i32.mul (local.get $i) (local.get $orow))) (local.get $qOff)))
        (local.set $d (i32.const 0))
        (block $f16 (loop $m16
          (br_if $f16 (i32.gt_u (i32.add (local.get $d) (i32.const 64)) (local.get $hdBytes)))
          (local.set $a0 (v128.const f32x4 0 0 0 0))
          (local.set $a1 (v128.const f32x4 0 0 0 0))
          (local.set $a2 (v128.const f32x4 0 0 0 0))
          (local.set $a3 (v128.const f32x4 0 0 0 0))
          (local.set $src (i32.add (i32.add (local.get $qkv) (local.get $vOff)) (local.get $d)))
          (local.set $p (local.get $s))
          (local.set $j (local.get $N))
          (loop $vj
            (local.set $x (v128.load32_splat (local.get $p)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $x) (v128.load (local.get $src)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $x) (v128.load offset=16 (local.get $src)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $x) (v128.load offset=32 (local.get $src)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $x) (v128.load offset=48 (local.get $src)))))
            (local.set $src (i32.add (local.get $src) (local.get $row)))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $j (i32.sub (local.get $j) (i32.const 1)))
            (br_if $vj (local.get $j)))
          (local.set $dst (i32.add (local.get $o) (local.get $d)))
          (v128.store (local.get $dst) (local.get $a0))
          (v128.store offset=16 (local.get $dst) (local.get $a1))
          (v128.store offset=32 (local.get $dst) (local.get $a2))
          (v128.store offset=48 (local.get $dst) (local.get $a3))
          (local.set $d (i32.add (local.get $d) (i32.const 64)))
          (br $m16)))
        (block $f4 (loop $m4
          (br_if $f4 (i32.ge_u (local.get $d) (local.get $hdBytes)))
          (local.set $a0 (v128.const f32x4 0 0 0 0))
          (local.set $src (i32.add (i32.add (local.get $qkv) (local.get $vOff)) (local.get $d)))
          (local.set $p (local.get $s))
          (local.set $j (local.get $N))
          (loop $vj4
            (local.set $a0 (f32x4.add (local.get $a0)
              (f32x4.mul (v128.load32_splat (local.get $p)) (v128.load (local.get $src)))))
            (local.set $src (i32.add (local.get $src) (local.get $row)))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $j (i32.sub (local.get $j) (i32.const 1)))
            (br_if $vj4 (local.get $j)))
          (v128.store (i32.add (local.get $o) (local.get $d)) (local.get $a0))
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br $m4)))

        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $rows (i32.lt_u (local.get $i) (local.get $N)))))))
