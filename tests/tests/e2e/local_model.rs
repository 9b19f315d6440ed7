//! The local embedding model against the reference: sentence-transformers' all-MiniLM-L6-v2
//! gives cosine 0.755 for two sentences about eating and 0.00 for an unrelated one, so
//! tokenisation, the encoder, pooling and normalisation are all right only if these match.
//! The model's files come from `tests/model/minilm.sh` (see `troupe_memory::testing::model_dir`).

use std::sync::Arc;

use troupe::config::{Config, EmbedderSettings};
use troupe::embeddings::Switch;
use troupe_memory::embed::HashingEmbedder;
use troupe_memory::local::LocalEmbedder;
use troupe_runtime::embed::Embedder;
use troupe_runtime::ids::UserId;
use troupe_runtime::memory::{MemorySearch, NewMemory, RecalledMemory};

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

async fn model(test: &str) -> Option<Arc<LocalEmbedder>> {
    Some(model_for(&troupe_memory::testing::model_dir(test)?).await)
}

async fn model_for(dir: &std::path::Path) -> Arc<LocalEmbedder> {
    let dir = dir.to_owned();
    Arc::new(tokio::task::spawn_blocking(move || LocalEmbedder::load(&dir)).await.unwrap().unwrap())
}

#[tokio::test]
async fn vectors_match_the_reference_model() {
    let Some(model) = model("vectors_match_the_reference_model").await else { return };
    assert_eq!(model.name(), "local:all-MiniLM-L6-v2");
    assert_eq!(model.dimension(), 384);
    let texts: Vec<String> =
        ["A man is eating food.", "A man is eating a piece of bread.", "The sky is blue."].map(String::from).to_vec();
    let vectors = model.embed(&texts).await.unwrap();
    for vector in &vectors {
        assert_eq!(vector.len(), 384);
        assert!((cosine(vector, vector) - 1.0).abs() < 1e-4, "normalised");
    }
    let related = cosine(&vectors[0], &vectors[1]);
    let unrelated = cosine(&vectors[0], &vectors[2]);
    assert!((related - 0.755).abs() <= 0.01, "cosine(eating food, eating bread) = {related}, reference 0.755");
    assert!(unrelated.abs() <= 0.01, "cosine(eating food, sky is blue) = {unrelated}, reference 0.00");
}

#[tokio::test]
async fn batched_concurrent_and_single_requests_give_the_same_vectors() {
    let Some(model) = model("batched_concurrent_and_single_requests_give_the_same_vectors").await else { return };
    let texts: Vec<String> = (0..40)
        .map(|index| format!("note {index}: {}", "the quick brown fox jumps over the lazy dog ".repeat(index % 7 + 1)))
        .collect();
    let mut single = Vec::new();
    for text in &texts {
        single.push(model.embed(std::slice::from_ref(text)).await.unwrap().remove(0));
    }
    // One request of 40 texts (batches of mixed lengths, padded) …
    let batched = model.embed(&texts).await.unwrap();
    // … and 40 requests at once (the worker gathers them into batches).
    let concurrent = futures::future::join_all(texts.iter().map(|text| {
        let model = Arc::clone(&model);
        let text = text.clone();
        async move { model.embed(&[text]).await.unwrap().remove(0) }
    }))
    .await;
    for index in 0..texts.len() {
        for (how, other) in [("batched", &batched[index]), ("concurrent", &concurrent[index])] {
            let agreement = cosine(&single[index], other);
            assert!(agreement > 0.9999, "text {index}: {how} differs from alone (cosine {agreement})");
        }
    }
}

#[tokio::test]
async fn long_texts_are_cut_and_bad_input_is_refused() {
    let Some(model) = model("long_texts_are_cut_and_bad_input_is_refused").await else { return };
    let long = "memories are found by meaning. ".repeat(1000);
    let vector = model.embed(&[long]).await.unwrap().remove(0);
    assert_eq!(vector.len(), 384);
    assert!(vector.iter().all(|value| value.is_finite()));
    let error = model.embed(&["fine".into(), "  ".into()]).await.unwrap_err();
    assert!(error.to_string().contains("text 1 is empty"), "{error}");
}

#[test]
fn a_broken_model_directory_is_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let error = LocalEmbedder::load(dir.path()).unwrap_err().to_string();
    assert!(error.contains("config.json"), "{error}");
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 3, "intermediate_size": 8, "max_position_embeddings": 8, "type_vocab_size": 2,
        "layer_norm_eps": 1e-12}"#,
    )
    .unwrap();
    let error = LocalEmbedder::load(dir.path()).unwrap_err().to_string();
    assert!(error.contains("num_attention_heads"), "{error}");
}

/// Sixteen personal notes, each with a question that asks for it in other words.
const NOTES: [(&str, &str); 16] = [
    (
        "My daughter is allergic to peanuts, so we keep nut snacks out of the house.",
        "Which foods could give my kid a reaction?",
    ),
    (
        "The car's annual inspection is due in March at the garage on Elm Street.",
        "When does my vehicle need its yearly check-up?",
    ),
    (
        "I take my blood pressure pills every morning with breakfast.",
        "What medication do I swallow at the start of the day?",
    ),
    ("Our wifi password is written on the back of the router.", "Where can I find the code to get online at home?"),
    (
        "Grandma's birthday is on the 14th of July; she loves orchids.",
        "What flowers should I buy for my grandmother's celebration?",
    ),
    (
        "The team stand-up meeting happens at 9:30 every weekday on Zoom.",
        "What time is the daily sync with colleagues?",
    ),
    ("I'm learning Spanish and practise with an app for twenty minutes each evening.", "Which language am I studying?"),
    ("The landlord said rent goes up by 5% starting in September.", "Is my housing cost increasing soon?"),
    (
        "Max, our golden retriever, needs his rabies vaccine renewed next month.",
        "When is the dog due for shots at the vet?",
    ),
    (
        "I ran my first half marathon in 1 hour 58 minutes last spring.",
        "What was my finishing time for the 21 km race?",
    ),
    (
        "My passport expires in November 2027; renew it before travelling abroad.",
        "When do my travel documents run out?",
    ),
    (
        "The kitchen sink leaks under the cabinet whenever the dishwasher drains.",
        "Where is water dripping in the house?",
    ),
    ("I prefer window seats on flights and always order a vegetarian meal.", "What are my airplane preferences?"),
    (
        "Dad is recovering from knee surgery and can't climb stairs for six weeks.",
        "How is my father's leg operation healing?",
    ),
    (
        "Our savings goal is 10,000 euros for a house deposit by the end of next year.",
        "How much money are we putting aside to buy a home?",
    ),
    (
        "The tomato plants on the balcony need water every two days in summer.",
        "How often do the garden vegetables need a drink?",
    ),
];

/// How many questions find their own note first.
async fn first_hits(memories: &troupe_memory::MemoryService, user: UserId, ids: &[uuid::Uuid]) -> usize {
    let mut hits = 0;
    for ((_, question), id) in NOTES.iter().zip(ids) {
        let found = memories.search(user, &MemorySearch::new(*question, 3)).await.unwrap();
        if found.first().map(|hit| hit.memory.id) == Some(*id) {
            hits += 1;
        } else {
            eprintln!("`{question}` found {:?}", found.iter().map(|hit| &hit.memory.text).collect::<Vec<_>>());
        }
    }
    hits
}

fn note(text: &str) -> NewMemory {
    NewMemory { kind: "note".into(), text: text.into(), source: None, metadata: serde_json::Value::Null }
}

/// The memory service of a data dir, as `troupe serve` opens it, with this embedder.
async fn open(dir: &std::path::Path, embedder: EmbedderSettings) -> (troupe_memory::MemoryService, Option<Switch>) {
    let config = Config { embedder, ..Config::for_tests(dir) };
    let stores = troupe::system::open_stores(&config).await.unwrap();
    let secrets = troupe::config::secrets::Secrets::load(&config).unwrap();
    troupe::embeddings::open(&config, &stores, &secrets, false).await.unwrap()
}

fn local(model_dir: &std::path::Path) -> EmbedderSettings {
    EmbedderSettings::Local { model_dir: model_dir.to_owned(), hub_url: None, fallback: false }
}

/// Whether every hit's score is its cosine under `embedder` (to rounding).
async fn scored_by(embedder: &dyn Embedder, query: &str, found: &[RecalledMemory]) -> bool {
    let mut texts = vec![query.to_owned()];
    texts.extend(found.iter().map(|hit| hit.memory.text.clone()));
    let vectors = embedder.embed(&texts).await.unwrap();
    found.iter().zip(&vectors[1..]).all(|(hit, vector)| (cosine(&vectors[0], vector) - hit.score).abs() < 2e-3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paraphrases_find_their_memory_first_with_the_local_model() {
    let Some(model_dir) = troupe_memory::testing::model_dir("paraphrases_find_their_memory_first") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (memories, switch) = open(dir.path(), local(&model_dir)).await;
    assert!(switch.is_none(), "a new data dir starts with the configured embedder");
    assert_eq!(memories.embedder().name(), "local:all-MiniLM-L6-v2");
    let user = UserId::new();
    let mut ids = Vec::new();
    for (text, _) in NOTES {
        ids.push(memories.store(user, note(text)).await.unwrap().id);
    }
    let hits = first_hits(&memories, user, &ids).await;
    assert!(hits >= 14, "the right memory came first for {hits} of 16 paraphrased questions");

    // The same notes and questions with the offline embedder, for comparison (it matches
    // words, and these questions share few with their notes).
    let elsewhere = tempfile::tempdir().unwrap();
    let (offline, _) = open(elsewhere.path(), EmbedderSettings::Offline { dimension: 384 }).await;
    let mut offline_ids = Vec::new();
    for (text, _) in NOTES {
        offline_ids.push(offline.store(user, note(text)).await.unwrap().id);
    }
    let offline_hits = first_hits(&offline, user, &offline_ids).await;
    eprintln!("right memory first: local model {hits}/16, offline embedder {offline_hits}/16");
    assert!(hits > offline_hits, "the local model finds by meaning what word hashing misses");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_to_the_local_model_re_embeds_every_memory_and_never_mixes_models() {
    let Some(model_dir) = troupe_memory::testing::model_dir("switching_to_the_local_model") else { return };
    let dir = tempfile::tempdir().unwrap();
    let user = UserId::new();
    let mut ids = Vec::new();
    {
        let (memories, _) = open(dir.path(), EmbedderSettings::Offline { dimension: 384 }).await;
        for (text, _) in NOTES {
            ids.push(memories.store(user, note(text)).await.unwrap().id);
        }
        memories.vectors().flush().await.unwrap();
    }
    let record = || std::fs::read_to_string(dir.path().join("vectors.active")).unwrap();
    assert!(record().contains("offline-hashing/384"), "{}", record());

    let (memories, switch) = open(dir.path(), local(&model_dir)).await;
    let switch = switch.expect("another embedder made the vectors: a switch is under way");
    let hashing = HashingEmbedder::default();
    let model = model_for(&model_dir).await;
    // Before the switch has run: the old vectors answer, with the old embedder.
    let query = NOTES[0].1;
    let found = memories.search(user, &MemorySearch::new(query, 16)).await.unwrap();
    assert_eq!(found.len(), 16);
    assert!(scored_by(&hashing, query, &found).await, "answers from the offline embedder's vectors");
    // A memory stored during the switch lands in both generations.
    let late = memories.store(user, note("The plumber comes on Thursday at noon.")).await.unwrap();

    let memories = Arc::new(memories);
    let searching = {
        let memories = Arc::clone(&memories);
        tokio::spawn(async move {
            let mut answers = (0, 0);
            let mut every = tokio::time::interval(std::time::Duration::from_millis(5));
            while memories.rebuilding_for().is_some() {
                every.tick().await;
                let found = memories.search(user, &MemorySearch::new(query, 17)).await.unwrap();
                assert_eq!(found.len(), 17, "every memory is found at every moment of the switch");
                answers.0 += 1;
                if scored_by(model.as_ref(), query, &found).await {
                    answers.1 += 1;
                } else {
                    assert!(scored_by(&hashing, query, &found).await, "one model only: {found:?}");
                }
            }
            answers
        })
    };
    switch.run(&memories).await.unwrap();
    let (answers, _) = searching.await.unwrap();
    assert!(answers > 0, "searches ran during the switch");

    assert!(record().contains("local:all-MiniLM-L6-v2/384"), "{}", record());
    assert!(!dir.path().join("vectors").exists(), "the old vectors are removed");
    let model = model_for(&model_dir).await;
    let found = memories.search(user, &MemorySearch::new(query, 17)).await.unwrap();
    assert_eq!(found.len(), 17);
    assert!(found.iter().any(|hit| hit.memory.id == late.id));
    assert!(scored_by(model.as_ref(), query, &found).await, "answers from the local model's vectors");
    assert!(first_hits(&memories, user, &ids).await >= 14, "found by meaning after the switch");
    drop(memories);

    // The next start finds the local model's vectors recorded: nothing to switch.
    let (_, switch) = open(dir.path(), local(&model_dir)).await;
    assert!(switch.is_none());
}

/// A stand-in for the Hugging Face hub serving the model's files from `dir` at their pinned
/// paths, with `tamper` applied to each file's bytes; returns its base URL.
async fn hub(dir: &std::path::Path, tamper: fn(&str, Vec<u8>) -> Vec<u8>) -> String {
    let dir = dir.to_owned();
    let prefix = format!("/{}/resolve/{}/", troupe_memory::local::HUB_REPOSITORY, troupe_memory::local::HUB_REVISION);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let dir = dir.clone();
        let file = uri.path().strip_prefix(&prefix).map(str::to_owned);
        async move {
            match file.and_then(|file| std::fs::read(dir.join(&file)).ok().map(|bytes| tamper(&file, bytes))) {
                Some(bytes) => (axum::http::StatusCode::OK, bytes),
                None => (axum::http::StatusCode::NOT_FOUND, Vec::new()),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_fetches_the_pinned_model_once_and_refuses_a_tampered_file() {
    let Some(model_dir) = troupe_memory::testing::model_dir("serve_fetches_the_pinned_model") else { return };
    // A tampered tokenizer is refused, and nothing half-fetched is left to be loaded.
    let dir = tempfile::tempdir().unwrap();
    let target = troupe::embeddings::default_model_dir(dir.path());
    let bad = hub(&model_dir, |file, mut bytes| {
        if file == "tokenizer.json" {
            bytes.extend_from_slice(b" ");
        }
        bytes
    })
    .await;
    let error = troupe::embeddings::fetch_model(&bad, &target).await.unwrap_err().to_string();
    assert!(error.contains("tokenizer.json") && error.contains("SHA-256"), "{error}");
    assert!(!troupe_memory::local::model_present(&target));

    // `serve` with no embedder chosen fetches the files and uses the model; the choice falls
    // back to the offline embedder when the hub cannot be reached.
    let good = hub(&model_dir, |_, bytes| bytes).await;
    let auto =
        |hub_url: String| EmbedderSettings::Local { model_dir: target.clone(), hub_url: Some(hub_url), fallback: true };
    let embedder = troupe::embeddings::build(&auto(good), true).await.unwrap();
    assert_eq!(embedder.name(), "local:all-MiniLM-L6-v2");
    assert!(troupe_memory::local::model_present(&target));
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let elsewhere = tempfile::tempdir().unwrap();
    let offline = EmbedderSettings::Local {
        model_dir: elsewhere.path().join("model"),
        hub_url: Some(closed.clone()),
        fallback: true,
    };
    assert_eq!(troupe::embeddings::build(&offline, true).await.unwrap().name(), "offline-hashing");
    // Chosen explicitly, a model that cannot be had stops the start instead.
    let chosen =
        EmbedderSettings::Local { model_dir: elsewhere.path().join("model"), hub_url: Some(closed), fallback: false };
    let error = troupe::embeddings::build(&chosen, true).await.err().unwrap().to_string();
    assert!(error.contains("cannot fetch"), "{error}");
}
