;; e^w, part 3 of 3: $e = e^$w for $w ≥ −87, per lane (Cephes expf: 2^n · e^r, r = w − n·ln 2 in two
;; parts, e^r a degree-7 polynomial by Estrin's scheme, n rounded by adding 1.5·2^23). Below −87 the
;; lanes are garbage: the includer masks them (f32x4.ge $w $cMin). Uses $k, $jj, $r, $r2.
(local.set $k (f32x4.pmax (local.get $w) (local.get $cMin)))
(local.set $jj (f32x4.add (f32x4.mul (local.get $k) (local.get $cLog2e)) (local.get $cRound)))
(local.set $e (f32x4.sub (local.get $jj) (local.get $cRound)))
(local.set $r (f32x4.sub
  (f32x4.sub (local.get $k) (f32x4.mul (local.get $e) (local.get $cLn2a)))
  (f32x4.mul (local.get $e) (local.get $cLn2b))))
(local.set $r2 (f32x4.mul (local.get $r) (local.get $r)))
(local.set $e (f32x4.add
  (f32x4.add
    (f32x4.add (local.get $p0) (f32x4.mul (local.get $r) (local.get $p1)))
    (f32x4.mul (local.get $r2) (f32x4.add (local.get $p2) (f32x4.mul (local.get $r) (local.get $p3)))))
  (f32x4.mul (f32x4.mul (local.get $r2) (local.get $r2))
    (f32x4.add (local.get $p4) (f32x4.mul (local.get $r) (local.get $p5))))))
(local.set $e (f32x4.add (f32x4.add (f32x4.mul (local.get $e) (local.get $r2)) (local.get $r)) (local.get $one)))
;; · 2^n: the low bits of jj hold n; (n + 127) << 23 is 2^n's float
(local.set $e (f32x4.mul (local.get $e)
  (i32x4.add (i32x4.shl (local.get $jj) (i32.const 23)) (local.get $oneBits))))
