//! The planner's error type: what went wrong with a request, in words a user can act on.

use crate::catalog::CatalogError;

/// Returns why a plan could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// A request field is missing or out of range; `field` is its path, e.g. `workloads[0].input_share`.
    #[error("invalid {field}: {reason}")]
    InvalidRequest {
        /// Path of the offending field.
        field: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// No fleet can meet the request; `reason` says which requirement fails and by how much.
    #[error("infeasible: {reason}")]
    Infeasible {
        /// Which requirement cannot be met and by how much.
        reason: String,
    },
    /// The catalog is unusable.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The time limit ran out before the solver had any feasible fleet.
    #[error(
        "no plan found within the {limit_s} s time limit ({detail}); raise the time limit or use fewer distinct hourly profiles"
    )]
    TimeLimit {
        /// The limit of the whole proposal, in seconds.
        limit_s: f64,
        /// How large the model was, or what used the time.
        detail: String,
    },
    /// The solver failed for a reason other than infeasibility.
    #[error("solver failed: {0}")]
    Solver(String),
}

impl PlanError {
    /// Returns an [`PlanError::InvalidRequest`] for a field.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        PlanError::InvalidRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
