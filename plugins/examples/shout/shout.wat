;; shout: a custom-track agent written in WebAssembly text, with no SDK.
;;
;; Host ABI v1 (docs/plugins.md): the host writes the step's JSON input at an address it gets
;; from `troupe_alloc` and calls `troupe_run(ptr, len)`, which answers (out_ptr << 32) | out_len
;; of the output JSON. This one answers `{"output": <the input with every string upper-cased>}`:
;; it copies the input behind the prefix `{"output":`, upper-cases a-z inside strings only (so
;; `null`, `true` and `false` stay JSON) and never the character after a backslash (so escapes
;; such as \n and \u00e9 stay valid), and closes with `}`.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 0) "{\22output\22:")

  (func (export "troupe_abi_version") (result i32) (i32.const 1))

  ;; A bump allocator: memory grows a page at a time; a denied grow traps.
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

  (func (export "troupe_run") (param $in i32) (param $len i32) (result i64)
    (local $out i32) (local $i i32) (local $byte i32) (local $in_string i32) (local $escaped i32)
    ;; prefix (10 bytes) + input + "}"
    (local.set $out (call $alloc (i32.add (local.get $len) (i32.const 11))))
    (memory.copy (local.get $out) (i32.const 0) (i32.const 10))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $byte (i32.load8_u (i32.add (local.get $in) (local.get $i))))
        (if (local.get $in_string)
          (then
            (if (local.get $escaped)
              (then (local.set $escaped (i32.const 0)))
              (else
                (if (i32.eq (local.get $byte) (i32.const 92))          ;; a backslash
                  (then (local.set $escaped (i32.const 1)))
                  (else
                    (if (i32.eq (local.get $byte) (i32.const 34))      ;; the closing quote
                      (then (local.set $in_string (i32.const 0)))
                      (else
                        (if (i32.and (i32.ge_u (local.get $byte) (i32.const 97))
                                     (i32.le_u (local.get $byte) (i32.const 122)))
                          (then (local.set $byte (i32.sub (local.get $byte) (i32.const 32))))))))))))
          (else
            (if (i32.eq (local.get $byte) (i32.const 34))              ;; an opening quote
              (then (local.set $in_string (i32.const 1))))))
        (i32.store8 (i32.add (i32.add (local.get $out) (i32.const 10)) (local.get $i)) (local.get $byte))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store8 (i32.add (i32.add (local.get $out) (i32.const 10)) (local.get $len)) (i32.const 125))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
      (i64.extend_i32_u (i32.add (local.get $len) (i32.const 11)))))
)
