use super::secrets::Secrets;
use super::*;

fn in_dir(dir: &Path) -> Settings {
    Settings { data_dir: Some(dir.to_path_buf()), ..Settings::default() }
}

#[test]
fn development_generates_private_secrets_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::resolve(&in_dir(dir.path())).unwrap();
    assert_eq!(config.addr, DEFAULT_ADDR.parse().unwrap());
    let first = Secrets::load(&config).unwrap();
    let second = Secrets::load(&config).unwrap();
    assert_eq!(first.jwt, second.jwt);
    assert!(first.jwt.len() >= MIN_SECRET_LEN);
    use std::os::unix::fs::PermissionsExt;
    for file in ["jwt-secret", "research-key", "memory-keys"] {
        let mode = std::fs::metadata(dir.path().join(file)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let printed = format!("{config:?}");
    assert!(!printed.contains(&first.jwt), "the secret is never printed");
}

#[test]
fn production_refuses_missing_or_weak_secrets_and_an_unconfined_box() {
    let dir = tempfile::tempdir().unwrap();
    let mut production = Settings { env: Some(Environment::Production), ..in_dir(dir.path()) };
    let error = Config::resolve(&production).unwrap_err().to_string();
    assert!(error.contains("needs TROUPE_JWT_SECRET"), "{error}");
    production.jwt_secret = Some("short".into());
    let error = Config::resolve(&production).unwrap_err().to_string();
    assert!(error.contains("too short"), "{error}");
    production.jwt_secret = Some("x".repeat(40));
    let error = Config::resolve(&production).unwrap_err().to_string();
    assert!(error.contains("TROUPE_MEMORY_KEYS"), "{error}");
    production.memory_keys =
        Some(format!("k1:{}", base64::engine::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32])));
    let error = Config::resolve(&production).unwrap_err().to_string();
    assert!(error.contains("TROUPE_RESEARCH_KEY"), "{error}");
    production.research_key =
        Some(base64::engine::Engine::encode(&base64::engine::general_purpose::STANDARD, [9u8; 32]));
    let config = Config::resolve(&production).unwrap();
    assert!(config.http.restrict_demo_agents, "production keeps demo agents out of users' pipelines");
    production.sandbox_mode = Some("unconfined-development".into());
    let error = Config::resolve(&production).unwrap_err().to_string();
    assert!(error.contains("production refuses it"), "{error}");
    production.sandbox_mode = None;
    production.insecure_fast_hashing = Some(true);
    assert!(Config::resolve(&production).is_err());
}

#[test]
fn llm_settings_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let error = "gpt".parse::<ProviderArg>().unwrap_err();
    assert!(error.contains("unknown LLM provider `gpt`"), "{error}");
    for spelling in ["", "Offline", "VLLM", "ollama", "llamacpp", "llama.cpp", "openai", "Gemini"] {
        assert!(spelling.parse::<ProviderArg>().is_ok(), "{spelling}");
    }
    let mut llm = Settings { llm_provider: Some("ollama".parse().unwrap()), ..in_dir(dir.path()) };
    let error = Config::resolve(&llm).unwrap_err().to_string();
    assert!(error.contains("TROUPE_LLM_MODEL"), "{error}");
    llm.llm_model = Some("llama3.1".into());
    llm.llm_base_url = Some("http://127.0.0.1:11434/v1".into());
    llm.llm_api_key = Some("secret-key".into());
    let config = Config::resolve(&llm).unwrap();
    assert!(!format!("{config:?}").contains("secret-key"));
}

#[test]
fn flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("troupe.toml");
    std::fs::write(&file, "addr = \"127.0.0.1:9000\"\nenv = \"development\"\nsandbox_slots = 3\n").unwrap();
    let from_file = in_dir(dir.path()).layered(Settings::from_file(&file).unwrap()).unwrap();
    let config = Config::resolve(&from_file).unwrap();
    assert_eq!(config.addr, "127.0.0.1:9000".parse().unwrap());
    assert_eq!(config.agents.sandbox.slots, 3);
    let given = Settings { addr: Some("127.0.0.1:9001".parse().unwrap()), ..in_dir(dir.path()) };
    let config = Config::resolve(&given.layered(Settings::from_file(&file).unwrap()).unwrap()).unwrap();
    assert_eq!(config.addr, "127.0.0.1:9001".parse().unwrap());
    std::fs::write(&file, "adress = \"x\"\n").unwrap();
    let error = format!("{:#}", Settings::from_file(&file).unwrap_err());
    assert!(error.contains("unknown field `adress`"), "{error}");
}
