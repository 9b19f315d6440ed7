//! `troupe bench memory`: the vector memory at scale.
//!
//! Inserts N points (default 100,000) of D dimensions (default 384) spread over U users (100)
//! in batches, builds the index (timed on its own, with searches running meanwhile to show
//! that building never blocks them), then runs top-k searches filtered to one user: inserts/s,
//! index build time, search p50/p99 before, during and after the build, and recall@k against
//! an exact search. Vectors are random and normalised (seeded), which is the hard case for an
//! index: no cluster structure to exploit. Runs on the embedded engine, and on a Qdrant server
//! too when `--qdrant-url` (or `QDRANT_URL`) is given, in a scratch collection dropped after.
//! Then a smaller run stores memories through the whole service (seal, SQLite, offline
//! embedder, vector) to show the end-to-end rate. Finally, when the local embedding model's
//! files are at hand (`--model-dir`, `TROUPE_EMBEDDINGS_MODEL_DIR`, or
//! `./troupe-data/models/all-MiniLM-L6-v2`), its cost: embeddings per second one at a time, with
//! concurrent callers (batched by its worker) and in one call, and a step's recall (a search of
//! the owner's memories for the step's input) with the local model and with the offline one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use troupe_memory::vector::{EdgeVectorMemory, QdrantSettings, QdrantVectorMemory};
use troupe_runtime::ids::UserId;
use troupe_runtime::memory::{MemoryPoint, MemoryQuery, NewMemory, VectorMemory};

/// Arguments of `troupe bench memory`.
#[derive(Debug, Args)]
pub struct MemoryBenchArgs {
    /// Points to insert.
    #[arg(long, default_value_t = 100_000)]
    pub points: usize,
    /// Users the points are spread over (round robin).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Vector dimension.
    #[arg(long, default_value_t = 384)]
    pub dimension: usize,
    /// Points per upsert.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Searches per measured phase.
    #[arg(long, default_value_t = 2_000)]
    pub searches: usize,
    /// Hits per search.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// How the vectors are spread: `clustered` (around 1,000 centres, like real embeddings of
    /// related texts) or `uniform` (random directions: the worst case for an index).
    #[arg(long, value_enum, default_value_t = Spread::Clustered)]
    pub data: Spread,
    /// The HNSW search beam (default: the engine's).
    #[arg(long)]
    pub hnsw_ef: Option<usize>,
    /// Memories stored through the whole service (0: skip that part).
    #[arg(long, default_value_t = 5_000)]
    pub service_memories: usize,
    /// The local embedding model's directory (default: `./troupe-data/models/all-MiniLM-L6-v2`
    /// when it is there; without a model that part is skipped).
    #[arg(long, env = "TROUPE_EMBEDDINGS_MODEL_DIR")]
    pub model_dir: Option<std::path::PathBuf>,
    /// Texts embedded per measured phase of the embedders' part (0: skip it).
    #[arg(long, default_value_t = 256)]
    pub embeddings: usize,
    /// A Qdrant server to measure as well (gRPC URL, e.g. http://127.0.0.1:6334).
    #[arg(long, env = "QDRANT_URL")]
    pub qdrant_url: Option<String>,
    /// The server's API key.
    #[arg(long, env = "QDRANT_API_KEY", hide_env_values = true)]
    pub qdrant_api_key: Option<String>,
}

/// How benchmark vectors are spread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Spread {
    /// Around 1,000 random centres.
    Clustered,
    /// Uniformly random directions.
    Uniform,
}

/// The number of centres of clustered data.
const CENTRES: usize = 1_000;

/// Runs the benchmark and prints its figures.
pub fn memory(args: &MemoryBenchArgs) -> anyhow::Result<std::process::ExitCode> {
    if args.points == 0 || args.users == 0 || args.dimension == 0 || args.batch == 0 || args.k == 0 {
        anyhow::bail!("--points, --users, --dimension, --batch and --k must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("async runtime")?;
    runtime.block_on(async {
        let data = Dataset::new(args);
        println!(
            "troupe bench memory: {} {:?} points × {} dimensions over {} users, batches of {}, top-{} searches filtered by user, hnsw_ef {}, {} cores",
            args.points,
            args.data,
            args.dimension,
            args.users,
            args.batch,
            args.k,
            args.hnsw_ef.map_or_else(|| "default".to_owned(), |ef| ef.to_string()),
            std::thread::available_parallelism().map_or(1, usize::from)
        );
        let dir = std::env::temp_dir().join(format!("troupe-bench-memory-{}", uuid::Uuid::now_v7()));
        let mut edge = EdgeVectorMemory::open(&dir.join("vectors"), args.dimension).await?;
        if let Some(ef) = args.hnsw_ef {
            edge = edge.with_search_ef(ef);
        }
        let edge = Arc::new(edge);
        measure("qdrant-edge (embedded)", edge, &data, args).await?;
        if let Some(url) = &args.qdrant_url {
            let settings = QdrantSettings {
                url: url.clone(),
                api_key: args.qdrant_api_key.clone(),
                collection: format!("troupe_bench_{}", uuid::Uuid::now_v7().simple()),
            };
            let server = Arc::new(QdrantVectorMemory::connect(&settings, args.dimension).await?);
            let result = measure("qdrant server", Arc::clone(&server) as Arc<dyn VectorMemory>, &data, args).await;
            server.drop_collection().await?;
            result?;
        }
        if args.service_memories > 0 {
            service(&dir, args).await?;
        }
        if args.embeddings > 0 {
            embedders(&dir, args).await?;
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(std::process::ExitCode::SUCCESS)
    })
}

/// The points and queries, generated once from a fixed seed.
struct Dataset {
    users: Vec<UserId>,
    points: Vec<MemoryPoint>,
    queries: Vec<(UserId, Vec<f32>)>,
}

fn random_unit(rng: &mut fastrand::Rng, dimension: usize) -> Vec<f32> {
    let mut vector: Vec<f32> = (0..dimension).map(|_| rng.f32() * 2.0 - 1.0).collect();
    let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    vector.iter_mut().for_each(|value| *value /= norm);
    vector
}

/// A point near `centre`: the centre plus a random direction at 0.6 of its length, normalised.
fn near(rng: &mut fastrand::Rng, centre: &[f32]) -> Vec<f32> {
    let noise = random_unit(rng, centre.len());
    let mut vector: Vec<f32> = centre.iter().zip(noise).map(|(c, n)| c + 0.6 * n).collect();
    let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    vector.iter_mut().for_each(|value| *value /= norm);
    vector
}

impl Dataset {
    fn new(args: &MemoryBenchArgs) -> Self {
        let mut rng = fastrand::Rng::with_seed(6);
        let users: Vec<UserId> = (0..args.users).map(|_| UserId::new()).collect();
        let centres: Vec<Vec<f32>> = (0..CENTRES).map(|_| random_unit(&mut rng, args.dimension)).collect();
        let draw = |rng: &mut fastrand::Rng| match args.data {
            Spread::Uniform => random_unit(rng, args.dimension),
            Spread::Clustered => {
                let centre = &centres[rng.usize(..CENTRES)];
                near(rng, centre)
            }
        };
        let created_at = troupe_runtime::model::now();
        let points = (0..args.points)
            .map(|index| MemoryPoint {
                id: uuid::Uuid::now_v7(),
                user: users[index % users.len()],
                vector: draw(&mut rng),
                kind: if index % 5 == 0 { "fact".into() } else { "note".into() },
                source: None,
                created_at,
            })
            .collect();
        let queries = (0..args.searches.max(1)).map(|index| (users[index % users.len()], draw(&mut rng))).collect();
        Self { users, points, queries }
    }

    /// The exact top-k of a query among the user's points.
    fn exact(&self, user: UserId, query: &[f32], k: usize) -> Vec<uuid::Uuid> {
        let mut scored: Vec<(f32, uuid::Uuid)> = self
            .points
            .iter()
            .filter(|point| point.user == user)
            .map(|point| (point.vector.iter().zip(query).map(|(a, b)| a * b).sum(), point.id))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(k).map(|(_, id)| id).collect()
    }
}

struct Latencies(Vec<Duration>);

impl Latencies {
    fn percentile(&mut self, fraction: f64) -> f64 {
        self.0.sort();
        let index = ((self.0.len() as f64 * fraction) as usize).min(self.0.len().saturating_sub(1));
        self.0.get(index).map_or(0.0, |latency| latency.as_secs_f64() * 1e3)
    }

    fn line(&mut self, label: &str) {
        println!(
            "  {label:<38} {:>6} searches  p50 {:>7.2} ms  p99 {:>7.2} ms",
            self.0.len(),
            self.percentile(0.50),
            self.percentile(0.99)
        );
    }
}

fn query(user: UserId, vector: &[f32], k: usize) -> MemoryQuery {
    MemoryQuery { user, vector: vector.to_vec(), limit: k, kinds: Vec::new(), exclude_kinds: Vec::new(), source: None }
}

/// Runs `count` searches one after another (or until `stop`), recording each latency.
async fn searches(
    vectors: &dyn VectorMemory,
    data: &Dataset,
    k: usize,
    count: usize,
    stop: Option<&AtomicBool>,
) -> anyhow::Result<Latencies> {
    let mut latencies = Vec::with_capacity(count.min(100_000));
    for (user, vector) in data.queries.iter().cycle().take(count) {
        if stop.is_some_and(|stop| stop.load(Ordering::Acquire)) {
            break;
        }
        let started = Instant::now();
        vectors.search(&query(*user, vector, k)).await?;
        latencies.push(started.elapsed());
    }
    Ok(Latencies(latencies))
}

async fn measure(
    label: &str,
    vectors: Arc<dyn VectorMemory>,
    data: &Dataset,
    args: &MemoryBenchArgs,
) -> anyhow::Result<()> {
    println!("{label}:");
    let started = Instant::now();
    for batch in data.points.chunks(args.batch) {
        vectors.upsert(batch.to_vec()).await?;
    }
    vectors.flush().await?;
    let insert = started.elapsed();
    println!(
        "  inserted {} points in {:.2} s: {:.0} inserts/s",
        data.points.len(),
        insert.as_secs_f64(),
        data.points.len() as f64 / insert.as_secs_f64()
    );
    let before = args.searches.min(200);
    searches(vectors.as_ref(), data, args.k, before, None).await?.line("before the index (exact scan)");

    let building = Arc::new(AtomicBool::new(false));
    let optimizer = tokio::spawn({
        let vectors = Arc::clone(&vectors);
        let building = Arc::clone(&building);
        async move {
            let started = Instant::now();
            let result = vectors.optimize().await;
            building.store(true, Ordering::Release);
            result.map(|optimized| (optimized, started.elapsed()))
        }
    });
    let mut during = searches(vectors.as_ref(), data, args.k, usize::MAX, Some(&building)).await?;
    let (optimized, build) = optimizer.await.context("the index build task")??;
    if optimized {
        println!("  index built in {:.2} s (in the background)", build.as_secs_f64());
        during.line("while the index was being built");
    } else {
        println!("  the backend builds its index by itself (no explicit build)");
    }
    let mut after = searches(vectors.as_ref(), data, args.k, args.searches, None).await?;
    after.line("after the index");

    // Recall@k against an exact scan, on a sample of queries.
    let sample = data.queries.len().min(200);
    let mut found = 0;
    for (user, vector) in data.queries.iter().take(sample) {
        let hits = vectors.search(&query(*user, vector, args.k)).await?;
        let exact = data.exact(*user, vector, args.k);
        found += hits.iter().filter(|hit| exact.contains(&hit.id)).count();
    }
    println!("  recall@{}: {:.3} over {sample} queries", args.k, found as f64 / (sample * args.k) as f64);
    let mut total = 0;
    for user in &data.users {
        total += vectors.count(*user).await?;
    }
    anyhow::ensure!(
        total as usize == data.points.len(),
        "{label}: {total} points counted, {} inserted",
        data.points.len()
    );
    Ok(())
}

/// Stores memories through the whole service: checks, AES-GCM, SQLite, offline embedding and
/// vector upsert — one request's worth of work each, one at a time — and the final flush.
async fn service(dir: &std::path::Path, args: &MemoryBenchArgs) -> anyhow::Result<()> {
    let config = crate::config::Config {
        vectors: troupe_memory::VectorBackend::Edge(dir.join("service-vectors")),
        embedder: crate::config::EmbedderSettings::Offline { dimension: args.dimension },
        ..crate::config::Config::for_tests(dir)
    };
    let stores = crate::system::open_stores(&config).await?;
    let secrets = crate::config::secrets::Secrets::load(&config)?;
    let service = crate::system::open_memories(&config, &stores, &secrets).await?;
    let users: Vec<UserId> = (0..args.users).map(|_| UserId::new()).collect();
    let started = Instant::now();
    for index in 0..args.service_memories {
        let text = format!(
            "memory {index}: the user prefers {} tea in the {} and keeps notes about project {}",
            ["green", "black", "mint", "oolong"][index % 4],
            ["morning", "afternoon", "evening"][index % 3],
            index % 97
        );
        let memory = NewMemory { kind: "note".into(), text, source: None, metadata: serde_json::Value::Null };
        service.store(users[index % users.len()], memory).await?;
    }
    service.vectors().flush().await?;
    let elapsed = started.elapsed();
    println!(
        "memory service (sealed, SQLite, offline embedder, qdrant-edge), one store at a time: {} memories in {:.2} s: {:.0} stores/s",
        args.service_memories,
        elapsed.as_secs_f64(),
        args.service_memories as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// A text like a memory or a step's input: 12 to 60 words of a small vocabulary.
fn sentence(rng: &mut fastrand::Rng) -> String {
    const WORDS: [&str; 24] = [
        "the", "customer", "wants", "an", "invoice", "service", "with", "a", "database", "for", "orders", "and",
        "reports", "every", "morning", "my", "daughter", "likes", "green", "tea", "after", "school", "project",
        "deadline",
    ];
    let words = rng.usize(12..=60);
    (0..words).map(|_| WORDS[rng.usize(..WORDS.len())]).collect::<Vec<_>>().join(" ")
}

/// The local model's cost, and a step's recall with it and with the offline embedder.
async fn embedders(dir: &std::path::Path, args: &MemoryBenchArgs) -> anyhow::Result<()> {
    let model_dir = args.model_dir.clone().unwrap_or_else(|| {
        crate::config::memory::default_model_dir(std::path::Path::new(crate::config::DEFAULT_DATA_DIR))
    });
    if !troupe_memory::local::model_present(&model_dir) {
        println!("local embedding model: not measured (no model in `{}`; --model-dir)", model_dir.display());
        return Ok(());
    }
    let settings = crate::config::EmbedderSettings::Local { model_dir, hub_url: None, fallback: false };
    let model = crate::embeddings::build(&settings, false).await?;
    let mut rng = fastrand::Rng::with_seed(7);
    let texts: Vec<String> = (0..args.embeddings).map(|_| sentence(&mut rng)).collect();
    model.embed(&texts[..8]).await?; // warm up: first-touch allocations
    let started = Instant::now();
    let mut latencies = Latencies(Vec::with_capacity(texts.len()));
    for text in &texts {
        let one = Instant::now();
        model.embed(std::slice::from_ref(text)).await?;
        latencies.0.push(one.elapsed());
    }
    let alone = texts.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let callers = 16;
    let chunks: Vec<Vec<String>> = texts.chunks(texts.len().div_ceil(callers)).map(<[String]>::to_vec).collect();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let model = Arc::clone(&model);
            tokio::spawn(async move {
                for text in chunk {
                    model.embed(&[text]).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let concurrent = texts.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    model.embed(&texts).await?;
    let one_call = texts.len() as f64 / started.elapsed().as_secs_f64();
    println!(
        "local embedding model ({}, 12-60 word texts): one at a time {alone:.0}/s (p50 {:.1} ms, p99 {:.1} ms); {callers} concurrent callers {concurrent:.0}/s; one call of {} {one_call:.0}/s",
        model.name(),
        latencies.percentile(0.50),
        latencies.percentile(0.99),
        texts.len()
    );
    for (label, embedder) in
        [("offline embedder", crate::config::EmbedderSettings::Offline { dimension: 384 }), ("local model", settings)]
    {
        recall(dir, label, embedder, &texts).await?;
    }
    Ok(())
}

/// A step's recall: the runtime searches the owner's memories (here 1,000 of them) for the
/// step's input, top 5, before the agent runs.
async fn recall(
    dir: &std::path::Path,
    label: &str,
    embedder: crate::config::EmbedderSettings,
    texts: &[String],
) -> anyhow::Result<()> {
    let place = dir.join(format!("recall-{}", uuid::Uuid::now_v7().simple()));
    let config = crate::config::Config {
        vectors: troupe_memory::VectorBackend::Edge(place.join("vectors")),
        embedder,
        ..crate::config::Config::for_tests(&place)
    };
    let stores = crate::system::open_stores(&config).await?;
    let secrets = crate::config::secrets::Secrets::load(&config)?;
    let service = crate::system::open_memories(&config, &stores, &secrets).await?;
    let user = UserId::new();
    let mut rng = fastrand::Rng::with_seed(11);
    for _ in 0..1_000 {
        let memory = NewMemory {
            kind: "note".into(),
            text: sentence(&mut rng),
            source: None,
            metadata: serde_json::Value::Null,
        };
        service.store(user, memory).await?;
    }
    service.vectors().flush().await?;
    service.vectors().optimize().await?;
    let mut latencies = Latencies(Vec::with_capacity(texts.len()));
    for text in texts {
        let started = Instant::now();
        service.search(user, &troupe_runtime::memory::MemorySearch::new(text.clone(), 5)).await?;
        latencies.0.push(started.elapsed());
    }
    println!(
        "a step's recall with the {label} (top 5 of 1,000 memories): p50 {:.2} ms, p99 {:.2} ms",
        latencies.percentile(0.50),
        latencies.percentile(0.99)
    );
    Ok(())
}
