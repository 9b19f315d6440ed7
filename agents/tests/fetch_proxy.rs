//! Proxy variables of the environment are ignored by the fetcher: a proxy would resolve names
//! itself, past the address checks. (One test per process: it sets the variables.)

use troupe_agents::fetch::{FetchPolicy, Fetcher};

#[tokio::test]
#[expect(unsafe_code, reason = "setting environment variables is unsafe since edition 2024")]
async fn proxy_variables_are_ignored() {
    // A proxy that does not exist: a fetch through it would fail.
    for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        // SAFETY: this test binary runs this one test, before any other thread reads the
        // environment.
        unsafe { std::env::set_var(name, "http://127.0.0.1:9") };
    }
    let app = axum::Router::new().route("/page", axum::routing::get(|| async { "through no proxy" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let fetcher = Fetcher::new(FetchPolicy { allow: vec!["127.0.0.1".into()], ..FetchPolicy::default() });
    let fetched = fetcher.get(&format!("http://{addr}/page")).await.unwrap();
    assert_eq!(fetched.body, b"through no proxy");
}
