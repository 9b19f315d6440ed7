//! The sandbox against modules that misbehave: each is stopped by its limit and leaves the
//! pool working.

use std::time::{Duration, Instant};

use super::*;

/// A module speaking the ABI whose `troupe_run` body is `run` (it may use the locals `$in` and
/// `$len` and must leave an i64 on the stack); `extra` adds imports, globals or functions.
fn module(extra: &str, run: &str) -> String {
    format!(
        r#"(module
  {extra}
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "troupe_abi_version") (result i32) (i32.const 1))
  (func (export "troupe_alloc") (param $len i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (local.get $ptr))
  (func (export "troupe_run") (param $in i32) (param $len i32) (result i64)
    {run}))"#
    )
}

/// Answers its input unchanged.
const ECHO: &str =
    "(i64.or (i64.shl (i64.extend_i32_u (local.get $in)) (i64.const 32)) (i64.extend_i32_u (local.get $len)))";

/// Generous wall clock: these runs end by fuel or by themselves, and the pool's thread is
/// scheduled `SCHED_IDLE`, so on a busy machine it may wait a while for a core.
fn limits() -> RunLimits {
    RunLimits { fuel: 10_000_000, memory_bytes: 1 << 20, timeout: Duration::from_secs(30), max_output_bytes: 1024 }
}

async fn still_works(sandbox: &Sandbox) {
    let echo = sandbox.compile(module("", ECHO).as_bytes()).unwrap();
    let answer = sandbox.run(&echo, br#"{"ok":true}"#.to_vec(), limits()).await.unwrap();
    assert_eq!(answer, br#"{"ok":true}"#);
}

#[tokio::test]
async fn a_well_behaved_module_answers() {
    let sandbox = Sandbox::new(1, 4).unwrap();
    still_works(&sandbox).await;
    let shout = sandbox.compile(include_bytes!("../../examples/shout/shout.wat")).unwrap();
    let answer = sandbox.run(&shout, br#"{"text":"hi \u00e9\n"}"#.to_vec(), limits()).await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer, serde_json::json!({"output": {"TEXT": "HI \u{e9}\n"}}));
}

#[tokio::test]
async fn an_endless_loop_is_stopped_by_fuel_or_by_its_time_limit() {
    let sandbox = Sandbox::new(1, 4).unwrap();
    let spin = sandbox.compile(module("", "(loop $forever (br $forever)) (unreachable)").as_bytes()).unwrap();
    assert_eq!(sandbox.run(&spin, b"{}".to_vec(), limits()).await, Err(SandboxError::OutOfFuel));
    // With fuel to spare, the wall clock stops it.
    let started = Instant::now();
    let timed = RunLimits { fuel: u64::MAX / 2, timeout: Duration::from_millis(200), ..limits() };
    assert_eq!(sandbox.run(&spin, b"{}".to_vec(), timed).await, Err(SandboxError::TimedOut(timed.timeout)));
    assert!(started.elapsed() < Duration::from_secs(5), "stopped near its limit, not later");
    still_works(&sandbox).await;
}

#[tokio::test]
async fn memory_growth_past_the_limit_is_denied() {
    let sandbox = Sandbox::new(1, 4).unwrap();
    // Grows a page at a time until refused, then answers with how many pages it holds, as a
    // one-byte "output" at address 0 (the count fits a byte for a 1 MiB limit).
    let grow = module(
        "",
        r#"(block $denied (loop $more
              (br_if $denied (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
              (br $more)))
            (i32.store8 (i32.const 0) (memory.size))
            (i64.const 1)"#,
    );
    let grow = sandbox.compile(grow.as_bytes()).unwrap();
    let pages = sandbox.run(&grow, b"{}".to_vec(), limits()).await.unwrap();
    assert_eq!(pages, vec![16], "1 MiB is 16 pages of 64 KiB: growth stopped there");
    still_works(&sandbox).await;
}

#[tokio::test]
async fn table_growth_past_its_limit_is_denied() {
    let sandbox = Sandbox::new(1, 4).unwrap();
    // Asks for far more table elements than allowed in one go: refused with -1 (not a trap),
    // while a small growth is granted. The verdicts are the two bytes of the output.
    let grow = module(
        "(table $t 1 funcref)",
        r#"(i32.store8 (i32.const 0) (i32.eq (table.grow $t (ref.null func) (i32.const 1000000)) (i32.const -1)))
            (i32.store8 (i32.const 1) (i32.ne (table.grow $t (ref.null func) (i32.const 10)) (i32.const -1)))
            (i64.const 2)"#,
    );
    let grow = sandbox.compile(grow.as_bytes()).unwrap();
    let verdicts = sandbox.run(&grow, b"{}".to_vec(), limits()).await.unwrap();
    assert_eq!(verdicts, vec![1, 1], "the huge growth was denied, the small one granted");
    still_works(&sandbox).await;
}

#[tokio::test]
async fn a_module_that_imports_files_or_sockets_is_refused() {
    let sandbox = Sandbox::new(1, 4).unwrap();
    for import in [
        r#"(import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#,
        r#"(import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))"#,
        r#"(import "env" "connect" (func (param i32) (result i32)))"#,
    ] {
        let Err(error) = sandbox.compile(module(import, ECHO).as_bytes()) else { panic!("{import} was accepted") };
        assert!(matches!(error, SandboxError::Import(_)), "{error}");
        assert!(error.to_string().contains("does not provide"), "{error}");
    }
    still_works(&sandbox).await;
}

#[tokio::test]
async fn an_oversized_output_is_refused_and_a_trap_is_reported() {
    let sandbox = Sandbox::new(1, 4).unwrap();
    let large = module("", "(i64.const 65536)");
    let large = sandbox.compile(large.as_bytes()).unwrap();
    assert_eq!(
        sandbox.run(&large, b"{}".to_vec(), limits()).await,
        Err(SandboxError::OutputTooLarge { size: 65536, limit: 1024 })
    );
    let trap = sandbox.compile(module("", "(unreachable)").as_bytes()).unwrap();
    assert!(matches!(sandbox.run(&trap, b"{}".to_vec(), limits()).await, Err(SandboxError::Trapped(_))));
    assert!(matches!(sandbox.compile(b"(module)"), Err(SandboxError::Invalid(message)) if message.contains("memory")));
    assert!(matches!(sandbox.compile(b"not wasm"), Err(SandboxError::Invalid(_))));
    still_works(&sandbox).await;
}

#[tokio::test]
async fn a_full_pool_answers_busy_instead_of_queueing_without_bound() {
    let sandbox = Sandbox::new(1, 1).unwrap();
    let spin = sandbox.compile(module("", "(loop $forever (br $forever)) (unreachable)").as_bytes()).unwrap();
    let slow = RunLimits { fuel: u64::MAX / 2, timeout: Duration::from_millis(300), ..limits() };
    let first = sandbox.run(&spin, b"{}".to_vec(), slow);
    let second = sandbox.run(&spin, b"{}".to_vec(), slow);
    let third = sandbox.run(&spin, b"{}".to_vec(), slow);
    let (first, second, third) = tokio::join!(first, second, third);
    let busy = [&first, &second, &third].iter().filter(|result| matches!(result, Err(SandboxError::Busy))).count();
    assert!(busy >= 1, "{first:?} {second:?} {third:?}");
    still_works(&sandbox).await;
}

#[tokio::test]
async fn a_module_with_a_second_memory_or_table_does_not_run() {
    let sandbox = Sandbox::new(1, 4).unwrap();
    for extra in ["(memory $second 1)", "(table $a 1 funcref) (table $b 1 funcref)"] {
        let source = module(extra, "(i64.const 0)");
        // Refused when compiled (where the proposal is off) or when instantiated (the store's
        // limits): either way it never runs.
        let refused = match sandbox.compile(source.as_bytes()) {
            Err(_) => true,
            Ok(compiled) => sandbox.run(&compiled, b"{}".to_vec(), limits()).await.is_err(),
        };
        assert!(refused, "{extra} ran");
    }
    still_works(&sandbox).await;
}
