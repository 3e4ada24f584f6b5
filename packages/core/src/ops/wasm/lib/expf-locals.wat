;; e^w four lanes at a time (Cephes expf), part 1 of 3: its locals. Included by the kernels that
;; need it (scripts/gen-wasm.mjs replaces a line ";;@include lib/NAME.wat" with the file, re-indented).
(local $cMin v128) (local $cLog2e v128) (local $cRound v128) (local $cLn2a v128) (local $cLn2b v128)
(local $p0 v128) (local $p1 v128) (local $p2 v128) (local $p3 v128) (local $p4 v128) (local $p5 v128)
(local $one v128) (local $oneBits v128)
