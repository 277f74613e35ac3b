//! MIP backends behind one call: the pure-Rust `microlp` (always built) and HiGHS (the `highs`
//! cargo feature). The model is built once as data ([`crate::solve`]'s formulation); a backend
//! takes it as good_lp variables and constraints and returns every column's value, the status and
//! the relative gap to its best bound.
//!
//! `auto` picks microlp for small models, where it is faster, and HiGHS from
//! [`AUTO_HIGHS_VARIABLES`] variables up, where microlp's dense simplex falls behind (see the
//! "Hourly schedule" table in BENCHMARKS.md). Without the feature `auto` is microlp.

use std::str::FromStr;

use good_lp::{
    Constraint, Expression, ProblemVariables, ResolutionError, Solution, SolutionStatus, Solver,
    SolverModel, Variable, WithMipGap, WithTimeLimit, constraint, variable,
};
use serde::{Deserialize, Serialize};

use crate::interior_point::Sense;
use crate::solve::formulation::Model;

/// Models with at least this many variables go to HiGHS under [`Backend::Auto`] when it is built.
pub const AUTO_HIGHS_VARIABLES: usize = 20_000;

/// Which solver runs the MIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// microlp below [`AUTO_HIGHS_VARIABLES`] variables, HiGHS from there when built with it.
    #[default]
    Auto,
    /// The pure-Rust microlp (always available).
    Microlp,
    /// HiGHS; only in builds with the `highs` feature.
    Highs,
}

impl Backend {
    /// Whether this build has HiGHS.
    pub const HIGHS_BUILT: bool = cfg!(feature = "highs");

    /// Returns an error naming the `highs` feature when this build cannot run the backend.
    pub fn check_available(self) -> Result<Self, String> {
        if self == Backend::Highs && !Self::HIGHS_BUILT {
            return Err(
                "the HiGHS backend is not in this build; rebuild with `--features highs` (needs cmake, g++ and libclang-dev) or use microlp".into(),
            );
        }
        Ok(self)
    }

    /// The backend that runs a model of `variables` variables.
    pub fn resolve(self, variables: usize) -> Backend {
        match self {
            Backend::Auto if Self::HIGHS_BUILT && variables >= AUTO_HIGHS_VARIABLES => {
                Backend::Highs
            }
            Backend::Auto => Backend::Microlp,
            other => other,
        }
    }

    /// The backend in words, as a plan shows it.
    pub fn describe(self) -> String {
        match self {
            Backend::Auto | Backend::Microlp => "microlp (good_lp)".into(),
            Backend::Highs => "HiGHS (good_lp)".into(),
        }
    }

    /// Minimises `model` within `time_limit_s`, stopping early at `mip_gap`; `self` is a
    /// backend already [resolved](Backend::resolve) against the model's size.
    pub(crate) fn run(
        self,
        model: &Model,
        time_limit_s: Option<f64>,
        mip_gap: Option<f32>,
    ) -> Result<Solved, BackendFailure> {
        let problem = GoodLpModel::new(model, time_limit_s, mip_gap);
        let (status, gap, values) = match self {
            Backend::Highs => run_highs(problem)?,
            Backend::Auto | Backend::Microlp => match run_microlp(problem) {
                // microlp's feasibility guard is absolute: rows with large coefficients can
                // leave a vertex just outside it. The same rows each divided by their largest
                // coefficient are the same model, better conditioned: try once more with them.
                Err(BackendFailure::Other(first)) => {
                    let equilibrated = equilibrate_rows(model);
                    run_microlp(GoodLpModel::new(&equilibrated, time_limit_s, mip_gap)).map_err(
                        |failure| match failure {
                            BackendFailure::Other(second) => BackendFailure::Other(format!(
                                "{first} (and again with equilibrated rows: {second})"
                            )),
                            other => other,
                        },
                    )?
                }
                other => other?,
            },
        };
        if values.len() != model.columns.len() {
            return Err(BackendFailure::Other(format!(
                "the solver returned {} values for {} variables",
                values.len(),
                model.columns.len()
            )));
        }
        Ok(Solved {
            status,
            gap,
            values,
        })
    }
}

/// Returns the model with every row scaled so its largest coefficient is 1 in magnitude: the
/// same feasible set and objective.
fn equilibrate_rows(model: &Model) -> Model {
    let mut scaled = model.clone();
    for row in &mut scaled.rows {
        let largest = row.terms.iter().map(|(_, a)| a.abs()).fold(0.0, f64::max);
        if largest > 0.0 && largest.is_finite() {
            for (_, a) in &mut row.terms {
                *a /= largest;
            }
            row.rhs /= largest;
        }
    }
    scaled
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "microlp" => Ok(Backend::Microlp),
            "highs" => Ok(Backend::Highs),
            _ => Err(format!(
                "unknown solver '{text}'; expected auto, microlp or highs"
            )),
        }
    }
}

/// A model as good_lp takes it: columns as variables in the model's order, rows as constraints.
struct GoodLpModel {
    vars: ProblemVariables,
    objective: Expression,
    rows: Vec<Constraint>,
    time_limit_s: Option<f64>,
    mip_gap: Option<f32>,
}

impl GoodLpModel {
    fn new(model: &Model, time_limit_s: Option<f64>, mip_gap: Option<f32>) -> Self {
        let mut vars = ProblemVariables::new();
        let columns: Vec<Variable> = model
            .columns
            .iter()
            .map(|column| {
                let mut definition = variable().min(0);
                if column.upper.is_finite() {
                    definition = definition.max(column.upper);
                }
                if column.integer {
                    definition = definition.integer();
                }
                vars.add(definition)
            })
            .collect();
        let objective: Expression = model
            .columns
            .iter()
            .zip(&columns)
            .filter(|(c, _)| c.cost != 0.0)
            .map(|(c, &v)| c.cost * v)
            .sum();
        let rows = model
            .rows
            .iter()
            .map(|row| {
                let lhs: Expression = row.terms.iter().map(|&(j, a)| a * columns[j]).sum();
                let rhs = row.rhs;
                match row.sense {
                    Sense::AtMost => constraint!(lhs <= rhs),
                    Sense::Equal => constraint!(lhs == rhs),
                    Sense::AtLeast => constraint!(lhs >= rhs),
                }
            })
            .collect();
        GoodLpModel {
            vars,
            objective,
            rows,
            time_limit_s,
            mip_gap,
        }
    }

    /// The backend's model with every row added; the limits are left to the caller, whose
    /// backend sets them its own way.
    fn into_model<S: Solver>(self, solver: S) -> (S::Model, Option<f64>, Option<f32>) {
        let mut model = self.vars.minimise(self.objective).using(solver);
        for row in self.rows {
            model.add_constraint(row);
        }
        (model, self.time_limit_s, self.mip_gap)
    }
}

/// Status word, gap and every column's value in the model's order.
type Answer = (&'static str, f64, Vec<f64>);

/// A backend's answer with a feasible point.
pub(crate) struct Solved {
    /// optimal, time_limit or gap_limit.
    pub(crate) status: &'static str,
    /// Relative gap between the incumbent and the best bound (0 when proven optimal).
    pub(crate) gap: f64,
    /// Every column's value, in the model's order.
    pub(crate) values: Vec<f64>,
}

/// Why a backend has no feasible point.
pub(crate) enum BackendFailure {
    Infeasible,
    /// The time limit ran out before any feasible point.
    TimeLimit,
    Other(String),
}

fn status_word(status: SolutionStatus) -> &'static str {
    match status {
        SolutionStatus::Optimal => "optimal",
        SolutionStatus::TimeLimit => "time_limit",
        SolutionStatus::GapLimit => "gap_limit",
    }
}

fn run_microlp(problem: GoodLpModel) -> Result<Answer, BackendFailure> {
    let (mut model, time_limit_s, mip_gap) = problem.into_model(good_lp::microlp);
    if let Some(limit) = time_limit_s {
        model = model.with_time_limit(limit);
    }
    if let Some(gap) = mip_gap {
        model = model
            .with_mip_gap(gap)
            .map_err(|e| BackendFailure::Other(e.to_string()))?;
    }
    match model.solve() {
        Ok(solution) => {
            let status = status_word(solution.status());
            let inner = solution.into_inner();
            let gap = inner.gap().unwrap_or(0.0).max(0.0);
            Ok((status, gap, inner.iter().map(|(_, value)| value).collect()))
        }
        Err(ResolutionError::Infeasible) => Err(BackendFailure::Infeasible),
        Err(other) if other.to_string().contains("Time limit reached") => {
            Err(BackendFailure::TimeLimit)
        }
        Err(other) => Err(BackendFailure::Other(other.to_string())),
    }
}

#[cfg(feature = "highs")]
fn run_highs(problem: GoodLpModel) -> Result<Answer, BackendFailure> {
    use highs::{HighsModelStatus, HighsSolutionStatus};

    let (built, time_limit_s, mip_gap) = problem.into_model(good_lp::highs);
    let mut model = built
        .try_into_inner()
        .map_err(|e| BackendFailure::Other(e.to_string()))?;
    model.make_quiet();
    let options: [(&str, Option<f64>); 2] = [
        ("time_limit", time_limit_s),
        ("mip_rel_gap", mip_gap.map(f64::from)),
    ];
    for (key, value) in options {
        if let Some(value) = value {
            model
                .try_set_option(key, value)
                .map_err(|e| BackendFailure::Other(format!("HiGHS option {key}: {e:?}")))?;
        }
    }
    let solved = model
        .try_solve()
        .map_err(|e| BackendFailure::Other(format!("HiGHS failed: {e:?}")))?;
    let stopped = match solved.status() {
        HighsModelStatus::Infeasible | HighsModelStatus::UnboundedOrInfeasible => {
            return Err(BackendFailure::Infeasible);
        }
        HighsModelStatus::Optimal
        | HighsModelStatus::ObjectiveBound
        | HighsModelStatus::ObjectiveTarget => false,
        HighsModelStatus::ReachedTimeLimit
        | HighsModelStatus::ReachedIterationLimit
        | HighsModelStatus::ReachedSolutionLimit
        | HighsModelStatus::ReachedInterrupt => true,
        other => return Err(BackendFailure::Other(format!("HiGHS status {other:?}"))),
    };
    if solved.primal_solution_status() != HighsSolutionStatus::Feasible {
        return Err(if stopped {
            BackendFailure::TimeLimit
        } else {
            BackendFailure::Other("HiGHS returned no feasible point".into())
        });
    }
    let gap = solved.mip_gap();
    let gap = if gap.is_finite() { gap.max(0.0) } else { 0.0 };
    let status = if stopped {
        "time_limit"
    } else if gap > 1e-9 {
        "gap_limit"
    } else {
        "optimal"
    };
    Ok((
        status,
        if status == "optimal" { 0.0 } else { gap },
        solved.get_solution().columns().to_vec(),
    ))
}

#[cfg(not(feature = "highs"))]
fn run_highs(_problem: GoodLpModel) -> Result<Answer, BackendFailure> {
    Err(BackendFailure::Other(
        Backend::Highs.check_available().unwrap_err(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively_and_unknown_ones_are_named() {
        assert_eq!("auto".parse::<Backend>(), Ok(Backend::Auto));
        assert_eq!(" MicroLP ".parse::<Backend>(), Ok(Backend::Microlp));
        assert_eq!("HiGHS".parse::<Backend>(), Ok(Backend::Highs));
        let error = "cbc".parse::<Backend>().unwrap_err();
        assert!(error.contains("'cbc'") && error.contains("auto, microlp or highs"));
    }

    #[test]
    fn auto_takes_highs_only_for_large_models_in_builds_that_have_it() {
        assert_eq!(Backend::Auto.resolve(10), Backend::Microlp);
        assert_eq!(
            Backend::Auto.resolve(AUTO_HIGHS_VARIABLES),
            if Backend::HIGHS_BUILT {
                Backend::Highs
            } else {
                Backend::Microlp
            }
        );
        assert_eq!(Backend::Microlp.resolve(1_000_000), Backend::Microlp);
        assert_eq!(Backend::Highs.resolve(1), Backend::Highs);
    }

    #[test]
    fn highs_is_available_exactly_when_built() {
        assert_eq!(Backend::Microlp.check_available(), Ok(Backend::Microlp));
        let built = cfg!(feature = "highs");
        match Backend::Highs.check_available() {
            Ok(backend) => {
                assert!(built);
                assert_eq!(backend, Backend::Highs);
            }
            Err(message) => {
                assert!(!built);
                assert!(message.contains("--features highs"), "{message}");
            }
        }
    }
}
