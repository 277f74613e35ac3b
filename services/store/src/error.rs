//! The storage layer's one error type.

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record to read, replace or delete does not exist.
    #[error("{what} {id:?} not found")]
    NotFound {
        /// Kind of record, e.g. "hardware sku".
        what: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// A record with this id already exists where ids must be unique.
    #[error("{what} {id:?} already exists")]
    AlreadyExists {
        /// Kind of record, e.g. "plan".
        what: &'static str,
        /// The id that is taken.
        id: String,
    },
    /// An argument cannot be stored as given.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it, with the bad value.
        reason: String,
    },
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed to apply.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
