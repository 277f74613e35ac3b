//! Connecting: the URL scheme picks the backend, and bad URLs are refused with a clear error.

use fleet_store::{Backend, Store, StoreError};

#[tokio::test]
async fn unsupported_scheme_is_invalid() {
    let error = Store::connect("mysql://root@localhost/fleet")
        .await
        .unwrap_err();
    match error {
        StoreError::Invalid { field, reason } => {
            assert_eq!(field, "database_url");
            assert!(reason.contains("\"mysql\""), "{reason}");
        }
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn in_memory_sqlite_keeps_its_data_across_queries() {
    let store = Store::connect("sqlite::memory:").await.expect("connect");
    assert_eq!(store.backend(), Backend::Sqlite);
    store.set_meta("seeded_from", "test").await.unwrap();
    // The pool holds exactly one connection, so every query sees the same in-memory database.
    for _ in 0..3 {
        assert_eq!(
            store.get_meta("seeded_from").await.unwrap().as_deref(),
            Some("test")
        );
    }
}

#[tokio::test]
async fn sqlite_path_form_creates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.db");
    let store = Store::connect(&format!("sqlite:{}", path.display()))
        .await
        .expect("connect");
    store.ping().await.unwrap();
    assert!(path.exists());
    store.close().await;
}

#[tokio::test]
async fn unreachable_postgres_is_a_database_error() {
    // Port 1 on loopback refuses connections at once.
    let error = Store::connect("postgres://postgres@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Database(_)), "{error:?}");
}

/// A PostgreSQL address that accepts and never answers (issue 16 §5): the connect gives up at
/// its timeout instead of hanging the start forever.
#[tokio::test]
async fn a_silent_postgres_is_a_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    // Accept and hold every connection, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let timeout = std::time::Duration::from_millis(300);
    let url = format!("postgres://postgres@{address}/none");
    let connecting = Store::connect_with_timeout(&url, timeout);
    let error = tokio::time::timeout(std::time::Duration::from_secs(60), connecting)
        .await
        .expect("the connect gives up by itself")
        .unwrap_err();
    assert!(
        matches!(error, StoreError::ConnectTimeout { timeout: t } if t == timeout),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the database did not answer within 300ms"
    );
}
