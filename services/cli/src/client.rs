//! The CLI's one way to the planner: a `fleet.v1.PlannerService` client, either over gRPC to
//! `--endpoint`, or — with no endpoint — to the same service running in this process on the
//! embedded default database. Both go through the same request validation, solve, storage and
//! response mapping, so both print the same plan.

use fleet_planner::auth::BearerToken;
use fleet_planner::grpc::PlannerGrpc;
use fleet_planner::metrics::Metrics;
use fleet_planner::service::{Planner, PlannerSettings, default_database_url};
use fleet_planner::tls::{CaCertificate, client_tls_config};
use fleet_proto::v1::planner_service_client::PlannerServiceClient;
use fleet_proto::v1::planner_service_server::PlannerServiceServer;
use fleet_store::Store;
use tonic::transport::{Channel, Endpoint};

use crate::Failure;

/// A planner client over the network or in this process, with the bearer token to present.
pub struct Client {
    /// Where calls go.
    pub transport: Transport,
    token: Option<tonic::metadata::AsciiMetadataValue>,
}

/// How to check an `https://` endpoint's certificate; unused without an endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsOptions<'a> {
    /// PEM file of the CA to trust (`--tls-ca-file`); required for `https://`.
    pub ca_file: Option<&'a std::path::Path>,
    /// Name to check the certificate for (`--tls-domain`), instead of the endpoint's host.
    pub domain: Option<&'a str>,
}

/// Where a [`Client`]'s calls go.
pub enum Transport {
    /// gRPC to a running `fleet-planner`.
    Remote(PlannerServiceClient<Channel>),
    /// The service itself, called without a transport.
    Local(PlannerServiceClient<PlannerServiceServer<PlannerGrpc>>),
}

/// Calls one RPC on whichever client this is and maps a failed status to a [`Failure`].
#[macro_export]
macro_rules! rpc {
    ($client:expr, $method:ident, $request:expr) => {{
        let request = $client.request($request);
        let result = match &mut $client.transport {
            $crate::client::Transport::Remote(client) => client.$method(request).await,
            $crate::client::Transport::Local(client) => client.$method(request).await,
        };
        result
            .map(tonic::Response::into_inner)
            .map_err($crate::client::failure_from_status)
    }};
}

impl Client {
    /// Connects to `endpoint` (over TLS for `https://`), or opens the in-process planner on
    /// `database_url` (default: the SQLite file in the user's data directory).
    pub async fn open(
        endpoint: Option<&str>,
        database_url: Option<&str>,
        token_file: Option<&std::path::Path>,
        tls: TlsOptions<'_>,
        settings: PlannerSettings,
    ) -> Result<Client, Failure> {
        let token = match token_file {
            Some(path) => {
                let token =
                    BearerToken::from_file(path).map_err(|message| Failure { code: 2, message })?;
                Some(token.header_value().parse().map_err(|_| Failure {
                    code: 2,
                    message: format!("token file {}: not a valid header value", path.display()),
                })?)
            }
            None => None,
        };
        let transport = Client::open_transport(endpoint, database_url, tls, settings).await?;
        Ok(Client { transport, token })
    }

    /// Wraps a message in a request carrying the bearer token, if any.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(token) = &self.token {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        request
    }

    async fn open_transport(
        endpoint: Option<&str>,
        database_url: Option<&str>,
        tls: TlsOptions<'_>,
        settings: PlannerSettings,
    ) -> Result<Transport, Failure> {
        match endpoint {
            Some(endpoint) => {
                let bad_input = |message: String| Failure { code: 2, message };
                let mut channel = Endpoint::from_shared(endpoint.to_string()).map_err(|error| {
                    bad_input(format!(
                        "invalid value '{endpoint}' for '--endpoint': {error}"
                    ))
                })?;
                let ca = tls
                    .ca_file
                    .map(CaCertificate::load)
                    .transpose()
                    .map_err(|error| bad_input(error.to_string()))?;
                if let Some(config) = client_tls_config(endpoint, ca.as_ref(), tls.domain)
                    .map_err(|error| bad_input(error.to_string()))?
                {
                    channel = channel.tls_config(config).map_err(|error| {
                        let path = tls.ca_file.unwrap_or_else(|| std::path::Path::new(""));
                        bad_input(format!(
                            "--tls-ca-file {}: {}",
                            path.display(),
                            error_chain(&error)
                        ))
                    })?;
                }
                let channel: Channel = channel.connect().await.map_err(|error| Failure {
                    code: 1,
                    message: format!(
                        "cannot reach the planner at {endpoint}: {}",
                        error_chain(&error)
                    ),
                })?;
                Ok(Transport::Remote(
                    PlannerServiceClient::new(channel)
                        .max_decoding_message_size(fleet_planner::grpc::MAX_RESPONSE_BYTES),
                ))
            }
            None => {
                let url = match database_url {
                    Some(url) => url.to_string(),
                    None => default_database_url().map_err(|error| Failure {
                        code: 1,
                        message: error.to_string(),
                    })?,
                };
                let store = Store::connect(&url).await.map_err(|error| Failure {
                    code: 1,
                    message: format!("cannot open the planner database {url}: {error}"),
                })?;
                let planner = Planner::open(store, settings, Metrics::new())
                    .await
                    .map_err(|error| Failure {
                        code: 1,
                        message: format!("cannot open the planner on {url}: {error}"),
                    })?;
                Ok(Transport::Local(
                    PlannerServiceClient::new(PlannerGrpc::new(planner).into_server())
                        .max_decoding_message_size(fleet_planner::grpc::MAX_RESPONSE_BYTES),
                ))
            }
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Returns the CLI failure for a gRPC status: bad input exits 2, an infeasible request 3,
/// anything else 1; the message is the server's one line.
pub fn failure_from_status(status: tonic::Status) -> Failure {
    use tonic::Code;
    let code = match status.code() {
        Code::InvalidArgument | Code::NotFound | Code::AlreadyExists | Code::OutOfRange => 2,
        Code::FailedPrecondition => 3,
        Code::Unauthenticated | Code::PermissionDenied => 4,
        _ => 1,
    };
    let message = match status.code() {
        Code::Unavailable if status.message().is_empty() => {
            "the planner is unavailable".to_string()
        }
        _ => status.message().to_string(),
    };
    Failure { code, message }
}
