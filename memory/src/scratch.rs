//! Throw-away PostgreSQL databases, for tests and benchmarks that need a fresh one.

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use troupe_runtime::store::StoreError;

use crate::sql::db_error;

/// A fresh database on a PostgreSQL server, removed by [`ScratchDatabase::drop_database`].
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// The URL of the fresh database.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates a database named `<prefix>_<uuid>` on the server `admin_url` points at.
    pub async fn create(admin_url: &str, prefix: &str) -> Result<Self, StoreError> {
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(admin_url).await.map_err(db_error)?;
        // Database names cannot be bound as parameters; `name` is built here from a fixed
        // prefix and a UUID, never from input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .map_err(db_error)?;
        let _ = admin.close().await;
        let url = replace_database(admin_url, &name);
        Ok(ScratchDatabase { admin_url: admin_url.to_owned(), name, url })
    }

    /// Drops the database, terminating connections to it first.
    pub async fn drop_database(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
            let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut admin).await;
            let _ = admin.close().await;
        }
    }
}

/// Returns `url` with its database name replaced by `name` (query parameters kept).
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let path_start = base[authority_start..].find('/').map(|index| authority_start + index);
    let mut replaced = match path_start {
        Some(index) => format!("{}/{name}", &base[..index]),
        None => format!("{base}/{name}"),
    };
    if let Some(query) = query {
        replaced.push('?');
        replaced.push_str(query);
    }
    replaced
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(super::replace_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            super::replace_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(super::replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
