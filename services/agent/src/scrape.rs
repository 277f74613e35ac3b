//! Reading a llama-server: a small HTTP/1 client, the Prometheus text parser, and typed views of
//! `/health`, `/props`, `/metrics` and `/slots`.
//!
//! The parser is deliberately strict: a line that is neither a comment nor a well-formed sample is
//! an error that names the line, because a half-understood `/metrics` body would silently turn into
//! wrong rates.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// Largest response body the agent reads from a worker; `/slots` on a 64-slot server is well
/// under this, and a misbehaving endpoint cannot make the agent buffer more.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Response header llama-server sets on `/metrics`: a per-boot monotonic value (not a Unix time),
/// usable only to notice that the server restarted.
pub const PROCESS_START_HEADER: &str = "process-start-time-unix";

/// Errors of one request to a worker.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The worker URL plus path is not a valid `http://` URI.
    #[error("invalid url {url}")]
    InvalidUrl {
        /// The URL that failed to parse.
        url: String,
    },
    /// Connecting or sending failed (connection refused, reset, ...).
    #[error("request to {url} failed: {source}")]
    Request {
        /// The requested URL.
        url: String,
        /// The client error.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// The worker did not answer within the scrape timeout.
    #[error("request to {url} timed out after {timeout_ms} ms")]
    Timeout {
        /// The requested URL.
        url: String,
        /// The timeout that expired.
        timeout_ms: u128,
    },
    /// The worker answered with a non-success status.
    #[error("{url} answered {status}")]
    Status {
        /// The requested URL.
        url: String,
        /// The HTTP status.
        status: StatusCode,
    },
    /// Reading the body failed or it exceeded the size limit.
    #[error("reading body of {url} failed: {reason}")]
    Body {
        /// The requested URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The body is not the JSON the agent expects.
    #[error("{url} returned unexpected json: {source}")]
    Json {
        /// The requested URL.
        url: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The `/metrics` body is not valid Prometheus text.
    #[error("{url}: {source}")]
    Metrics {
        /// The requested URL.
        url: String,
        /// The parse error, naming the line.
        #[source]
        source: ParseError,
    },
    /// A counter the rates need is absent (server too old, or not llama-server).
    #[error("{url} has no metric {name}")]
    MissingMetric {
        /// The requested URL.
        url: String,
        /// The missing metric name.
        name: &'static str,
    },
}

/// A response read in full.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// A small HTTP/1 client (hyper-util's pooled client) with a per-request timeout.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// Returns a client whose requests fail after `timeout` (connect, headers and body together).
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(4)
            .build(connector);
        Self { inner, timeout }
    }

    /// Returns the request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `GET url` and reads the whole response; a non-2xx status is an error.
    pub async fn get(&self, url: &str) -> Result<HttpResponse, ScrapeError> {
        self.send(Method::GET, url, None, self.timeout).await
    }

    /// Sends `POST url` with a JSON body and reads the whole response within `timeout`; a non-2xx
    /// status is an error.
    pub async fn post_json(
        &self,
        url: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<HttpResponse, ScrapeError> {
        self.send(Method::POST, url, Some(body), timeout).await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<HttpResponse, ScrapeError> {
        let uri: Uri = url.parse().map_err(|_| ScrapeError::InvalidUrl {
            url: url.to_owned(),
        })?;
        let mut builder = Request::builder().method(method).uri(uri);
        if body.is_some() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|_| ScrapeError::InvalidUrl {
                url: url.to_owned(),
            })?;
        let exchange = async {
            let response =
                self.inner
                    .request(request)
                    .await
                    .map_err(|source| ScrapeError::Request {
                        url: url.to_owned(),
                        source,
                    })?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|error| ScrapeError::Body {
                    url: url.to_owned(),
                    reason: error.to_string(),
                })?
                .to_bytes();
            Ok::<_, ScrapeError>(HttpResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        let response = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ScrapeError::Timeout {
                url: url.to_owned(),
                timeout_ms: timeout.as_millis(),
            })??;
        if !response.status.is_success() {
            return Err(ScrapeError::Status {
                url: url.to_owned(),
                status: response.status,
            });
        }
        Ok(response)
    }
}

/// Joins a worker base URL (`http://host:8080` or `http://host:8080/prefix/`) and a path.
pub fn endpoint(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

// ---------------------------------------------------------------------------------------------
// Prometheus text format
// ---------------------------------------------------------------------------------------------

/// One sample line of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample {
    /// Metric name; may contain `:` (`llamacpp:prompt_tokens_total`).
    pub name: String,
    /// Label pairs in the order written.
    pub labels: Vec<(String, String)>,
    /// The value; `NaN`, `+Inf` and `-Inf` are allowed.
    pub value: f64,
}

/// A line of a `/metrics` body that is not valid Prometheus text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed metrics line {line_number} ({reason}): {line}")]
pub struct ParseError {
    /// 1-based line number.
    pub line_number: usize,
    /// The offending line, cut to 120 characters.
    pub line: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses a Prometheus text exposition (version 0.0.4): `# HELP`/`# TYPE`/other comments and
/// blank lines are skipped; every other line must be `name{labels} value [timestamp]`.
pub fn parse_prometheus_text(body: &str) -> Result<Vec<PromSample>, ParseError> {
    let mut samples = Vec::new();
    for (index, raw_line) in body.lines().enumerate() {
        let line = raw_line.trim_end_matches('\r').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let sample = parse_sample_line(line).map_err(|reason| ParseError {
            line_number: index + 1,
            line: line.chars().take(120).collect(),
            reason,
        })?;
        samples.push(sample);
    }
    Ok(samples)
}

fn is_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte == b':'
}

fn is_name_char(byte: u8) -> bool {
    is_name_start(byte) || byte.is_ascii_digit()
}

fn parse_sample_line(line: &str) -> Result<PromSample, &'static str> {
    let bytes = line.as_bytes();
    if !is_name_start(bytes[0]) {
        return Err("metric name must start with a letter, '_' or ':'");
    }
    let name_end = bytes
        .iter()
        .position(|&b| !is_name_char(b))
        .unwrap_or(bytes.len());
    let name = line[..name_end].to_owned();
    let mut position = name_end;
    let mut labels = Vec::new();
    if bytes.get(position) == Some(&b'{') {
        position += 1;
        loop {
            while bytes.get(position).is_some_and(u8::is_ascii_whitespace) {
                position += 1;
            }
            match bytes.get(position) {
                Some(b'}') => {
                    position += 1;
                    break;
                }
                None => return Err("unterminated label set"),
                _ => {}
            }
            let key_start = position;
            if !bytes
                .get(position)
                .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_')
            {
                return Err("label name must start with a letter or '_'");
            }
            while bytes
                .get(position)
                .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_')
            {
                position += 1;
            }
            let key = line[key_start..position].to_owned();
            if bytes.get(position) != Some(&b'=') {
                return Err("expected '=' after label name");
            }
            position += 1;
            if bytes.get(position) != Some(&b'"') {
                return Err("label value must be quoted");
            }
            position += 1;
            let mut value = String::new();
            loop {
                let rest = &line[position..];
                let mut chars = rest.chars();
                match chars.next() {
                    None => return Err("unterminated label value"),
                    Some('"') => {
                        position += 1;
                        break;
                    }
                    Some('\\') => {
                        match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            _ => return Err("invalid escape in label value"),
                        }
                        position += 2;
                    }
                    Some(other) => {
                        value.push(other);
                        position += other.len_utf8();
                    }
                }
            }
            labels.push((key, value));
            while bytes.get(position).is_some_and(u8::is_ascii_whitespace) {
                position += 1;
            }
            match bytes.get(position) {
                Some(b',') => position += 1,
                Some(b'}') => {}
                _ => return Err("expected ',' or '}' after label value"),
            }
        }
    }
    if !bytes
        .get(position)
        .is_some_and(|&b| b == b' ' || b == b'\t')
    {
        return Err("expected whitespace between name and value");
    }
    let mut fields = line[position..].split_ascii_whitespace();
    let value_text = fields.next().ok_or("missing value")?;
    let value = parse_prom_float(value_text).ok_or("value is not a number")?;
    if let Some(timestamp) = fields.next()
        && timestamp.parse::<i64>().is_err()
    {
        return Err("timestamp is not an integer");
    }
    if fields.next().is_some() {
        return Err("trailing text after value and timestamp");
    }
    Ok(PromSample {
        name,
        labels,
        value,
    })
}

fn parse_prom_float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => {
            // Rust also accepts "inf"/"infinity"/"nan" in any case; Prometheus does not.
            if text
                .bytes()
                .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
            {
                return None;
            }
            text.parse().ok()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// llama-server views
// ---------------------------------------------------------------------------------------------

/// The llama-server counters and gauges the rates use, from one `/metrics` body.
///
/// Counters are cumulative since the server started. Of the `*_tokens_seconds` gauges only
/// `predicted_tokens_seconds` is read, for what no counter says: how many requests finished (see
/// [`crate::rates`]); every `/metrics` call resets the window the gauges average over.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LlamaCounters {
    /// `llamacpp:prompt_tokens_total`: prompt tokens evaluated, excluding cached ones.
    pub prompt_tokens_total: f64,
    /// `llamacpp:prompt_tokens_cached_total`: prompt tokens reused from the KV cache (0 on
    /// builds that do not export it).
    pub prompt_tokens_cached_total: f64,
    /// `llamacpp:prompt_seconds_total`: time spent evaluating prompts.
    pub prompt_seconds_total: f64,
    /// `llamacpp:tokens_predicted_total`: generated tokens, added when a request finishes.
    pub tokens_predicted_total: f64,
    /// `llamacpp:tokens_predicted_seconds_total`: generation time summed over slots.
    pub tokens_predicted_seconds_total: f64,
    /// `llamacpp:predicted_tokens_seconds` gauge: decode steps (generated tokens less one per
    /// request, the first token coming from the prompt pass) over generation seconds, for the
    /// requests that finished since the previous `/metrics` call; `None` when not exported.
    pub predicted_tokens_seconds: Option<f64>,
    /// `llamacpp:requests_processing` gauge.
    pub requests_processing: f64,
    /// `llamacpp:requests_deferred` gauge (requests waiting for a slot).
    pub requests_deferred: f64,
}

impl LlamaCounters {
    /// Picks the llama-server metrics out of parsed samples; the four counters the rates need
    /// are required, the rest default to 0.
    pub fn from_samples(samples: &[PromSample]) -> Result<Self, &'static str> {
        let find = |name: &str| {
            samples
                .iter()
                .find(|sample| sample.name == name)
                .map(|sample| sample.value)
        };
        let require = |name: &'static str| find(name).ok_or(name);
        Ok(Self {
            prompt_tokens_total: require("llamacpp:prompt_tokens_total")?,
            prompt_tokens_cached_total: find("llamacpp:prompt_tokens_cached_total").unwrap_or(0.0),
            prompt_seconds_total: require("llamacpp:prompt_seconds_total")?,
            tokens_predicted_total: require("llamacpp:tokens_predicted_total")?,
            tokens_predicted_seconds_total: require("llamacpp:tokens_predicted_seconds_total")?,
            predicted_tokens_seconds: find("llamacpp:predicted_tokens_seconds"),
            requests_processing: find("llamacpp:requests_processing").unwrap_or(0.0),
            requests_deferred: find("llamacpp:requests_deferred").unwrap_or(0.0),
        })
    }

    /// Returns the counters as `(name, value)` pairs, for reset checks and messages.
    pub fn counters(&self) -> [(&'static str, f64); 5] {
        [
            ("prompt_tokens_total", self.prompt_tokens_total),
            (
                "prompt_tokens_cached_total",
                self.prompt_tokens_cached_total,
            ),
            ("prompt_seconds_total", self.prompt_seconds_total),
            ("tokens_predicted_total", self.tokens_predicted_total),
            (
                "tokens_predicted_seconds_total",
                self.tokens_predicted_seconds_total,
            ),
        ]
    }
}

/// The fields of `/props` the agent reads.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Props {
    /// Path of the loaded GGUF file.
    #[serde(default)]
    pub model_path: String,
    /// llama.cpp's file type name, e.g. `Q4_K - Medium`.
    #[serde(default)]
    pub model_ftype: Option<String>,
    /// Slots (`--parallel`).
    #[serde(default)]
    pub total_slots: u32,
    /// llama.cpp build, e.g. `b6500-abc123`.
    #[serde(default)]
    pub build_info: String,
}

/// What a worker serves: the configuration an observation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerIdentity {
    /// Model name from the GGUF file name (see [`model_name_from_path`]).
    pub model: String,
    /// Quantization name (see [`quant_from_ftype`]).
    pub quant: String,
    /// Slots configured on the server.
    pub total_slots: u32,
    /// llama.cpp build.
    pub build_info: String,
}

impl From<&Props> for WorkerIdentity {
    fn from(props: &Props) -> Self {
        let quant = props
            .model_ftype
            .as_deref()
            .map(quant_from_ftype)
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            model: model_name_from_path(&props.model_path, &quant),
            quant,
            total_slots: props.total_slots,
            build_info: props.build_info.clone(),
        }
    }
}

/// Maps llama.cpp's `model_ftype` strings (`llama_model_ftype_name`) to the quant names the
/// catalog uses: `F16` → `FP16`, `Q4_K - Medium` → `Q4_K_M`, `Q2_K - Medium` → `Q2_K`,
/// `IQ4_XS - 4.25 bpw` → `IQ4_XS`. A ` (guessed)` suffix is dropped. Unknown strings are kept
/// verbatim so the planner can list them rather than drop them.
pub fn quant_from_ftype(ftype: &str) -> String {
    let ftype = ftype.trim();
    let ftype = ftype.strip_suffix(" (guessed)").unwrap_or(ftype);
    let mapped = match ftype {
        "all F32" | "F32" => "FP32",
        "F16" => "FP16",
        "BF16" => "BF16",
        // llama.cpp names Q2_K's file type "Q2_K - Medium"; the quantize tool calls it Q2_K.
        "Q2_K - Medium" => "Q2_K",
        "Q2_K - Small" => "Q2_K_S",
        "Q3_K - Small" => "Q3_K_S",
        "Q3_K - Medium" => "Q3_K_M",
        "Q3_K - Large" => "Q3_K_L",
        "Q4_K - Small" => "Q4_K_S",
        "Q4_K - Medium" => "Q4_K_M",
        "Q5_K - Small" => "Q5_K_S",
        "Q5_K - Medium" => "Q5_K_M",
        "MXFP4 MoE" => "MXFP4",
        "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" | "Q8_0" | "Q6_K" => ftype,
        _ => {
            // IQ*/TQ* types read "IQ4_XS - 4.25 bpw" or "TQ1_0 - 1.69 bpw ternary".
            if let Some((head, _)) = ftype.split_once(" - ")
                && (head.starts_with("IQ") || head.starts_with("TQ"))
                && head.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return head.to_owned();
            }
            ftype
        }
    };
    mapped.to_owned()
}

/// Returns the model name from a GGUF path: the file name without `.gguf`, without a split
/// suffix (`-00001-of-00003`) and without a trailing quant tag matching `quant`
/// (`gemma-3-270m-q4_k_m.gguf` with `Q4_K_M` → `gemma-3-270m`), lowercased like catalog ids.
pub fn model_name_from_path(model_path: &str, quant: &str) -> String {
    let file = model_path.rsplit(['/', '\\']).next().unwrap_or(model_path);
    let mut stem = file.to_ascii_lowercase();
    if let Some(stripped) = stem.strip_suffix(".gguf") {
        stem = stripped.to_owned();
    }
    // Split GGUF files: name-00001-of-00003.
    if let Some(index) = stem.rfind("-of-") {
        let (head, tail) = stem.split_at(index);
        let shard_total = &tail[4..];
        if let Some(dash) = head.rfind('-')
            && !shard_total.is_empty()
            && shard_total.bytes().all(|b| b.is_ascii_digit())
            && head[dash + 1..].bytes().all(|b| b.is_ascii_digit())
            && dash + 1 < head.len()
        {
            stem = head[..dash].to_owned();
        }
    }
    let quant_tag = quant.to_ascii_lowercase();
    let mut candidates = vec![quant_tag.clone()];
    if quant_tag == "fp16" {
        candidates.push("f16".to_owned());
    }
    if quant_tag == "fp32" {
        candidates.push("f32".to_owned());
    }
    for tag in candidates {
        for separator in ['-', '.', '_'] {
            let suffix = format!("{separator}{tag}");
            if let Some(stripped) = stem.strip_suffix(&suffix)
                && !stripped.is_empty()
            {
                return stripped.to_owned();
            }
        }
    }
    if stem.is_empty() {
        "unknown".to_owned()
    } else {
        stem
    }
}

/// What `/slots` shows at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotsSnapshot {
    /// Slots listed.
    pub total: u32,
    /// Slots processing a request.
    pub busy: u32,
    /// Tokens generated so far by in-flight requests (`next_token.n_decoded` of busy slots);
    /// `tokens_predicted_total` only counts them once their request finishes.
    pub decoded_in_flight: u64,
}

#[derive(Deserialize)]
struct SlotView {
    #[serde(default)]
    is_processing: bool,
    #[serde(default)]
    next_token: Option<NextTokenField>,
}

/// `next_token` is an array of one object on current servers; the upstream README shows an
/// object. Both are accepted.
#[derive(Deserialize)]
#[serde(untagged)]
enum NextTokenField {
    Many(Vec<NextTokenView>),
    One(NextTokenView),
}

#[derive(Deserialize)]
struct NextTokenView {
    #[serde(default)]
    n_decoded: u64,
}

/// Parses a `/slots` body.
pub fn parse_slots(body: &[u8]) -> Result<SlotsSnapshot, serde_json::Error> {
    let slots: Vec<SlotView> = serde_json::from_slice(body)?;
    let mut snapshot = SlotsSnapshot {
        total: slots.len() as u32,
        ..SlotsSnapshot::default()
    };
    for slot in slots.iter().filter(|slot| slot.is_processing) {
        snapshot.busy += 1;
        snapshot.decoded_in_flight += match &slot.next_token {
            Some(NextTokenField::Many(tokens)) => tokens.iter().map(|t| t.n_decoded).sum(),
            Some(NextTokenField::One(token)) => token.n_decoded,
            None => 0,
        };
    }
    Ok(snapshot)
}

/// Checks `/health`: the server answers 200 once the model is loaded (503 while loading).
pub async fn fetch_health(client: &HttpClient, base: &str) -> Result<(), ScrapeError> {
    client.get(&endpoint(base, "/health")).await.map(|_| ())
}

/// Reads `/props` and derives the worker's identity.
pub async fn fetch_props(client: &HttpClient, base: &str) -> Result<WorkerIdentity, ScrapeError> {
    let url = endpoint(base, "/props");
    let response = client.get(&url).await?;
    let props: Props = serde_json::from_slice(&response.body)
        .map_err(|source| ScrapeError::Json { url, source })?;
    Ok(WorkerIdentity::from(&props))
}

/// One `/metrics` read: the counters and the restart marker header.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsReading {
    /// The counters and gauges.
    pub counters: LlamaCounters,
    /// The `Process-Start-Time-Unix` header, if present; a change means a restart.
    pub restart_marker: Option<String>,
}

/// Reads and parses `/metrics`.
pub async fn fetch_metrics(client: &HttpClient, base: &str) -> Result<MetricsReading, ScrapeError> {
    let url = endpoint(base, "/metrics");
    let response = client.get(&url).await?;
    let text = std::str::from_utf8(&response.body).map_err(|_| ScrapeError::Body {
        url: url.clone(),
        reason: "body is not utf-8".into(),
    })?;
    let samples = parse_prometheus_text(text).map_err(|source| ScrapeError::Metrics {
        url: url.clone(),
        source,
    })?;
    let counters = LlamaCounters::from_samples(&samples)
        .map_err(|name| ScrapeError::MissingMetric { url, name })?;
    let restart_marker = response
        .headers
        .get(PROCESS_START_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    Ok(MetricsReading {
        counters,
        restart_marker,
    })
}

/// Reads `/slots` (disabled with `--no-slots`; callers treat failure as "unknown").
pub async fn fetch_slots(client: &HttpClient, base: &str) -> Result<SlotsSnapshot, ScrapeError> {
    let url = endpoint(base, "/slots");
    let response = client.get(&url).await?;
    parse_slots(&response.body).map_err(|source| ScrapeError::Json { url, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS_AFTER: &str = include_str!("../tests/fixtures/metrics-after.txt");
    const METRICS_IDLE: &str = include_str!("../tests/fixtures/metrics-idle.txt");
    const PROPS: &str = include_str!("../tests/fixtures/props.json");
    const SLOTS: &str = include_str!("../tests/fixtures/slots.json");

    #[test]
    fn parses_the_real_capture_with_colons_in_names() {
        let samples = parse_prometheus_text(METRICS_AFTER).unwrap();
        assert_eq!(samples.len(), 15);
        let counters = LlamaCounters::from_samples(&samples).unwrap();
        assert_eq!(counters.prompt_tokens_total, 30.0);
        assert_eq!(counters.prompt_seconds_total, 1.54104);
        assert_eq!(counters.tokens_predicted_total, 192.0);
        assert_eq!(counters.tokens_predicted_seconds_total, 85.429);
        assert_eq!(counters.requests_deferred, 0.0);
        assert_eq!(counters.predicted_tokens_seconds, Some(2.21236));
        let idle =
            LlamaCounters::from_samples(&parse_prometheus_text(METRICS_IDLE).unwrap()).unwrap();
        assert_eq!(idle.tokens_predicted_total, 0.0);
    }

    #[test]
    fn parses_labels_escapes_special_values_and_timestamps() {
        let body = "# a free comment\n\n\
            http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
            msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n\
            some:nan NaN\nsome:inf +Inf\nsome:ninf -Inf\ntrailing_comma{a=\"b\",} 1\n";
        let samples = parse_prometheus_text(body).unwrap();
        assert_eq!(
            samples[0].labels,
            vec![
                ("method".into(), "post".into()),
                ("code".into(), "200".into())
            ]
        );
        assert_eq!(samples[0].value, 1027.0);
        assert_eq!(samples[1].labels[0].1, "C:\\DIR\\FILE.TXT");
        assert_eq!(samples[1].labels[1].1, "Cannot find file:\n\"FILE.TXT\"");
        assert!(samples[2].value.is_nan());
        assert_eq!(samples[3].value, f64::INFINITY);
        assert_eq!(samples[4].value, f64::NEG_INFINITY);
        assert_eq!(samples[5].labels.len(), 1);
    }

    #[test]
    fn rejects_malformed_lines_naming_them() {
        for (body, line_number) in [
            ("ok 1\nllamacpp:prompt_tokens_total\n", 2),
            ("ok 1\n# c\nbad{x=1} 2\n", 3),
            ("1abc 2\n", 1),
            ("abc twelve\n", 1),
            ("abc{a=\"b\" 1\n", 1),
            ("abc 1 2 3\n", 1),
            ("abc inf\n", 1),
            ("<html>oops</html>\n", 1),
        ] {
            let error = parse_prometheus_text(body).unwrap_err();
            assert_eq!(error.line_number, line_number, "{body:?}: {error}");
            assert!(error.to_string().contains(&format!("line {line_number}")));
        }
    }

    #[test]
    fn missing_counter_is_named() {
        let samples = parse_prometheus_text("llamacpp:prompt_tokens_total 1\n").unwrap();
        assert_eq!(
            LlamaCounters::from_samples(&samples),
            Err("llamacpp:prompt_seconds_total")
        );
    }

    #[test]
    fn maps_ftype_strings_to_quant_names() {
        for (ftype, quant) in [
            ("F16", "FP16"),
            ("BF16", "BF16"),
            ("all F32", "FP32"),
            ("Q8_0", "Q8_0"),
            ("Q6_K", "Q6_K"),
            ("Q5_K - Medium", "Q5_K_M"),
            ("Q4_K - Medium", "Q4_K_M"),
            ("Q4_K - Small", "Q4_K_S"),
            ("Q3_K - Medium", "Q3_K_M"),
            ("Q2_K - Medium", "Q2_K"),
            ("Q4_K - Medium (guessed)", "Q4_K_M"),
            ("IQ4_XS - 4.25 bpw", "IQ4_XS"),
            ("TQ1_0 - 1.69 bpw ternary", "TQ1_0"),
            ("Q9_Z - Enormous", "Q9_Z - Enormous"),
        ] {
            assert_eq!(quant_from_ftype(ftype), quant, "{ftype}");
        }
    }

    #[test]
    fn derives_model_names_from_paths() {
        assert_eq!(
            model_name_from_path("/tmp/gemma/gemma-3-270m-q4_k_m.gguf", "Q4_K_M"),
            "gemma-3-270m"
        );
        assert_eq!(
            model_name_from_path("/m/Qwen3-32B-Q8_0-00001-of-00002.gguf", "Q8_0"),
            "qwen3-32b"
        );
        assert_eq!(
            model_name_from_path("/m/llama-3.1-8b.f16.gguf", "FP16"),
            "llama-3.1-8b"
        );
        assert_eq!(
            model_name_from_path("C:\\m\\mistral.gguf", "Q4_0"),
            "mistral"
        );
        assert_eq!(model_name_from_path("", "Q4_0"), "unknown");
    }

    #[test]
    fn reads_identity_from_the_real_props() {
        let props: Props = serde_json::from_str(PROPS).unwrap();
        let identity = WorkerIdentity::from(&props);
        assert_eq!(identity.model, "gemma-3-270m");
        assert_eq!(identity.quant, "Q4_K_M");
        assert_eq!(identity.total_slots, 4);
        assert_eq!(identity.build_info, "b0-unknown");
    }

    #[test]
    fn reads_slots_with_next_token_as_array_or_object() {
        let snapshot = parse_slots(SLOTS.as_bytes()).unwrap();
        assert_eq!(
            snapshot,
            SlotsSnapshot {
                total: 4,
                busy: 0,
                decoded_in_flight: 0
            }
        );
        let busy_array = r#"[{"id":0,"is_processing":true,"next_token":[{"n_decoded":12}]},
            {"id":1,"is_processing":true,"next_token":{"n_decoded":5,"n_remain":-1}},
            {"id":2,"is_processing":false,"next_token":[{"n_decoded":99}]}]"#;
        let snapshot = parse_slots(busy_array.as_bytes()).unwrap();
        assert_eq!(
            snapshot,
            SlotsSnapshot {
                total: 3,
                busy: 2,
                decoded_in_flight: 17
            }
        );
    }
}
