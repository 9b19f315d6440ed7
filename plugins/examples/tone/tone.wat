;; tone: a research-track plugin written in WebAssembly text, with no SDK (host ABI v1).
;;
;; It measures how long the step's input is and how many exclamation marks it holds, and
;; answers `{"output": {"bytes": N}, "metrics": {"input_bytes": N, "exclamations": M}}`. The
;; output reaches the user's execution; the metrics go only to the research bus, which
;; pseudonymises the user and releases them only as differentially private aggregates.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 0) "{\22output\22:{\22bytes\22:")                       ;; 19 bytes at 0
  (data (i32.const 32) "},\22metrics\22:{\22input_bytes\22:")              ;; 27 bytes at 32
  (data (i32.const 64) ",\22exclamations\22:")                           ;; 16 bytes at 64
  (data (i32.const 96) "}}")                                             ;; 2 bytes at 96

  (func (export "troupe_abi_version") (result i32) (i32.const 1))

  (func $alloc (export "troupe_alloc") (param $len i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (block $enough
      (loop $grow
        (br_if $enough (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then (unreachable)))
        (br $grow)))
    (local.get $ptr))

  ;; Writes `value` in decimal at `at`; returns the address after it.
  (func $decimal (param $at i32) (param $value i32) (result i32)
    (local $digits i32) (local $rest i32) (local $i i32)
    (local.set $rest (local.get $value))
    (local.set $digits (i32.const 1))
    (block $counted
      (loop $count
        (br_if $counted (i32.lt_u (local.get $rest) (i32.const 10)))
        (local.set $rest (i32.div_u (local.get $rest) (i32.const 10)))
        (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
        (br $count)))
    (local.set $rest (local.get $value))
    (local.set $i (local.get $digits))
    (loop $write
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $at) (local.get $i))
        (i32.add (i32.const 48) (i32.rem_u (local.get $rest) (i32.const 10))))
      (local.set $rest (i32.div_u (local.get $rest) (i32.const 10)))
      (br_if $write (i32.gt_u (local.get $i) (i32.const 0))))
    (i32.add (local.get $at) (local.get $digits)))

  (func (export "troupe_run") (param $in i32) (param $len i32) (result i64)
    (local $bangs i32) (local $i i32) (local $out i32) (local $at i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (if (i32.eq (i32.load8_u (i32.add (local.get $in) (local.get $i))) (i32.const 33))
          (then (local.set $bangs (i32.add (local.get $bangs) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.set $out (call $alloc (i32.const 128)))
    (memory.copy (local.get $out) (i32.const 0) (i32.const 19))
    (local.set $at (call $decimal (i32.add (local.get $out) (i32.const 19)) (local.get $len)))
    (memory.copy (local.get $at) (i32.const 32) (i32.const 27))
    (local.set $at (call $decimal (i32.add (local.get $at) (i32.const 27)) (local.get $len)))
    (memory.copy (local.get $at) (i32.const 64) (i32.const 16))
    (local.set $at (call $decimal (i32.add (local.get $at) (i32.const 16)) (local.get $bangs)))
    (memory.copy (local.get $at) (i32.const 96) (i32.const 2))
    (local.set $at (i32.add (local.get $at) (i32.const 2)))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
      (i64.extend_i32_u (i32.sub (local.get $at) (local.get $out)))))
)
