//! Queueing: how busy a node may run before a workload's TTFT p95 slips past its SLO.
//!
//! A node runs `instances × N` llama-server slots. A request holds one slot for its service time
//! `S = prompt ÷ prefill tok/s + output tokens ÷ per-stream decode tok/s`, and a request that
//! finds every slot busy waits (llama-server queues it; `timings.prompt_ms` excludes that wait,
//! so client-seen TTFT = wait + prompt time). Each node is modelled as an M/M/c queue with
//! c = its slots (Erlang C), conservatively on its own: a gateway that balances across nodes
//! only does better. For a workload with a TTFT p95 limit, the planner caps the node's busy
//! fraction at the largest utilization ρ with `prompt time + wait p95(ρ) ≤ limit`, where
//! `P(wait > t) = C(c, cρ) · e^(−c(1−ρ)t/S)`. The cap applies to the node's busy fraction, which
//! is at least the slot occupancy ρ (prefill occupies the whole instance), so it errs safe.

/// Returns Erlang C: the probability that an arrival waits, for `servers` servers at
/// utilization `rho` in [0, 1) (offered load `servers × rho`). Returns 1 for `rho ≥ 1`.
pub fn erlang_c(servers: u32, rho: f64) -> f64 {
    if rho <= 0.0 {
        return 0.0;
    }
    if rho >= 1.0 {
        return 1.0;
    }
    let c = f64::from(servers.max(1));
    let load = c * rho;
    // Erlang B by its stable recursion, then C = B / (1 − ρ(1 − B)).
    let mut b = 1.0;
    for k in 1..=servers.max(1) {
        b = load * b / (f64::from(k) + load * b);
    }
    b / (1.0 - rho * (1.0 - b))
}

/// Returns the `quantile` (e.g. 0.95) of the wait for a slot, in seconds, for `servers` slots
/// at utilization `rho` with mean service time `service_s`.
pub fn wait_quantile_s(servers: u32, rho: f64, service_s: f64, quantile: f64) -> f64 {
    if rho >= 1.0 {
        return f64::INFINITY;
    }
    let p_wait = erlang_c(servers, rho);
    let tail = 1.0 - quantile;
    if p_wait <= tail {
        return 0.0;
    }
    let drain_per_s = f64::from(servers.max(1)) * (1.0 - rho) / service_s;
    (p_wait / tail).ln() / drain_per_s
}

/// Returns the largest utilization in [0, 1) at which `prefill_s + wait p95 ≤ ttft_limit_s`,
/// to 1e-6 (bisection: the wait grows with ρ). Returns 0 when the prompt alone misses the limit.
pub fn max_utilization_for_ttft(
    servers: u32,
    service_s: f64,
    prefill_s: f64,
    ttft_limit_s: f64,
) -> f64 {
    let slack_s = ttft_limit_s - prefill_s;
    if slack_s < 0.0 {
        return 0.0;
    }
    let ok = |rho: f64| wait_quantile_s(servers, rho, service_s, 0.95) <= slack_s;
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while hi - lo > 1e-6 {
        let mid = (lo + hi) / 2.0;
        if ok(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_textbook_values() {
        // One server: C = ρ.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // Two servers: C = 2ρ² / (1 + ρ).
        assert!((erlang_c(2, 0.5) - 2.0 * 0.25 / 1.5).abs() < 1e-12);
        // c = 10, a = 8 (ρ = 0.8): C ≈ 0.409 (standard Erlang C tables).
        assert!((erlang_c(10, 0.8) - 0.4092).abs() < 1e-3);
        assert_eq!(erlang_c(4, 0.0), 0.0);
        assert_eq!(erlang_c(4, 1.0), 1.0);
    }

    #[test]
    fn wait_p95_of_one_server_is_the_closed_form() {
        // M/M/1: P(W > t) = ρ e^(−(1−ρ)t/S) → t95 = S ln(ρ/0.05) / (1 − ρ).
        let (rho, s) = (0.5, 10.0);
        let expected = s * (rho / 0.05_f64).ln() / (1.0 - rho);
        assert!((wait_quantile_s(1, rho, s, 0.95) - expected).abs() < 1e-9);
        // Below 5% chance of waiting, the p95 wait is zero.
        assert_eq!(wait_quantile_s(1, 0.04, s, 0.95), 0.0);
    }

    #[test]
    fn utilization_cap_meets_the_slack_exactly_and_grows_with_slots() {
        // S = 60 s, prompt 1 s, limit 2 s: one slot tolerates almost no queueing.
        let one = max_utilization_for_ttft(1, 60.0, 1.0, 2.0);
        let wait = wait_quantile_s(1, one, 60.0, 0.95);
        assert!(
            wait <= 1.0 + 1e-9 && one > 0.05 && one < 0.06,
            "{one} {wait}"
        );
        // More slots, same per-slot service time: more headroom.
        let four = max_utilization_for_ttft(4, 60.0, 1.0, 2.0);
        assert!(four > one * 3.0, "{four}");
        // Lots of slack: the cap approaches 1.
        assert!(max_utilization_for_ttft(8, 1.0, 0.1, 600.0) > 0.98);
        // The prompt alone misses the limit.
        assert_eq!(max_utilization_for_ttft(8, 60.0, 3.0, 2.0), 0.0);
    }
}
