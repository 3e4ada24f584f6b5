;; The separable grid sampling of small tables (separable-grid-sample.ts), for one row b of the grids:
;;   out[ch, i·Wq + j, pt] = wy0·wx0·T[y0, x0, ch] + wy0·wx1·T[y0, x1, ch] + wy1·wx0·T[y1, x0, ch] + wy1·wx1·T[y1, x1, ch]
;; with the row taps (y0, y1, wy0, wy1) of (i, pt) and the column taps (x0, x1, wx0, wx1) of (j, pt), as
;; the JavaScript loop it replaces computes them: the weights' products and the sum in float64, in that
;; order, rounded to float32 at the end (so the two agree bit for bit); a sample whose row or column
;; weights are both 0 is 0. Taps: i32 indices k0, k1 and f32 weights w0, w1, Hq·P (rows) and Wq·P
;; (columns) of each. `table` is one [Th, Tw, C] table. Pointers in bytes. The bytes in
;; separable-grid-sample-wasm.ts are this file compiled with wabt (`pnpm --filter @dynavit/core gen:wasm`;
;; a test checks they match).
(module
  (memory (export "memory") 1)

  (func (export "sample")
    (param $out i32) (param $table i32)
    (param $yk0 i32) (param $yk1 i32) (param $yw0 i32) (param $yw1 i32)
    (param $xk0 i32) (param $xk1 i32) (param $xw0 i32) (param $xw1 i32)
    (param $tw i32) (param $c i32) (param $hq i32) (param $wq i32) (param $p i32)
    (local $i i32) (local $j i32) (local $pt i32) (local $ch i32) (local $gy i32) (local $gx i32)
    (local $o i32) (local $chStride i32) (local $r0 i32) (local $r1 i32) (local $c0 i32) (local $c1 i32)
    (local $wy0 f64) (local $wy1 f64) (local $wx0 f64) (local $wx1 f64)
    (local $w00 f64) (local $w01 f64) (local $w10 f64) (local $w11 f64) (local $rowBytes i32)
    (local.set $chStride (i32.shl (i32.mul (i32.mul (local.get $hq) (local.get $wq)) (local.get $p)) (i32.const 2)))
    (local.set $rowBytes (i32.shl (i32.mul (local.get $tw) (local.get $c)) (i32.const 2)))
    (block $done
      (br_if $done (i32.or (i32.or (i32.eqz (local.get $hq)) (i32.eqz (local.get $wq))) (i32.eqz (local.get $p))))
      (local.set $i (i32.const 0))
      (loop $rows
        (local.set $j (i32.const 0))
        (loop $cols
          ;; o: out[0, i·Wq + j, 0]
          (local.set $o (i32.add (local.get $out)
            (i32.shl (i32.mul (i32.add (i32.mul (local.get $i) (local.get $wq)) (local.get $j)) (local.get $p)) (i32.const 2))))
          (local.set $gy (i32.shl (i32.mul (local.get $i) (local.get $p)) (i32.const 2)))
          (local.set $gx (i32.shl (i32.mul (local.get $j) (local.get $p)) (i32.const 2)))
          (local.set $pt (local.get $p))
          (loop $points
            (local.set $wy0 (f64.promote_f32 (f32.load (i32.add (local.get $yw0) (local.get $gy)))))
            (local.set $wy1 (f64.promote_f32 (f32.load (i32.add (local.get $yw1) (local.get $gy)))))
            (local.set $wx0 (f64.promote_f32 (f32.load (i32.add (local.get $xw0) (local.get $gx)))))
            (local.set $wx1 (f64.promote_f32 (f32.load (i32.add (local.get $xw1) (local.get $gx)))))
            (if (i32.or
                  (i32.and (f64.eq (local.get $wy0) (f64.const 0)) (f64.eq (local.get $wy1) (f64.const 0)))
                  (i32.and (f64.eq (local.get $wx0) (f64.const 0)) (f64.eq (local.get $wx1) (f64.const 0))))
              (then
                ;; every tap outside the table: 0 in each channel
                (local.set $ch (i32.const 0))
                (block $z (loop $zeros
                  (br_if $z (i32.ge_u (local.get $ch) (local.get $c)))
                  (f32.store (i32.add (local.get $o) (i32.mul (local.get $ch) (local.get $chStride))) (f32.const 0))
                  (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
                  (br $zeros))))
              (else
                (local.set $w00 (f64.mul (local.get $wy0) (local.get $wx0)))
                (local.set $w01 (f64.mul (local.get $wy0) (local.get $wx1)))
                (local.set $w10 (f64.mul (local.get $wy1) (local.get $wx0)))
                (local.set $w11 (f64.mul (local.get $wy1) (local.get $wx1)))
                (local.set $r0 (i32.add (local.get $table)
                  (i32.mul (i32.load (i32.add (local.get $yk0) (local.get $gy))) (local.get $rowBytes))))
                (local.set $r1 (i32.add (local.get $table)
                  (i32.mul (i32.load (i32.add (local.get $yk1) (local.get $gy))) (local.get $rowBytes))))
                (local.set $c0 (i32.shl (i32.mul (i32.load (i32.add (local.get $xk0) (local.get $gx))) (local.get $c)) (i32.const 2)))
                (local.set $c1 (i32.shl (i32.mul (i32.load (i32.add (local.get $xk1) (local.get $gx))) (local.get $c)) (i32.const 2)))
                (local.set $ch (i32.const 0))
                (block $e (loop $channels
                  (br_if $e (i32.ge_u (local.get $ch) (local.get $c)))
                  (f32.store (i32.add (local.get $o) (i32.mul (local.get $ch) (local.get $chStride)))
                    (f32.demote_f64
                      (f64.add
                        (f64.add
                          (f64.add
                            (f64.mul (local.get $w00) (f64.promote_f32 (f32.load (i32.add (local.get $r0) (local.get $c0)))))
                            (f64.mul (local.get $w01) (f64.promote_f32 (f32.load (i32.add (local.get $r0) (local.get $c1))))))
                          (f64.mul (local.get $w10) (f64.promote_f32 (f32.load (i32.add (local.get $r1) (local.get $c0))))))
                        (f64.mul (local.get $w11) (f64.promote_f32 (f32.load (i32.add (local.get $r1) (local.get $c1))))))))
                  (local.set $r0 (i32.add (local.get $r0) (i32.const 4)))
                  (local.set $r1 (i32.add (local.get $r1) (i32.const 4)))
                  (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
                  (br $channels)))))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (local.set $gy (i32.add (local.get $gy) (i32.const 4)))
            (local.set $gx (i32.add (local.get $gx) (i32.const 4)))
            (local.set $pt (i32.sub (local.get $pt) (i32.const 1)))
            (br_if $points (local.get $pt)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $cols (i32.lt_u (local.get $j) (local.get $wq))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $rows (i32.lt_u (local.get $i) (local.get $hq)))))))
