//! `fleet-agent probe`: drives one llama-server's `/completion` at fixed concurrency levels with
//! fixed prompt and completion lengths (like `llama-batched-bench`, but through the server and
//! its scheduler) and measures what a client sees.
//!
//! Each request sends `prompt_tokens` copies of one token id (so the prompt length is exact
//! whatever the tokenizer), `n_predict = max_tokens` with `ignore_eos` (so every request
//! generates exactly that many) and `cache_prompt = false` (so every prompt is evaluated).
//! Requests are not streamed; client-seen TTFT is the request latency minus the server's
//! generation time (`timings.predicted_ms`), i.e. slot wait + prompt evaluation + transport, and
//! never less than `timings.prompt_ms` (the server's `prompt_ms` itself excludes slot wait).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fleet_proto::v1::{Observation, ObservationKind};
use serde::Deserialize;
use tokio::time::Instant;

use crate::config::ProbeConfig;
use crate::scrape::{self, HttpClient, ScrapeError, WorkerIdentity, endpoint};

/// The token id every probe prompt repeats: present in any real vocabulary, and not a control
/// token in the common ones.
const PROBE_TOKEN_ID: u32 = 1000;

/// Errors of a probe run.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Reading the worker failed.
    #[error(transparent)]
    Scrape(#[from] ScrapeError),
    /// Every request of a level failed.
    #[error("every request at concurrency {concurrency} failed; last error: {last_error}")]
    LevelFailed {
        /// The level.
        concurrency: u32,
        /// The last failure.
        last_error: String,
    },
}

#[derive(Debug, Deserialize)]
struct CompletionResponse {
    timings: Timings,
}

#[derive(Debug, Deserialize)]
struct Timings {
    #[serde(default)]
    cache_n: u64,
    prompt_n: u64,
    prompt_ms: f64,
    predicted_n: u64,
    predicted_ms: f64,
}

/// One finished probe request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestResult {
    /// Prompt tokens the server evaluated.
    pub prompt_tokens: u64,
    /// Prompt tokens served from cache.
    pub cached_tokens: u64,
    /// Tokens generated.
    pub predicted_tokens: u64,
    /// Server prompt time, ms.
    pub prompt_ms: f64,
    /// Server generation time, ms.
    pub predicted_ms: f64,
    /// Client-seen latency, ms.
    pub latency_ms: f64,
    /// Client-seen time to first token, ms (see the module docs).
    pub ttft_ms: f64,
}

/// Measurements of one concurrency level.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelResult {
    /// Requests in flight at once.
    pub concurrency: u32,
    /// Requests that finished.
    pub requests: u32,
    /// Requests that failed.
    pub failures: u32,
    /// Level start, Unix ms.
    pub start_unix_ms: i64,
    /// Level end, Unix ms.
    pub end_unix_ms: i64,
    /// Wall time of the level, seconds.
    pub wall_seconds: f64,
    /// Σ prompt tokens.
    pub prompt_tokens: u64,
    /// Σ cached prompt tokens.
    pub cached_tokens: u64,
    /// Σ generated tokens.
    pub predicted_tokens: u64,
    /// Σ prompt seconds.
    pub prompt_seconds: f64,
    /// Σ generation seconds.
    pub predicted_seconds: f64,
    /// Median TTFT, ms.
    pub ttft_p50_ms: f64,
    /// 95th percentile TTFT (nearest rank), ms.
    pub ttft_p95_ms: f64,
    /// Σ prompt tokens / Σ prompt seconds.
    pub prefill_tok_s: f64,
    /// Per-stream decode as llama-server computes it (`timings.predicted_per_second`):
    /// Σ (generated − 1) / Σ generation seconds, the first token of a request coming from the
    /// prompt pass at no decode time.
    pub decode_tok_s: f64,
    /// Aggregate decode: Σ generated / wall seconds.
    pub aggregate_decode_tok_s: f64,
    /// Mean requests being processed by the server: Σ(prompt + generation time) / wall.
    pub mean_concurrency: f64,
}

/// A whole probe run.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    /// The probed worker URL.
    pub worker: String,
    /// What it serves.
    pub identity: WorkerIdentity,
    /// Prompt tokens per request.
    pub prompt_tokens: u32,
    /// Generated tokens per request.
    pub max_tokens: u32,
    /// One entry per level, in the order run.
    pub levels: Vec<LevelResult>,
}

fn nearest_rank(sorted: &[f64], percentile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((percentile / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

/// Aggregates a level's request results (pure; checked by hand in tests).
pub fn summarize_level(
    concurrency: u32,
    results: &[RequestResult],
    failures: u32,
    wall_seconds: f64,
    start_unix_ms: i64,
) -> LevelResult {
    let prompt_tokens = results.iter().map(|r| r.prompt_tokens).sum::<u64>();
    let cached_tokens = results.iter().map(|r| r.cached_tokens).sum::<u64>();
    let predicted_tokens = results.iter().map(|r| r.predicted_tokens).sum::<u64>();
    let decode_steps = results
        .iter()
        .map(|r| r.predicted_tokens.saturating_sub(1))
        .sum::<u64>();
    let prompt_seconds = results.iter().map(|r| r.prompt_ms).sum::<f64>() / 1000.0;
    let predicted_seconds = results.iter().map(|r| r.predicted_ms).sum::<f64>() / 1000.0;
    let mut ttfts: Vec<f64> = results.iter().map(|r| r.ttft_ms).collect();
    ttfts.sort_by(f64::total_cmp);
    LevelResult {
        concurrency,
        requests: results.len() as u32,
        failures,
        start_unix_ms,
        end_unix_ms: start_unix_ms + (wall_seconds * 1000.0).round() as i64,
        wall_seconds,
        prompt_tokens,
        cached_tokens,
        predicted_tokens,
        prompt_seconds,
        predicted_seconds,
        ttft_p50_ms: nearest_rank(&ttfts, 50.0),
        ttft_p95_ms: nearest_rank(&ttfts, 95.0),
        prefill_tok_s: ratio(prompt_tokens as f64, prompt_seconds),
        decode_tok_s: ratio(decode_steps as f64, predicted_seconds),
        aggregate_decode_tok_s: ratio(predicted_tokens as f64, wall_seconds),
        mean_concurrency: ratio(prompt_seconds + predicted_seconds, wall_seconds),
    }
}

/// Returns the `/completion` request body of every probe request.
pub fn completion_body(prompt_tokens: u32, max_tokens: u32) -> Vec<u8> {
    let body = serde_json::json!({
        "prompt": vec![PROBE_TOKEN_ID; prompt_tokens as usize],
        "n_predict": max_tokens,
        "ignore_eos": true,
        "cache_prompt": false,
        "stream": false,
        "temperature": 0.0,
    });
    serde_json::to_vec(&body).expect("json serializes")
}

async fn one_request(
    client: &HttpClient,
    url: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<RequestResult, ScrapeError> {
    let started = Instant::now();
    let response = client.post_json(url, body, timeout).await?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let completion: CompletionResponse =
        serde_json::from_slice(&response.body).map_err(|source| ScrapeError::Json {
            url: url.to_owned(),
            source,
        })?;
    let timings = completion.timings;
    Ok(RequestResult {
        prompt_tokens: timings.prompt_n,
        cached_tokens: timings.cache_n,
        predicted_tokens: timings.predicted_n,
        prompt_ms: timings.prompt_ms,
        predicted_ms: timings.predicted_ms,
        latency_ms,
        ttft_ms: (latency_ms - timings.predicted_ms).max(timings.prompt_ms),
    })
}

/// Redraws the progress line on a terminal; elsewhere (logs, CI) only the per-level summary
/// lines are written.
fn progress(show: bool, line: &str) {
    if show && std::io::stderr().is_terminal() {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[2K{line}");
        let _ = stderr.flush();
    }
}

/// Runs every level against the worker and returns the measurements. `clock` maps the
/// monotonic clock to Unix time for the level windows.
pub async fn run_probe(config: &ProbeConfig) -> Result<ProbeReport, ProbeError> {
    let clock = crate::Clock::new();
    let client = HttpClient::new(config.request_timeout.min(Duration::from_secs(30)));
    scrape::fetch_health(&client, &config.worker).await?;
    let mut identity = scrape::fetch_props(&client, &config.worker).await?;
    if let Some(model) = &config.model {
        identity.model.clone_from(model);
    }
    tracing::info!(worker = %config.worker, model = %identity.model, quant = %identity.quant, slots = identity.total_slots, "probing");
    let url = endpoint(&config.worker, "/completion");
    let body = completion_body(config.prompt_tokens, config.max_tokens);
    let mut levels = Vec::new();
    for &concurrency in &config.concurrency_levels {
        let total = config.requests_per_level.max(concurrency);
        let remaining = Arc::new(AtomicU32::new(total));
        let done = Arc::new(AtomicU32::new(0));
        let start_unix_ms = clock.now_unix_ms();
        let started = Instant::now();
        progress(
            config.show_progress,
            &format!("[probe] concurrency {concurrency}: 0/{total} requests"),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (client, url, body, remaining, done) = (
                client.clone(),
                url.clone(),
                body.clone(),
                Arc::clone(&remaining),
                Arc::clone(&done),
            );
            let (timeout, show) = (config.request_timeout, config.show_progress);
            tasks.spawn(async move {
                let mut results = Vec::new();
                let mut failures = Vec::new();
                // Each stream takes requests until the level's quota is used up.
                while remaining
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    match one_request(&client, &url, body.clone(), timeout).await {
                        Ok(result) => results.push(result),
                        Err(error) => failures.push(error.to_string()),
                    }
                    let finished = done.fetch_add(1, Ordering::SeqCst) + 1;
                    progress(
                        show,
                        &format!("[probe] concurrency {concurrency}: {finished}/{total} requests"),
                    );
                }
                (results, failures)
            });
        }
        let mut results = Vec::new();
        let mut failures = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (ok, failed) = joined.expect("probe task does not panic");
            results.extend(ok);
            failures.extend(failed);
        }
        let wall_seconds = started.elapsed().as_secs_f64();
        progress(config.show_progress, "");
        if results.is_empty() {
            return Err(ProbeError::LevelFailed {
                concurrency,
                last_error: failures.pop().unwrap_or_else(|| "no request ran".into()),
            });
        }
        if let Some(error) = failures.last() {
            tracing::warn!(concurrency, failures = failures.len(), %error, "probe requests failed");
        }
        let level = summarize_level(
            concurrency,
            &results,
            failures.len() as u32,
            wall_seconds,
            start_unix_ms,
        );
        if config.show_progress {
            eprintln!(
                "[probe] concurrency {concurrency}: {} requests, {:.1} tok/s aggregate, {:.1} tok/s per stream",
                level.requests, level.aggregate_decode_tok_s, level.decode_tok_s
            );
        }
        levels.push(level);
    }
    Ok(ProbeReport {
        worker: config.worker.clone(),
        identity,
        prompt_tokens: config.prompt_tokens,
        max_tokens: config.max_tokens,
        levels,
    })
}

/// Renders the probe report as a plain-text table.
pub fn render_table(report: &ProbeReport) -> String {
    let mut out = format!(
        "{} — {} {} ({} slots, build {}), {} prompt + {} generated tokens per request\n",
        report.worker,
        report.identity.model,
        report.identity.quant,
        report.identity.total_slots,
        report.identity.build_info,
        report.prompt_tokens,
        report.max_tokens,
    );
    out.push_str(&format!(
        "{:>11} {:>8} {:>8} {:>12} {:>12} {:>13} {:>15} {:>15}\n",
        "concurrency",
        "requests",
        "failures",
        "ttft_p50_ms",
        "ttft_p95_ms",
        "prefill_tok_s",
        "decode_tok_s/1",
        "aggregate_tok_s"
    ));
    for level in &report.levels {
        out.push_str(&format!(
            "{:>11} {:>8} {:>8} {:>12.1} {:>12.1} {:>13.1} {:>15.2} {:>15.2}\n",
            level.concurrency,
            level.requests,
            level.failures,
            level.ttft_p50_ms,
            level.ttft_p95_ms,
            level.prefill_tok_s,
            level.decode_tok_s,
            level.aggregate_decode_tok_s,
        ));
    }
    out
}

/// Returns the `OBSERVATION_KIND_PROBE` observation of one level (seq and node id are set by the
/// spool). `concurrency` is the streams the server actually ran at once: the level, capped at
/// its slots; the excess waited in its queue and is reported as `queue_depth`.
pub fn level_observation(report: &ProbeReport, level: &LevelResult, sku: &str) -> Observation {
    let slots = report.identity.total_slots;
    let served = if slots > 0 {
        level.concurrency.min(slots)
    } else {
        level.concurrency
    };
    Observation {
        sku: sku.to_owned(),
        model: report.identity.model.clone(),
        quant: report.identity.quant.clone(),
        worker_url: report.worker.clone(),
        window_start_unix_ms: level.start_unix_ms,
        window_end_unix_ms: level.end_unix_ms,
        prompt_tokens: level.prompt_tokens,
        predicted_tokens: level.predicted_tokens,
        prompt_seconds: level.prompt_seconds,
        predicted_seconds: level.predicted_seconds,
        prefill_tok_s: level.prefill_tok_s,
        decode_tok_s: level.decode_tok_s,
        aggregate_decode_tok_s: level.aggregate_decode_tok_s,
        mean_concurrency: level.mean_concurrency,
        queue_depth: f64::from(level.concurrency.saturating_sub(served)),
        cache_hit_rate: ratio(
            level.cached_tokens as f64,
            (level.cached_tokens + level.prompt_tokens) as f64,
        ),
        power_w: None,
        kind: ObservationKind::Probe as i32,
        concurrency: served,
        ..Observation::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(ttft_ms: f64) -> RequestResult {
        RequestResult {
            prompt_tokens: 10,
            cached_tokens: 0,
            predicted_tokens: 64,
            prompt_ms: 1426.905,
            predicted_ms: 28338.327,
            latency_ms: ttft_ms + 28338.327,
            ttft_ms,
        }
    }

    #[test]
    fn level_summary_checked_by_hand() {
        // Two streams, four requests of the captured completion, two after the other: 59.53 s.
        let results = [
            request(1500.0),
            request(1600.0),
            request(1700.0),
            request(9000.0),
        ];
        let level = summarize_level(2, &results, 1, 59.53, 1_000);
        assert_eq!(
            (level.prompt_tokens, level.predicted_tokens, level.failures),
            (40, 256, 1)
        );
        // 4 × 63 / (4 × 28.338327 s) = 2.22314 tok/s per stream, the captured response's own
        // predicted_per_second (256 / (4 × 28.338327 s) would say 2.25843).
        assert!(
            (level.decode_tok_s - 2.22314).abs() < 1e-5,
            "{}",
            level.decode_tok_s
        );
        // 256 / 59.53 s = 4.30035 tok/s aggregate.
        assert!((level.aggregate_decode_tok_s - 4.30035).abs() < 1e-5);
        // 40 / (4 × 1.426905 s) = 7.00817 tok/s.
        assert!((level.prefill_tok_s - 7.00817).abs() < 1e-5);
        assert_eq!(level.ttft_p50_ms, 1600.0);
        assert_eq!(level.ttft_p95_ms, 9000.0);
        assert_eq!(level.end_unix_ms, 60_530);
        // 4 × 29.765232 s busy over 59.53 s: 2 requests in service on average.
        assert!((level.mean_concurrency - 2.0).abs() < 1e-3);
    }

    #[test]
    fn request_body_has_exact_lengths() {
        let body: serde_json::Value = serde_json::from_slice(&completion_body(3, 7)).unwrap();
        assert_eq!(body["prompt"], serde_json::json!([1000, 1000, 1000]));
        assert_eq!(body["n_predict"], 7);
        assert_eq!(body["ignore_eos"], true);
        assert_eq!(body["cache_prompt"], false);
    }
}
