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
    /// The database refused a value as data it cannot store (PostgreSQL: a NUL byte in TEXT, a
    /// key past the index's size limit; SQLite: a value past its size limit). The caller's
    /// input is at fault, not the database: retrying cannot help.
    #[error("the database cannot store a value: {reason}")]
    InvalidData {
        /// The database's words.
        reason: String,
    },
    /// No connection within the connect timeout: the database accepts but does not answer, or
    /// is not there.
    #[error("the database did not answer within {timeout:?}")]
    ConnectTimeout {
        /// The timeout that ran out.
        timeout: std::time::Duration,
    },
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// A migration failed to apply.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    /// Tells a value the database refuses ([`StoreError::InvalidData`]) from a database that
    /// fails ([`StoreError::Database`]).
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(database) if refuses_data(database.as_ref()) => {
                StoreError::InvalidData {
                    reason: database.message().to_string(),
                }
            }
            sqlx::Error::Encode(cause) => StoreError::InvalidData {
                reason: cause.to_string(),
            },
            _ => StoreError::Database(error),
        }
    }
}

/// Returns whether a database error is about the data sent, not the database: PostgreSQL's
/// SQLSTATE classes 22 (data exception: a NUL byte is 22021, a string too long 22001) and 54
/// (program limit exceeded: an index key past its size, 54000); SQLite's SQLITE_TOOBIG (18).
fn refuses_data(error: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = error.code() else {
        return false;
    };
    match error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        Some(_) => code.starts_with("22") || code.starts_with("54"),
        None => code == "18",
    }
}
