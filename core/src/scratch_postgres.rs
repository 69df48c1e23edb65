//! Scratch PostgreSQL databases for tests and benchmarks: each made under a
//! new name on a server reached through an admin URL, and dropped when done.
//!
//! Left behind, they pile up on a developer's server (hundreds after a few
//! test runs), and autovacuum then visits every one of them, taking CPU from
//! whatever is measured next. Only built for tests (the `testing` feature).

/// A database of its own on a PostgreSQL server, dropped with this value;
/// kept (and named on stderr) when dropped while a test is failing, so that
/// it can be looked at.
pub struct ScratchPostgres {
    /// The database's name: `<prefix>_<uuid>`.
    pub name: String,
    /// A URL to it: the admin URL with the database's name as its path.
    pub url: String,
    admin_url: String,
}

impl ScratchPostgres {
    /// Creates `<prefix>_<uuid>` on the server `admin_url` points at (the
    /// user must be allowed to `CREATE DATABASE`).
    pub async fn create(admin_url: &str, prefix: &str) -> Result<Self, sqlx::Error> {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url).await?;
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await?;
        let base = admin_url
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or(admin_url);
        Ok(ScratchPostgres {
            url: format!("{base}/{name}"),
            name,
            admin_url: admin_url.to_string(),
        })
    }
}

/// Drops `name`, ending any session still connected to it.
async fn drop_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url).await?;
    sqlx::Executor::execute(
        &mut conn,
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
    )
    .await?;
    Ok(())
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept PostgreSQL database {} of a failed test", self.name);
            return;
        }
        // Drop runs inside the caller's runtime, which must not be blocked
        // on: the drop gets a thread and a runtime of its own.
        let admin_url = std::mem::take(&mut self.admin_url);
        let name = std::mem::take(&mut self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(drop_database(&admin_url, &name))
                .map_err(|e| format!("{name}: {e}"))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop the scratch PostgreSQL database {e}"),
            Err(_) => eprintln!("dropping a scratch PostgreSQL database panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    async fn exists(admin_url: &str, name: &str) -> bool {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url)
            .await
            .unwrap();
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    /// Dropped, the database goes, even with a pool still connected to it;
    /// dropped while its test panics, it stays.
    #[tokio::test]
    async fn a_scratch_database_is_dropped_unless_its_test_fails() {
        // Skips, or fails without a server, as every PostgreSQL test does.
        let Some((db, scratch)) = crate::db::tests::fresh_postgres("rl_scratch").await else {
            return;
        };
        let admin_url = std::env::var("RISKLINE_TEST_POSTGRES_URL").unwrap();
        let name = scratch.name.clone();
        assert!(exists(&admin_url, &name).await);
        drop(scratch);
        assert!(!exists(&admin_url, &name).await, "{name} was not dropped");
        db.close().await;

        let failing = ScratchPostgres::create(&admin_url, "rl_scratch")
            .await
            .unwrap();
        let name = failing.name.clone();
        let outcome = std::thread::spawn(move || {
            let _held = failing;
            panic!("a failing test");
        })
        .join();
        assert!(outcome.is_err());
        assert!(exists(&admin_url, &name).await, "{name} was dropped");
        drop_database(&admin_url, &name).await.unwrap();
        assert!(!exists(&admin_url, &name).await);
    }
}
