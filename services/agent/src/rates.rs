//! Turning successive `/metrics` readings of one worker into windows with rates. Pure: no I/O,
//! no clock; callers pass the time of each reading.
//!
//! # The window rule
//!
//! llama-server adds a request's generated tokens (and their seconds) to its counters only when
//! the request *finishes*, so the counters move in lumps and a 1-second scrape interval mostly
//! sees zero or one whole request. A window therefore spans as many scrape intervals as it takes
//! to collect [`WindowPolicy::min_predicted_tokens`] finished generated tokens, and is emitted at
//! the first reading where that holds; the next window starts at that reading. A window that
//! reaches [`WindowPolicy::max_window_ms`] first is emitted if it saw any tokens at all (so a
//! lightly used node still shows up; the planner weights windows by tokens and rejects tiny
//! ones) and dropped if it saw none (an idle server says nothing about throughput).
//!
//! Aggregate speed (Δtokens / Δwall) is what the long window smooths.
//!
//! # Per-stream decode
//!
//! llama-server's own per-stream figure (`timings.predicted_per_second` of a response, and the
//! `llamacpp:predicted_tokens_seconds` gauge) is (n − 1) / t per request: the first generated
//! token comes from the prompt pass and costs no decode time. The counters hold Σn and Σt but
//! no request count, so Δtokens / Δseconds overstates the speed by one token per request (+1.6%
//! for 64-token replies, +14% for 8-token ones). The gauge supplies the count: it is Σ(n − 1) /
//! Σt over the requests that finished since the previous `/metrics` call (the call resets it),
//! and those requests are exactly the ones that moved the counters since then. So for each scrape
//! interval
//!
//! ```text
//! requests finished = round(Δtokens_predicted_total − gauge × Δtokens_predicted_seconds_total)
//! ```
//!
//! clamped to [0, Δtokens] ([`requests_finished_between`]), summed over the window, and
//! decode = (tokens − requests) / seconds. In the real captures three 64-token requests ran:
//! 192 − 2.21236 × 85.429 = 3.0003 → 3 requests, decode 189 / 85.429 = 2.21236 tok/s.
//!
//! This holds while the agent is the only reader of the worker's `/metrics` (another reader
//! resets the gauge in between; then requests are overcounted and decode comes out low). A
//! failed read may have reset the gauge unseen, so it ends the open window
//! ([`WindowTracker::interrupt`]); the next good reading starts a new one. llama-server prints
//! values with six significant digits, so the count is exact (the error below half a token)
//! while gauge × 10⁻⁵ × `tokens_predicted_seconds_total` stays under 0.5 (under 1,000 s of
//! generation at 50 tok/s a stream); beyond that it is the nearest whole number to a quantized
//! figure, unbiased up to the clamp at 0. A server without the gauge gets 0 requests: Σn / Σt.
//!
//! A counter that goes down, or a changed `Process-Start-Time-Unix` header, means the server
//! restarted: the open window is dropped (its end is unknown) and the new reading becomes the
//! baseline, so no negative or huge rate is ever produced.

use crate::scrape::LlamaCounters;

/// How windows are cut (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowPolicy {
    /// Finished generated tokens a window needs before it is emitted (at least 1 is used).
    pub min_predicted_tokens: u64,
    /// Longest window; at this age a window is emitted if it saw any token, dropped otherwise.
    pub max_window_ms: i64,
}

impl Default for WindowPolicy {
    fn default() -> Self {
        Self {
            min_predicted_tokens: 256,
            max_window_ms: 300_000,
        }
    }
}

/// One reading of a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// When the reading was taken, Unix milliseconds (from a monotonic clock, see
    /// `crate::clock`).
    pub at_unix_ms: i64,
    /// The `/metrics` counters and gauges.
    pub counters: LlamaCounters,
    /// `Process-Start-Time-Unix` header, when the server sends one.
    pub restart_marker: Option<String>,
    /// Requests in flight at this instant: busy slots from `/slots`, else `requests_processing`.
    pub busy: f64,
    /// Node power at this instant, where readable.
    pub power_w: Option<f64>,
}

/// Deltas and rates of one window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRates {
    /// Window start, Unix milliseconds.
    pub start_unix_ms: i64,
    /// Window end, Unix milliseconds.
    pub end_unix_ms: i64,
    /// Δ`prompt_tokens_total`.
    pub prompt_tokens: u64,
    /// Δ`prompt_tokens_cached_total`.
    pub cached_prompt_tokens: u64,
    /// Δ`tokens_predicted_total`.
    pub predicted_tokens: u64,
    /// Δ`prompt_seconds_total`.
    pub prompt_seconds: f64,
    /// Δ`tokens_predicted_seconds_total` (summed over slots).
    pub predicted_seconds: f64,
    /// prompt_tokens / prompt_seconds (0 when no prompt time passed).
    pub prefill_tok_s: f64,
    /// Requests that finished in the window, from the `predicted_tokens_seconds` gauge (see the
    /// module docs); 0 when the server does not export it.
    pub requests_finished: u64,
    /// (predicted_tokens − requests_finished) / predicted_seconds: one stream's decode speed as
    /// llama-server computes it, the first token of each request costing no decode time.
    pub decode_tok_s: f64,
    /// predicted_tokens / wall seconds: the server's decode throughput.
    pub aggregate_decode_tok_s: f64,
    /// Time-weighted mean of in-flight requests over the window.
    pub mean_concurrency: f64,
    /// `requests_deferred` at the window's end.
    pub queue_depth: f64,
    /// cached / (cached + evaluated) prompt tokens, 0 when there were none.
    pub cache_hit_rate: f64,
    /// Mean node power over the readings that had one.
    pub power_w: Option<f64>,
}

/// Why a window could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RateError {
    /// A counter went down: the server restarted between the readings.
    #[error("counter {counter} went from {before} to {after}: server restarted")]
    CounterReset {
        /// The counter that dropped.
        counter: &'static str,
        /// Its earlier value.
        before: f64,
        /// Its later value.
        after: f64,
    },
    /// The restart marker header changed.
    #[error("process start marker changed from {before} to {after}: server restarted")]
    MarkerChanged {
        /// The earlier marker.
        before: String,
        /// The later marker.
        after: String,
    },
    /// The end reading is not after the start reading.
    #[error("window has no duration")]
    EmptyWindow,
}

/// Returns an error if the server restarted between `earlier` and `later`.
pub fn detect_restart(earlier: &Reading, later: &Reading) -> Result<(), RateError> {
    if let (Some(before), Some(after)) = (&earlier.restart_marker, &later.restart_marker)
        && before != after
    {
        return Err(RateError::MarkerChanged {
            before: before.clone(),
            after: after.clone(),
        });
    }
    for ((counter, before), (_, after)) in earlier
        .counters
        .counters()
        .into_iter()
        .zip(later.counters.counters())
    {
        // NaN compares false both ways; treat a counter that stops being a number as a reset.
        if after < before || (before.is_finite() && !after.is_finite()) {
            return Err(RateError::CounterReset {
                counter,
                before,
                after,
            });
        }
    }
    Ok(())
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    let value = numerator / denominator;
    if denominator > 0.0 && value.is_finite() {
        value
    } else {
        0.0
    }
}

fn token_delta(before: f64, after: f64) -> u64 {
    let delta = (after - before).round();
    if delta.is_finite() && delta > 0.0 {
        delta as u64
    } else {
        0
    }
}

/// Returns how many requests finished between two consecutive `/metrics` readings of one server
/// lifetime: Δ`tokens_predicted_total` less the decode steps that `later`'s
/// `predicted_tokens_seconds` gauge (steps per generation second since `earlier`'s call)
/// accounts for over Δ`tokens_predicted_seconds_total`, rounded and clamped to [0, Δtokens].
/// Returns 0 when `later` has no gauge.
pub fn requests_finished_between(earlier: &LlamaCounters, later: &LlamaCounters) -> u64 {
    let tokens = token_delta(earlier.tokens_predicted_total, later.tokens_predicted_total);
    let Some(steps_per_second) = later
        .predicted_tokens_seconds
        .filter(|gauge| gauge.is_finite() && *gauge >= 0.0)
    else {
        return 0;
    };
    let seconds =
        (later.tokens_predicted_seconds_total - earlier.tokens_predicted_seconds_total).max(0.0);
    let requests = (tokens as f64 - steps_per_second * seconds).round();
    if requests.is_finite() && requests > 0.0 {
        (requests as u64).min(tokens)
    } else {
        0
    }
}

/// What a window sums over its scrape intervals, beyond the deltas of its end readings.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct IntervalSums {
    /// ∫ busy dt over the window, request-milliseconds.
    pub busy_integral_ms: f64,
    /// Sum of the power readings, watts.
    pub power_sum_w: f64,
    /// How many readings had a power figure.
    pub power_count: u32,
    /// Requests finished, summed over the intervals ([`requests_finished_between`]).
    pub requests_finished: u64,
}

/// Computes the window from `start` to `end` with the per-interval `sums`.
pub fn compute_window(
    start: &Reading,
    end: &Reading,
    sums: &IntervalSums,
) -> Result<WindowRates, RateError> {
    detect_restart(start, end)?;
    let wall_ms = end.at_unix_ms - start.at_unix_ms;
    if wall_ms <= 0 {
        return Err(RateError::EmptyWindow);
    }
    let wall_seconds = wall_ms as f64 / 1000.0;
    let (a, b) = (&start.counters, &end.counters);
    let prompt_tokens = token_delta(a.prompt_tokens_total, b.prompt_tokens_total);
    let cached_prompt_tokens =
        token_delta(a.prompt_tokens_cached_total, b.prompt_tokens_cached_total);
    let predicted_tokens = token_delta(a.tokens_predicted_total, b.tokens_predicted_total);
    let prompt_seconds = (b.prompt_seconds_total - a.prompt_seconds_total).max(0.0);
    let predicted_seconds =
        (b.tokens_predicted_seconds_total - a.tokens_predicted_seconds_total).max(0.0);
    let requests_finished = sums.requests_finished.min(predicted_tokens);
    Ok(WindowRates {
        start_unix_ms: start.at_unix_ms,
        end_unix_ms: end.at_unix_ms,
        prompt_tokens,
        cached_prompt_tokens,
        predicted_tokens,
        prompt_seconds,
        predicted_seconds,
        prefill_tok_s: ratio(prompt_tokens as f64, prompt_seconds),
        requests_finished,
        decode_tok_s: ratio(
            (predicted_tokens - requests_finished) as f64,
            predicted_seconds,
        ),
        aggregate_decode_tok_s: ratio(predicted_tokens as f64, wall_seconds),
        mean_concurrency: ratio(sums.busy_integral_ms, wall_ms as f64),
        queue_depth: if b.requests_deferred.is_finite() {
            b.requests_deferred.max(0.0)
        } else {
            0.0
        },
        cache_hit_rate: ratio(
            cached_prompt_tokens as f64,
            (cached_prompt_tokens + prompt_tokens) as f64,
        ),
        power_w: (sums.power_count > 0).then(|| sums.power_sum_w / f64::from(sums.power_count)),
    })
}

/// What feeding a reading to a [`WindowTracker`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum WindowEvent {
    /// First reading (or first after a failed read, see [`WindowTracker::interrupt`]): it
    /// became the baseline.
    Baseline,
    /// The window is still collecting tokens.
    Collecting,
    /// The server restarted; the open window was dropped and this reading is the new baseline.
    Restarted(RateError),
    /// The window reached its maximum age without any token and was dropped.
    IdleDropped,
    /// A window is complete.
    Window(WindowRates),
}

/// Cuts one worker's readings into windows by the rule in the module docs.
#[derive(Debug, Clone)]
pub struct WindowTracker {
    policy: WindowPolicy,
    start: Option<Reading>,
    last: Option<Reading>,
    sums: IntervalSums,
    interrupted: bool,
}

impl WindowTracker {
    /// Returns a tracker with no baseline.
    pub fn new(policy: WindowPolicy) -> Self {
        Self {
            policy,
            start: None,
            last: None,
            sums: IntervalSums::default(),
            interrupted: false,
        }
    }

    /// Forgets the baseline, e.g. after the worker's model changed.
    pub fn reset(&mut self) {
        *self = Self::new(self.policy);
    }

    /// Drops the open window after a failed read of the worker: a `/metrics` call that failed
    /// may still have reset the server's gauge, so the requests of the interval cannot be
    /// counted. The next reading starts a new window (or reports a restart); the last good one
    /// stays the reference for restart detection.
    pub fn interrupt(&mut self) {
        self.interrupted = true;
    }

    fn begin(&mut self, reading: Reading) {
        self.sums = IntervalSums::default();
        self.interrupted = false;
        if let Some(power) = reading.power_w {
            self.sums.power_sum_w = power;
            self.sums.power_count = 1;
        }
        self.start = Some(reading.clone());
        self.last = Some(reading);
    }

    /// Feeds the next reading.
    pub fn push(&mut self, reading: Reading) -> WindowEvent {
        let (Some(start), Some(last)) = (self.start.clone(), self.last.as_ref()) else {
            self.begin(reading);
            return WindowEvent::Baseline;
        };
        if reading.at_unix_ms <= last.at_unix_ms {
            // A clock step backwards or a duplicate: ignore the reading rather than guess.
            return WindowEvent::Collecting;
        }
        if let Err(error) = detect_restart(last, &reading) {
            self.begin(reading);
            return WindowEvent::Restarted(error);
        }
        if self.interrupted {
            self.begin(reading);
            return WindowEvent::Baseline;
        }
        // Trapezoid rule over the interval since the previous reading.
        let step_ms = (reading.at_unix_ms - last.at_unix_ms) as f64;
        self.sums.busy_integral_ms += step_ms * (last.busy + reading.busy) / 2.0;
        if let Some(power) = reading.power_w {
            self.sums.power_sum_w += power;
            self.sums.power_count += 1;
        }
        self.sums.requests_finished += requests_finished_between(&last.counters, &reading.counters);
        let age_ms = reading.at_unix_ms - start.at_unix_ms;
        let predicted = token_delta(
            start.counters.tokens_predicted_total,
            reading.counters.tokens_predicted_total,
        );
        let prompt = token_delta(
            start.counters.prompt_tokens_total,
            reading.counters.prompt_tokens_total,
        );
        let enough = predicted >= self.policy.min_predicted_tokens.max(1);
        let expired = age_ms >= self.policy.max_window_ms;
        if !enough && !expired {
            self.last = Some(reading);
            return WindowEvent::Collecting;
        }
        if !enough && predicted == 0 && prompt == 0 {
            self.begin(reading);
            return WindowEvent::IdleDropped;
        }
        let window = compute_window(&start, &reading, &self.sums);
        self.begin(reading);
        match window {
            Ok(window) => WindowEvent::Window(window),
            Err(error) => WindowEvent::Restarted(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::{LlamaCounters, parse_prometheus_text};

    fn capture(text: &str) -> LlamaCounters {
        LlamaCounters::from_samples(&parse_prometheus_text(text).unwrap()).unwrap()
    }

    fn reading(at_unix_ms: i64, counters: LlamaCounters) -> Reading {
        Reading {
            at_unix_ms,
            counters,
            restart_marker: None,
            busy: 0.0,
            power_w: None,
        }
    }

    fn counters(prompt: f64, prompt_s: f64, predicted: f64, predicted_s: f64) -> LlamaCounters {
        LlamaCounters {
            prompt_tokens_total: prompt,
            prompt_seconds_total: prompt_s,
            tokens_predicted_total: predicted,
            tokens_predicted_seconds_total: predicted_s,
            ..LlamaCounters::default()
        }
    }

    /// The two real captures, 30 s apart: three requests of 10 prompt and 64 generated tokens
    /// each ran on the 4-slot server in between.
    #[test]
    fn rates_from_the_real_captures_checked_by_hand() {
        let idle = reading(
            1_000_000,
            capture(include_str!("../tests/fixtures/metrics-idle.txt")),
        );
        let after = reading(
            1_030_000,
            capture(include_str!("../tests/fixtures/metrics-after.txt")),
        );
        // 192 − 2.21236 × 85.429 = 3.0003: three requests finished.
        let requests_finished = requests_finished_between(&idle.counters, &after.counters);
        assert_eq!(requests_finished, 3);
        let sums = IntervalSums {
            busy_integral_ms: 3.0 * 29_765.0,
            requests_finished,
            ..IntervalSums::default()
        };
        let window = compute_window(&idle, &after, &sums).unwrap();
        assert_eq!(window.prompt_tokens, 30);
        assert_eq!(window.predicted_tokens, 192);
        assert_eq!(window.requests_finished, 3);
        // 30 / 1.54104 = 19.4674 tok/s; the server's own gauge read 19.4673 in that capture.
        assert!(
            (window.prefill_tok_s - 19.4674).abs() < 1e-3,
            "{}",
            window.prefill_tok_s
        );
        // (192 − 3) / 85.429 = 2.21236 tok/s per stream, the server's gauge in that capture (the
        // first token of each request costs no decode time; 192 / 85.429 would say 2.24748).
        assert!(
            (window.decode_tok_s - 2.21236).abs() < 1e-5,
            "{}",
            window.decode_tok_s
        );
        // 192 tokens over 30 s of wall time = 6.4 tok/s for the server.
        assert!((window.aggregate_decode_tok_s - 6.4).abs() < 1e-9);
        // Three requests busy for 29.765 s each within 30 s: 2.9765 on average.
        assert!((window.mean_concurrency - 2.9765).abs() < 1e-9);
        assert_eq!(window.cache_hit_rate, 0.0);
        assert_eq!(window.queue_depth, 0.0);
        assert_eq!(window.power_w, None);
    }

    #[test]
    fn cache_hit_rate_counts_cached_against_all_prompt_tokens() {
        let mut before = counters(100.0, 1.0, 0.0, 0.0);
        before.prompt_tokens_cached_total = 50.0;
        let mut after = counters(130.0, 1.5, 10.0, 1.0);
        after.prompt_tokens_cached_total = 140.0;
        after.requests_deferred = 3.0;
        let window = compute_window(
            &reading(0, before),
            &reading(2_000, after),
            &IntervalSums {
                power_sum_w: 700.0,
                power_count: 2,
                ..IntervalSums::default()
            },
        )
        .unwrap();
        // 90 cached of 90 + 30 prompt tokens.
        assert_eq!(window.cache_hit_rate, 0.75);
        assert_eq!(window.prefill_tok_s, 60.0);
        assert_eq!(window.decode_tok_s, 10.0);
        assert_eq!(window.aggregate_decode_tok_s, 5.0);
        assert_eq!(window.queue_depth, 3.0);
        assert_eq!(window.power_w, Some(350.0));
    }

    #[test]
    fn a_dropping_counter_is_a_restart_not_a_negative_rate() {
        let mut tracker = WindowTracker::new(WindowPolicy {
            min_predicted_tokens: 10,
            max_window_ms: 60_000,
        });
        assert_eq!(
            tracker.push(reading(0, counters(1000.0, 10.0, 5000.0, 100.0))),
            WindowEvent::Baseline
        );
        assert_eq!(
            tracker.push(reading(1_000, counters(1000.0, 10.0, 5005.0, 101.0))),
            WindowEvent::Collecting
        );
        let event = tracker.push(reading(2_000, counters(10.0, 0.1, 64.0, 2.0)));
        assert!(
            matches!(
                event,
                WindowEvent::Restarted(RateError::CounterReset {
                    counter: "prompt_tokens_total",
                    ..
                })
            ),
            "{event:?}"
        );
        // The post-restart reading is the new baseline: the next window counts from it.
        let WindowEvent::Window(window) =
            tracker.push(reading(4_000, counters(20.0, 0.2, 128.0, 4.0)))
        else {
            panic!("expected a window");
        };
        assert_eq!(window.start_unix_ms, 2_000);
        assert_eq!(window.predicted_tokens, 64);
        assert_eq!(window.decode_tok_s, 32.0);
        assert_eq!(window.aggregate_decode_tok_s, 32.0);
    }

    #[test]
    fn a_changed_restart_marker_is_a_restart_even_when_counters_grew() {
        let mut before = reading(0, counters(10.0, 1.0, 10.0, 1.0));
        before.restart_marker = Some("1234".into());
        let mut after = reading(1_000, counters(900.0, 9.0, 900.0, 9.0));
        after.restart_marker = Some("99".into());
        assert!(matches!(
            compute_window(&before, &after, &IntervalSums::default()),
            Err(RateError::MarkerChanged { .. })
        ));
    }

    #[test]
    fn short_intervals_merge_until_enough_tokens_finished() {
        let mut tracker = WindowTracker::new(WindowPolicy {
            min_predicted_tokens: 128,
            max_window_ms: 60_000,
        });
        let mut busy = |at, predicted, predicted_s, busy| {
            let mut r = reading(at, counters(0.0, 0.0, predicted, predicted_s));
            r.busy = busy;
            tracker.push(r)
        };
        assert_eq!(busy(0, 0.0, 0.0, 2.0), WindowEvent::Baseline);
        // One 64-token request finishes at 1 s: not enough yet.
        assert_eq!(busy(1_000, 64.0, 4.0, 2.0), WindowEvent::Collecting);
        assert_eq!(busy(2_000, 64.0, 4.0, 2.0), WindowEvent::Collecting);
        // The second finishes at 3 s: a 3 s window of 128 tokens.
        let WindowEvent::Window(window) = busy(3_000, 128.0, 8.0, 0.0) else {
            panic!()
        };
        assert_eq!((window.start_unix_ms, window.end_unix_ms), (0, 3_000));
        assert_eq!(window.predicted_tokens, 128);
        assert_eq!(window.decode_tok_s, 16.0);
        assert!((window.aggregate_decode_tok_s - 128.0 / 3.0).abs() < 1e-12);
        // busy 2 for 2 s, then 2→0 over the last second: (2000·2 + 1000·1) / 3000.
        assert!((window.mean_concurrency - 5.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn idle_windows_are_dropped_and_quiet_ones_emitted_at_max_age() {
        let policy = WindowPolicy {
            min_predicted_tokens: 1000,
            max_window_ms: 10_000,
        };
        let mut tracker = WindowTracker::new(policy);
        tracker.push(reading(0, counters(0.0, 0.0, 0.0, 0.0)));
        assert_eq!(
            tracker.push(reading(10_000, counters(0.0, 0.0, 0.0, 0.0))),
            WindowEvent::IdleDropped
        );
        let WindowEvent::Window(window) =
            tracker.push(reading(20_000, counters(5.0, 0.5, 20.0, 2.0)))
        else {
            panic!()
        };
        assert_eq!(
            (window.start_unix_ms, window.predicted_tokens),
            (10_000, 20)
        );
        assert_eq!(window.aggregate_decode_tok_s, 2.0);
    }

    #[test]
    fn nan_counters_never_make_a_rate() {
        let before = reading(0, counters(0.0, 0.0, 0.0, 0.0));
        let after = reading(1_000, counters(f64::NAN, f64::NAN, f64::NAN, f64::NAN));
        assert!(compute_window(&before, &after, &IntervalSums::default()).is_err());
        let window = compute_window(
            &before,
            &reading(1_000, counters(5.0, 0.0, 0.0, 0.0)),
            &IntervalSums::default(),
        )
        .unwrap();
        assert_eq!(window.prefill_tok_s, 0.0);
    }

    /// Counters after `requests` more requests of `tokens` generated tokens at `steps_per_s`
    /// decode steps a second, with the gauge as llama-server reports it at the next call.
    fn finish(
        before: &LlamaCounters,
        requests: u32,
        tokens: u32,
        steps_per_s: f64,
    ) -> LlamaCounters {
        let seconds = f64::from(requests * (tokens - 1)) / steps_per_s;
        let mut after = counters(
            before.prompt_tokens_total + f64::from(requests * 10),
            before.prompt_seconds_total + 0.1,
            before.tokens_predicted_total + f64::from(requests * tokens),
            before.tokens_predicted_seconds_total + seconds,
        );
        after.predicted_tokens_seconds = Some(if requests == 0 { 0.0 } else { steps_per_s });
        after
    }

    fn tracker_of(min_predicted_tokens: u64) -> WindowTracker {
        WindowTracker::new(WindowPolicy {
            min_predicted_tokens,
            max_window_ms: 60_000,
        })
    }

    #[test]
    fn requests_are_counted_interval_by_interval_and_summed_over_the_window() {
        let mut tracker = tracker_of(200);
        let c0 = counters(0.0, 0.0, 0.0, 0.0);
        // Two 48-token requests at 20 steps/s, then none, then three 8-token ones at 10 steps/s.
        let c1 = finish(&c0, 2, 48, 20.0);
        let c2 = finish(&c1, 0, 48, 20.0);
        let c3 = finish(&c2, 3, 8, 10.0);
        // Each interval's count comes from the gauge read at its end, which covers exactly it.
        assert_eq!(requests_finished_between(&c0, &c1), 2);
        assert_eq!(requests_finished_between(&c1, &c2), 0);
        assert_eq!(requests_finished_between(&c2, &c3), 3);
        let c4 = finish(&c3, 2, 48, 20.0);
        assert_eq!(tracker.push(reading(0, c0)), WindowEvent::Baseline);
        assert_eq!(tracker.push(reading(1_000, c1)), WindowEvent::Collecting);
        assert_eq!(tracker.push(reading(2_000, c2)), WindowEvent::Collecting);
        assert_eq!(tracker.push(reading(3_000, c3)), WindowEvent::Collecting);
        let WindowEvent::Window(window) = tracker.push(reading(4_000, c4)) else {
            panic!("expected a window")
        };
        // 96 + 24 + 96 tokens from 7 requests: 209 decode steps in 4.7 + 2.1 + 4.7 s.
        assert_eq!(window.predicted_tokens, 216);
        assert_eq!(window.requests_finished, 7);
        assert!((window.predicted_seconds - 11.5).abs() < 1e-9);
        assert!((window.decode_tok_s - 209.0 / 11.5).abs() < 1e-9);
        assert_eq!(window.aggregate_decode_tok_s, 54.0);
    }

    #[test]
    fn request_counts_stay_within_the_tokens_whatever_the_gauge() {
        let c0 = counters(0.0, 0.0, 100.0, 10.0);
        let mut c1 = finish(&c0, 2, 48, 20.0);
        // Another reader reset the gauge after these requests finished: at most every token
        // is a request, never more.
        c1.predicted_tokens_seconds = Some(0.0);
        assert_eq!(requests_finished_between(&c0, &c1), 96);
        // A gauge above the counters' own rate: never a negative count.
        c1.predicted_tokens_seconds = Some(1_000.0);
        assert_eq!(requests_finished_between(&c0, &c1), 0);
        // No gauge (or not a number): no request counted, decode is Σn / Σt as before.
        c1.predicted_tokens_seconds = None;
        assert_eq!(requests_finished_between(&c0, &c1), 0);
        c1.predicted_tokens_seconds = Some(f64::NAN);
        assert_eq!(requests_finished_between(&c0, &c1), 0);
    }

    #[test]
    fn a_failed_read_ends_the_open_window_and_the_next_reading_is_a_baseline() {
        let mut tracker = tracker_of(64);
        let c0 = counters(0.0, 0.0, 0.0, 0.0);
        let c1 = finish(&c0, 1, 32, 20.0);
        let c2 = finish(&c1, 2, 48, 20.0);
        let c3 = finish(&c2, 2, 48, 20.0);
        assert_eq!(tracker.push(reading(0, c0)), WindowEvent::Baseline);
        assert_eq!(tracker.push(reading(1_000, c1)), WindowEvent::Collecting);
        tracker.interrupt();
        assert_eq!(tracker.push(reading(3_000, c2)), WindowEvent::Baseline);
        let WindowEvent::Window(window) = tracker.push(reading(4_000, c3)) else {
            panic!("expected a window")
        };
        // Only what finished after the new baseline: the 32 tokens before the failure are gone.
        assert_eq!((window.start_unix_ms, window.predicted_tokens), (3_000, 96));
        assert_eq!(window.requests_finished, 2);
        // A restart is still reported as one after a failed read.
        tracker.interrupt();
        assert!(matches!(
            tracker.push(reading(6_000, finish(&c0, 1, 8, 20.0))),
            WindowEvent::Restarted(RateError::CounterReset { .. })
        ));
    }
}
