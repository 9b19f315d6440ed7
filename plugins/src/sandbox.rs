//! The WebAssembly sandbox: wasmtime with no ambient authority, on a bounded worker pool of its
//! own.
//!
//! - **No authority.** Modules are instantiated against an empty linker: no WASI, no host
//!   functions, so no files, sockets, clocks or randomness. A module that imports anything is
//!   refused when it is loaded, naming the import.
//! - **CPU** is bounded by fuel (about one unit per instruction) and, independently, by an
//!   epoch deadline: a ticker thread advances the engine's epoch every [`TICK`], and a run
//!   longer than its wall-clock limit is interrupted.
//! - **Memory** is bounded by a store limiter: `memory.grow` past the limit returns -1 to the
//!   guest (it is denied, not fatal).
//! - **Output** larger than the limit is refused before it is copied out.
//! - **Isolation from track 1.** Runs execute on the pool's own OS threads (one by default,
//!   scheduled `SCHED_IDLE`), never on the async runtime's workers, and the queue in front of
//!   them is bounded: a runaway plugin occupies at most its pool, for at most its limits, and
//!   gets only CPU time nothing else wants. (The price: when track 1 saturates the machine,
//!   plugin runs wait, and a waiting one can reach its wall-clock limit; fuel is the
//!   deterministic CPU bound.)
//!
//! The host ABI (version 1, docs/plugins.md): the module exports `memory`,
//! `troupe_abi_version() -> i32` (= 1), `troupe_alloc(len: i32) -> i32` and
//! `troupe_run(ptr: i32, len: i32) -> i64`. The host writes the input JSON at an allocated
//! address and calls `troupe_run`, which answers `(out_ptr << 32) | out_len` of the output JSON.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::{Config, Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Trap};

use crate::manifest::ABI_VERSION;

/// The most elements a plugin's table may hold (function references: 80 KiB at 8 bytes each).
const MAX_TABLE_ELEMENTS: usize = 10_000;

/// How often the epoch advances (the granularity of wall-clock limits).
pub const TICK: Duration = Duration::from_millis(10);

/// Why a run failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// The module is not valid WebAssembly, or does not speak the ABI.
    #[error("invalid module: {0}")]
    Invalid(String),
    /// The module imports something the sandbox does not provide.
    #[error("the module imports `{0}`, which the sandbox does not provide (no files, network, clock or randomness)")]
    Import(String),
    /// The run used up its fuel.
    #[error("the plugin ran out of fuel (its CPU limit)")]
    OutOfFuel,
    /// The run passed its wall-clock limit.
    #[error("the plugin passed its time limit of {0:?}")]
    TimedOut(Duration),
    /// The module trapped.
    #[error("the plugin trapped: {0}")]
    Trapped(String),
    /// The output is larger than allowed.
    #[error("the plugin's output has {size} bytes; at most {limit} are accepted")]
    OutputTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The host wrapper itself failed (a bug, caught).
    #[error("the plugin host panicked: {0}")]
    HostPanicked(String),
    /// Every worker is busy and the queue is full.
    #[error("the plugin pool is busy; try again")]
    Busy,
}

/// Limits of one run.
#[derive(Clone, Copy, Debug)]
pub struct RunLimits {
    /// Fuel.
    pub fuel: u64,
    /// Linear memory, in bytes.
    pub memory_bytes: usize,
    /// Wall clock.
    pub timeout: Duration,
    /// Largest output, in bytes.
    pub max_output_bytes: u64,
}

/// A compiled, checked module.
#[derive(Clone)]
pub struct CompiledModule {
    module: Module,
}

type Job = Box<dyn FnOnce() + Send>;

/// The engine and its worker pool.
pub struct Sandbox {
    engine: Engine,
    jobs: SyncSender<Job>,
}

impl Sandbox {
    /// Starts the engine, its epoch ticker and `workers` threads behind a queue of `queue` runs.
    pub fn new(workers: usize, queue: usize) -> Result<Arc<Self>, SandboxError> {
        let mut config = Config::new();
        config.consume_fuel(true).epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|error| SandboxError::Invalid(error.to_string()))?;
        let (jobs, receiver) = std::sync::mpsc::sync_channel::<Job>(queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("troupe-plugin-{index}"))
                .spawn(move || work(&receiver))
                .map_err(|error| SandboxError::Invalid(format!("cannot start a plugin worker: {error}")))?;
        }
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("troupe-plugin-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })
            .map_err(|error| SandboxError::Invalid(format!("cannot start the epoch ticker: {error}")))?;
        Ok(Arc::new(Self { engine, jobs }))
    }

    /// Compiles a module (binary or text) and checks that it imports nothing and exports the
    /// ABI. CPU-heavy: call it off the async workers.
    pub fn compile(&self, bytes: &[u8]) -> Result<CompiledModule, SandboxError> {
        let module = Module::new(&self.engine, bytes).map_err(|error| SandboxError::Invalid(format!("{error:#}")))?;
        if let Some(import) = module.imports().next() {
            return Err(SandboxError::Import(format!("{}.{}", import.module(), import.name())));
        }
        for export in ["memory", "troupe_abi_version", "troupe_alloc", "troupe_run"] {
            if module.get_export(export).is_none() {
                return Err(SandboxError::Invalid(format!(
                    "the module does not export `{export}` (host ABI v{ABI_VERSION})"
                )));
            }
        }
        Ok(CompiledModule { module })
    }

    /// Runs a module on the pool: input JSON in, output JSON out.
    pub async fn run(
        &self,
        module: &CompiledModule,
        input: Vec<u8>,
        limits: RunLimits,
    ) -> Result<Vec<u8>, SandboxError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let engine = self.engine.clone();
        let module = module.module.clone();
        let job: Job = Box::new(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| run_module(&engine, &module, &input, limits)))
                .unwrap_or_else(|panic| Err(SandboxError::HostPanicked(panic_text(panic.as_ref()))));
            let _ = reply.send(result);
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(SandboxError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(SandboxError::HostPanicked("the pool stopped".into())),
        }
        answer.await.unwrap_or_else(|_| Err(SandboxError::HostPanicked("the worker dropped the run".into())))
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    // SCHED_IDLE: a plugin runs only on CPU time nothing else wants, whatever it does.
    let idle = thread_priority::ThreadSchedulePolicy::Normal(thread_priority::NormalThreadSchedulePolicy::Idle);
    if let Err(error) = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        thread_priority::ThreadPriority::Min,
        idle,
    ) {
        tracing::warn!(?error, "cannot lower the plugin worker's priority");
    }
    loop {
        let job = {
            let Ok(receiver) = receiver.lock() else { return };
            match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        job();
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

struct Guest {
    limits: StoreLimits,
}

fn trap_error(error: wasmtime::Error, timeout: Duration) -> SandboxError {
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => SandboxError::OutOfFuel,
        Some(Trap::Interrupt) => SandboxError::TimedOut(timeout),
        Some(trap) => SandboxError::Trapped(trap.to_string()),
        None => SandboxError::Trapped(format!("{error:#}")),
    }
}

fn run_module(engine: &Engine, module: &Module, input: &[u8], limits: RunLimits) -> Result<Vec<u8>, SandboxError> {
    // One instance with one memory and one table, each bounded: a module cannot multiply
    // memories or tables past the limit (each is counted apart otherwise).
    let guest = Guest {
        limits: StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .memories(1)
            .tables(1)
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(1)
            .trap_on_grow_failure(false)
            .build(),
    };
    let mut store = Store::new(engine, guest);
    store.limiter(|guest| &mut guest.limits);
    store.set_fuel(limits.fuel).map_err(|error| SandboxError::Invalid(error.to_string()))?;
    let ticks = (limits.timeout.as_millis() / TICK.as_millis()).max(1) as u64;
    store.set_epoch_deadline(ticks);
    let linker: Linker<Guest> = Linker::new(engine);
    let instance = linker.instantiate(&mut store, module).map_err(|error| trap_error(error, limits.timeout))?;
    let abi = |error: wasmtime::Error| SandboxError::Invalid(format!("{error:#}"));
    let version = instance.get_typed_func::<(), i32>(&mut store, "troupe_abi_version").map_err(abi)?;
    let version = version.call(&mut store, ()).map_err(|error| trap_error(error, limits.timeout))?;
    if version != ABI_VERSION {
        return Err(SandboxError::Invalid(format!(
            "the module speaks host ABI v{version}; this host speaks v{ABI_VERSION}"
        )));
    }
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or_else(|| SandboxError::Invalid("the module exports no memory".into()))?;
    let alloc = instance.get_typed_func::<i32, i32>(&mut store, "troupe_alloc").map_err(abi)?;
    let run = instance.get_typed_func::<(i32, i32), i64>(&mut store, "troupe_run").map_err(abi)?;
    let length = i32::try_from(input.len()).map_err(|_| SandboxError::Invalid("the input is too large".into()))?;
    let pointer = alloc.call(&mut store, length).map_err(|error| trap_error(error, limits.timeout))?;
    memory
        .write(&mut store, pointer as u32 as usize, input)
        .map_err(|_| SandboxError::Trapped("troupe_alloc returned memory the input does not fit in".into()))?;
    let packed = run.call(&mut store, (pointer, length)).map_err(|error| trap_error(error, limits.timeout))?;
    let packed = packed as u64;
    let (out_pointer, out_length) = ((packed >> 32) as usize, packed & 0xffff_ffff);
    if out_length > limits.max_output_bytes {
        return Err(SandboxError::OutputTooLarge { size: out_length, limit: limits.max_output_bytes });
    }
    let data = memory.data(&store);
    data.get(out_pointer..out_pointer + out_length as usize)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| SandboxError::Trapped("troupe_run answered an output outside its memory".into()))
}

#[cfg(test)]
mod tests;
