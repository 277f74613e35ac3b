//! gRPC over TLS end to end: a server on 127.0.0.1:0 with the fixture certificate (signed by
//! `tests/fixtures/tls/ca.pem` for `localhost` and 127.0.0.1, see `generate.sh` there) answers a
//! client that trusts that CA, and refuses plaintext clients and clients that trust another CA.
//! `/metrics` stays plaintext.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fleet_planner::server::{ServeOptions, serve};
use fleet_planner::tls::{CaCertificate, ServerIdentity, client_tls_config};
use fleet_proto::v1 as pb;
use fleet_proto::v1::planner_service_client::PlannerServiceClient;
use fleet_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

struct TlsServer {
    grpc: SocketAddr,
    metrics: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    async fn start() -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("planner.db").display());
        let store = Store::connect(&url).await.unwrap();
        let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = grpc_listener.local_addr().unwrap();
        let metrics = metrics_listener.local_addr().unwrap();
        let options = ServeOptions {
            readiness_interval: Duration::from_millis(100),
            tls: Some(
                ServerIdentity::load(&fixture("server.pem"), &fixture("server.key")).unwrap(),
            ),
            ..ServeOptions::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            grpc_listener,
            Some(metrics_listener),
            store,
            options,
            async move {
                let _ = stopped.await;
            },
        ));
        TlsServer {
            grpc,
            metrics,
            stop,
            task,
            _dir: dir,
        }
    }

    /// Connects over https trusting `ca`, checking the certificate for `domain`.
    async fn connect(
        &self,
        host: &str,
        ca: &str,
        domain: Option<&str>,
    ) -> Result<Channel, tonic::transport::Error> {
        let endpoint = format!("https://{host}:{}", self.grpc.port());
        let ca = CaCertificate::load(&fixture(ca)).unwrap();
        let tls = client_tls_config(&endpoint, Some(&ca), domain)
            .unwrap()
            .expect("https gets a TLS config");
        Endpoint::from_shared(endpoint)
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .tls_config(tls)?
            .connect()
            .await
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops within 10 s of the shutdown signal")
            .unwrap()
            .unwrap();
    }
}

fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn liveness(channel: Channel) -> Result<i32, tonic::Status> {
    HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "liveness".to_string(),
        })
        .await
        .map(|response| response.into_inner().status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trusting_the_ca_proposes_over_tls() {
    let server = TlsServer::start().await;
    let channel = server.connect("localhost", "ca.pem", None).await.unwrap();
    assert_eq!(
        liveness(channel.clone()).await.unwrap(),
        ServingStatus::Serving as i32
    );
    let plan = PlannerServiceClient::new(channel)
        .propose(pb::ProposeRequest {
            workloads: vec![pb::Workload {
                name: "chat".into(),
                monthly_tokens: 1_500_000_000,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert!(!plan.id.is_empty());
    assert!(plan.cost.unwrap().total_usd > 0.0);

    // The certificate also names 127.0.0.1; another name is refused unless the client checks
    // the certificate for a name it holds (--tls-domain).
    let by_ip = server.connect("127.0.0.1", "ca.pem", None).await.unwrap();
    assert!(liveness(by_ip).await.is_ok());
    let overridden = server
        .connect("127.0.0.1", "ca.pem", Some("localhost"))
        .await
        .unwrap();
    assert!(liveness(overridden).await.is_ok());
    let wrong_name = server
        .connect("127.0.0.1", "ca.pem", Some("planner.example"))
        .await
        .expect_err("the certificate does not name planner.example");
    assert!(
        error_text(&wrong_name).contains("certificate"),
        "{}",
        error_text(&wrong_name)
    );

    // Metrics stay plaintext HTTP.
    let mut stream = tokio::net::TcpStream::connect(server.metrics)
        .await
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    assert!(
        response.contains("fleet_planner_plans_stored_total 1"),
        "{response}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_untrusting_clients_are_refused() {
    let server = TlsServer::start().await;
    // Proves the server is up and answering TLS before the refusals are read as such.
    let trusted = server.connect("localhost", "ca.pem", None).await.unwrap();
    assert!(liveness(trusted).await.is_ok());

    let plaintext = async {
        let channel = Channel::from_shared(format!("http://{}", server.grpc))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|error| error_text(&error))?;
        tokio::time::timeout(Duration::from_secs(10), liveness(channel))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|status| status.to_string())
    }
    .await;
    assert!(plaintext.is_err(), "a plaintext client got {plaintext:?}");

    let untrusting = server
        .connect("localhost", "other-ca.pem", None)
        .await
        .expect_err("a client trusting another CA must not connect");
    let text = error_text(&untrusting);
    assert!(text.contains("UnknownIssuer"), "{text}");
    server.stop().await;
}

#[test]
fn serve_options_debug_shows_neither_the_key_nor_the_token() {
    let options = ServeOptions {
        auth: fleet_planner::auth::AuthPolicy {
            token: Some(fleet_planner::auth::BearerToken::new("s3cret-token").unwrap()),
            protect_reads: true,
        },
        tls: Some(ServerIdentity::load(&fixture("server.pem"), &fixture("server.key")).unwrap()),
        ..ServeOptions::default()
    };
    let debug = format!("{options:?}");
    let key = std::fs::read_to_string(fixture("server.key")).unwrap();
    let key_body = key.lines().nth(1).unwrap();
    assert!(debug.contains("server.pem"), "{debug}");
    assert!(!debug.contains("s3cret-token"), "{debug}");
    assert!(
        !debug.contains(key_body) && !debug.contains("PRIVATE KEY"),
        "{debug}"
    );
}
