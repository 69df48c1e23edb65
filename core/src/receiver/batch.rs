//! What the SETs of one group commit need from the database, read with a
//! few statements per batch instead of several per SET: the users that
//! email subjects name, which `jti`s are new, and the providers' level
//! overrides.
//!
//! Each statement is a round trip (PostgreSQL) or a hand-off to SQLite's
//! worker thread, which costs more than the work itself; the batch's rows
//! travel as one JSON array parameter, so each statement has one text and
//! stays prepared whatever the batch size.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde_json::Value;

use super::Job;
use crate::db::{Tx, TxConn};
use crate::directory::{User, UserRowPublic, USER_COLUMNS};
use crate::error::CoreError;
use crate::set::{Interpretation, UserIdentifier};

/// The batch's users by email or login, locked in id order (PostgreSQL).
/// Each email is looked up on its own through the indexes, then the rows by
/// primary key: `email = ANY($1) OR login = ANY($1)` is planned from the
/// table's statistics, and a directory filled since the last ANALYZE has
/// none, so PostgreSQL guessed 50 rows an email and read the whole table on
/// every batch (1-4 ms at 10,000 users, more with every user added, until
/// autovacuum's next ANALYZE). This shape takes the indexes with or without
/// statistics.
pub(crate) static USERS_FOR_UPDATE_PG: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {USER_COLUMNS}, risk_contributions FROM users WHERE id = ANY(ARRAY(\
         SELECT named.id FROM unnest($1::text[]) AS wanted(value) CROSS JOIN LATERAL (\
         SELECT id FROM users WHERE email = wanted.value \
         UNION ALL SELECT id FROM users WHERE login = wanted.value) AS named)) \
         ORDER BY id FOR UPDATE"
    )
});

#[derive(sqlx::FromRow)]
struct UserWithRisk {
    #[sqlx(flatten)]
    user: UserRowPublic,
    risk_contributions: String,
}

#[derive(Default)]
pub(crate) struct BatchCtx {
    /// (issuer, jti) inserted by this batch: each is taken by the first SET
    /// that carries it; a later one in the same batch is a duplicate.
    fresh: HashSet<(String, String)>,
    /// Lower-cased email → the user it names (by email or login), for every
    /// email subject of the batch; `None` when nobody has it.
    users: HashMap<String, Option<User>>,
    /// Provider id → its level overrides (mapping key → level).
    mappings: HashMap<String, HashMap<String, String>>,
}

/// The lower-cased email an identifier names, if it names one.
pub(crate) fn email_of(identifier: &UserIdentifier) -> Option<String> {
    match identifier {
        UserIdentifier::Email(email) => Some(email.to_lowercase()),
        UserIdentifier::Account(uri) => {
            Some(uri.strip_prefix("acct:").unwrap_or(uri).to_lowercase())
        }
        _ => None,
    }
}

impl BatchCtx {
    /// Reads the users the batch's email subjects name (locking their risk
    /// on PostgreSQL), then, in one statement, their groups, the rules, the
    /// providers' level overrides and which of the batch's (issuer, jti)
    /// pairs are stored already. In that order: a replica that accepted the
    /// same SET for the same user meanwhile has committed by the time the
    /// lock is granted, so the check sees it. (A SET naming nobody takes no
    /// lock; if two replicas race on one, the unique index refuses the
    /// second's insert, and its batch is stored again SET by SET, which then
    /// finds the first's.)
    pub(crate) async fn prepare(tx: &mut Tx, jobs: &[Job]) -> Result<Self, CoreError> {
        let mut ctx = BatchCtx::default();
        let mut pairs = Vec::new();
        let mut emails = HashSet::new();
        let mut provider_ids = Vec::new();
        for job in jobs {
            let Job::Accept(set, _) = job else { continue };
            pairs.push((set.claims.iss.clone(), set.claims.jti.clone()));
            if !provider_ids.contains(&set.provider.id) {
                provider_ids.push(set.provider.id.clone());
            }
            for (_, _, interpretation) in &set.events {
                if let Interpretation::Apply(d) = interpretation {
                    emails.extend(d.subject.user.iter().filter_map(email_of));
                }
            }
        }
        if pairs.is_empty() {
            return Ok(ctx);
        }
        let users = ctx.read_users(tx, emails).await?;
        let context =
            crate::policy::store::cache_batch_context(tx, &users, &provider_ids, &pairs).await?;
        ctx.mappings.extend(context.overrides);
        let stored: HashSet<(String, String)> = context.stored.into_iter().collect();
        ctx.fresh = pairs
            .into_iter()
            .filter(|pair| !stored.contains(pair))
            .collect();
        Ok(ctx)
    }

    /// Reads the users `emails` name, with their risk, and returns their
    /// ids (sorted, once each): with their groups read next, the batch's
    /// detections cost no statement until it commits (see
    /// `risk::RiskBuffer`).
    async fn read_users(
        &mut self,
        tx: &mut Tx,
        emails: HashSet<String>,
    ) -> Result<Vec<String>, CoreError> {
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = emails.into_iter().collect();
        // Their risk comes in the same rows (locked on PostgreSQL, in id
        // order as risk::load locks them).
        let rows: Vec<UserWithRisk> = match &mut tx.conn {
            TxConn::Sqlite(t) => {
                let sql = format!(
                    "SELECT json_group_array(json_array(json_array({USER_COLUMNS}), risk_contributions)) FROM users \
                     WHERE email IN (SELECT value FROM json_each($1)) OR login IN (SELECT value FROM json_each($1))"
                );
                let json: String = sqlx::query_scalar(&sql)
                    .bind(Value::from(list.clone()).to_string())
                    .fetch_one(&mut **t)
                    .await?;
                crate::db::json_rows::<Vec<(UserRowPublic, String)>>(&json, "users")?
                    .into_iter()
                    .map(|(user, risk_contributions)| UserWithRisk {
                        user,
                        risk_contributions,
                    })
                    .collect()
            }
            TxConn::Postgres(t) => {
                sqlx::query_as(USERS_FOR_UPDATE_PG.as_str())
                    .bind(&list)
                    .fetch_all(&mut **t)
                    .await?
            }
        };
        let users: Vec<User> = rows
            .into_iter()
            .map(|r| {
                let user = r.user.into_user_without_ids();
                crate::risk::seed(tx, &user, &r.risk_contributions);
                user
            })
            .collect();
        let mut ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
        ids.sort();
        ids.dedup();
        for email in list {
            // As a lookup by email or login would: a user with that email
            // before one with that login, then the oldest.
            let found = users
                .iter()
                .filter(|u| u.email == email || u.login == email)
                .min_by_key(|u| (u.email != email, u.created_ms, u.id.clone()))
                .cloned();
            self.users.insert(email, found);
        }
        Ok(ids)
    }

    /// True for the first SET of the batch with this (issuer, jti) when it
    /// was not stored before; false for a duplicate.
    pub(crate) fn take_fresh(&mut self, issuer: &str, jti: &str) -> bool {
        self.fresh.remove(&(issuer.to_string(), jti.to_string()))
    }

    /// The user an email names, when the batch read it (`Some(None)`: nobody).
    pub(crate) fn user_by_email(&self, email: &str) -> Option<Option<User>> {
        self.users.get(email).cloned()
    }

    /// The provider's override for a mapping key, read once per batch.
    pub(crate) async fn mapping(
        &mut self,
        tx: &mut Tx,
        provider_id: &str,
        key: &str,
    ) -> Result<Option<String>, CoreError> {
        if !self.mappings.contains_key(provider_id) {
            let rows: Vec<(String, String)> = crate::with_tx!(tx, |conn| sqlx::query_as(
                "SELECT mapping_key, level FROM provider_level_mappings WHERE provider_id = $1"
            )
            .bind(provider_id)
            .fetch_all(&mut *conn)
            .await?);
            self.mappings
                .insert(provider_id.to_string(), rows.into_iter().collect());
        }
        Ok(self
            .mappings
            .get(provider_id)
            .and_then(|m| m.get(key))
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::USERS_FOR_UPDATE_PG;
    use crate::db::Db;
    use crate::policy::store::{cache_batch_context, BATCH_CONTEXT_PG};

    const ISSUER: &str = "https://edr.example";

    /// The pool of a PostgreSQL database from `fresh_postgres`.
    fn pg_pool(db: &Db) -> &sqlx::PgPool {
        let Db::Postgres(pool) = db else {
            panic!("not PostgreSQL")
        };
        pool
    }

    /// PostgreSQL's plan for `statement`, one line per node.
    async fn explain(conn: &mut sqlx::PgConnection, statement: &str) -> String {
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {statement}"))
            .fetch_all(conn)
            .await
            .unwrap();
        plan.join("\n")
    }

    /// A group commit keeps one plan per statement and connection (see
    /// `db::BATCH_BEGIN_PG`). Made on a new install, while `detections` and
    /// `users` are empty, the plans of the dedupe and of the user lookup
    /// still take the indexes once the tables are large; with PostgreSQL's
    /// own choice, the dedupe's plan was a scan of the whole table.
    #[tokio::test]
    async fn postgres_batch_plans_made_on_empty_tables_take_the_indexes() {
        let Some((db, _scratch)) = crate::db::tests::fresh_postgres("rl_batch").await else {
            return;
        };
        let mut conn = pg_pool(&db).acquire().await.unwrap();
        let mut tx = sqlx::Connection::begin_with(&mut *conn, crate::db::BATCH_BEGIN_PG)
            .await
            .unwrap();
        for prepare in [
            format!(
                "PREPARE ctx(text[], text, text[], text[], text[]) AS {}",
                BATCH_CONTEXT_PG.as_str()
            ),
            format!(
                "PREPARE users_q(text[]) AS {}",
                USERS_FOR_UPDATE_PG.as_str()
            ),
        ] {
            sqlx::query(&prepare).execute(&mut *tx).await.unwrap();
        }
        let ctx =
            |jtis: &str| format!("EXECUTE ctx('{{}}', 'p', '{{}}', '{jtis}', '{{{ISSUER}}}')");
        let users = |emails: &str| format!("EXECUTE users_q('{{{emails}}}')");
        for _ in 0..3 {
            sqlx::query(&ctx("{a}")).execute(&mut *tx).await.unwrap();
            sqlx::query(&users("a@example.com"))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        sqlx::query(
            "INSERT INTO detections (at_ms, detection, source, source_name, issuer, jti, ord) \
             SELECT g, 'SET', 'src', 'Source', $1, 'jti-' || g, 0 \
             FROM generate_series(1, 20000) AS g",
        )
        .bind(ISSUER)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO users (id, login, email, first_name, last_name, status, created_ms, updated_ms) \
             SELECT 'u' || g, 'user' || g || '@example.com', 'user' || g || '@example.com', 'A', 'B', 'ACTIVE', g, g \
             FROM generate_series(1, 10000) AS g",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        let plan = explain(&mut tx, &ctx("{jti-7,b}")).await;
        assert!(plan.contains("detections_set"), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
        let plan = explain(&mut tx, &users("user7@example.com,user9@example.com")).await;
        assert!(!plan.contains("Seq Scan"), "{plan}");
        assert!(plan.contains("users_email"), "{plan}");
        // A table without a usable index is still read (a Universal Logout
        // reads its apps so), at the cost of a disabled plan, without the
        // JIT compilation that cost would otherwise buy on every execution.
        let plan = explain(
            &mut tx,
            "SELECT id, subject_format FROM logout_apps WHERE status = 'ACTIVE'",
        )
        .await;
        assert!(plan.contains("Seq Scan on logout_apps"), "{plan}");
        assert!(!plan.contains("JIT"), "{plan}");
        // Those were the plans made while the tables were empty, not new ones.
        let generic: Vec<i64> =
            sqlx::query_scalar("SELECT generic_plans FROM pg_prepared_statements WHERE name IN ('ctx', 'users_q') ORDER BY name")
                .fetch_all(&mut *tx)
                .await
                .unwrap();
        assert_eq!(generic, vec![4, 4]);
        tx.rollback().await.unwrap();
        drop(conn);
        // And the batch's statement finds what is stored.
        let mut tx = db.begin_batch().await.unwrap();
        let sets = [(ISSUER, "j1"), (ISSUER, "b")].map(|(i, j)| (i.to_string(), j.to_string()));
        crate::with_tx!(tx, |c| sqlx::query(
            "INSERT INTO detections (at_ms, detection, source, source_name, issuer, jti, ord) \
             VALUES (1, 'SET', 'src', 'Source', $1, 'j1', 0)"
        )
        .bind(ISSUER)
        .execute(c)
        .await
        .map(|_| ())
        .unwrap());
        let context = cache_batch_context(&mut tx, &[], &[], &sets).await.unwrap();
        assert_eq!(context.stored, vec![(ISSUER.into(), "j1".into())]);
    }

    /// On a directory that has never been analysed (filled in bulk a moment
    /// ago) the batch's users are found through the indexes, where the plain
    /// `email = ANY … OR login = ANY …` scanned the whole table.
    #[tokio::test]
    async fn postgres_finds_the_batchs_users_through_the_indexes_without_statistics() {
        let Some((db, _scratch)) = crate::db::tests::fresh_postgres("rl_batch_users").await else {
            return;
        };
        let mut conn = pg_pool(&db).acquire().await.unwrap();
        sqlx::query(
            "INSERT INTO users (id, login, email, first_name, last_name, status, created_ms, updated_ms) \
             SELECT 'u' || g, 'user' || g || '@example.com', 'user' || g || '@example.com', 'A', 'B', 'ACTIVE', g, g \
             FROM generate_series(1, 10000) AS g \
             UNION ALL SELECT 'x1', 'alias@example.com', 'real@example.com', 'C', 'D', 'ACTIVE', 1, 1",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        let sql = USERS_FOR_UPDATE_PG.as_str();
        sqlx::query(&format!("PREPARE users_q(text[]) AS {sql}"))
            .execute(&mut *conn)
            .await
            .unwrap();
        let emails: Vec<String> = (1..=40).map(|i| format!("user{i}@example.com")).collect();
        let plan = explain(
            &mut conn,
            &format!("EXECUTE users_q('{{{}}}')", emails.join(",")),
        )
        .await;
        assert!(!plan.contains("Seq Scan"), "{plan}");
        assert!(
            plan.contains("users_email") && plan.contains("users_login_key"),
            "{plan}"
        );
        drop(conn);
        // And the batch finds its users by email or by login, each once.
        let mut tx = db.begin().await.unwrap();
        let mut ctx = super::BatchCtx::default();
        let wanted = [
            "alias@example.com",
            "real@example.com",
            "user7@example.com",
            "nobody@example.com",
        ];
        let ids = ctx
            .read_users(&mut tx, wanted.iter().map(|e| e.to_string()).collect())
            .await
            .unwrap();
        assert_eq!(ids, vec!["u7".to_string(), "x1".into()]);
        let named = |email: &str| ctx.user_by_email(email).map(|u| u.map(|u| u.id));
        assert_eq!(named("alias@example.com"), Some(Some("x1".into())));
        assert_eq!(named("real@example.com"), Some(Some("x1".into())));
        assert_eq!(named("nobody@example.com"), Some(None));
    }

    /// On both engines the batch's one statement tells stored SETs from new
    /// ones by issuer and `jti` together.
    async fn stored_sets_are_told_by_issuer_and_jti(db: Db) {
        crate::with_writer!(&db, |pool| {
            sqlx::query(
            "INSERT INTO detections (seq, at_ms, detection, source, source_name, issuer, jti, ord) \
             VALUES (1, 1, 'SET', 'src', 'Source', $1, 'j1', 0), (2, 1, 'SET', 'src', 'Source', $1, 'j1', 1), \
                    (3, 1, 'SET', 'src', 'Source', 'https://other.example', 'j2', 0)"
        )
        .bind(ISSUER)
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap()
        });
        let mut tx = db.begin().await.unwrap();
        let sets = [(ISSUER, "j1"), (ISSUER, "j2"), (ISSUER, "j3")]
            .map(|(i, j)| (i.to_string(), j.to_string()));
        let context = cache_batch_context(&mut tx, &[], &[], &sets).await.unwrap();
        let mut stored = context.stored;
        stored.sort();
        // j2 is stored from another issuer only.
        assert_eq!(stored, vec![(ISSUER.into(), "j1".into())]);
        drop(tx);
        db.close().await;
    }

    crate::db::tests::on_both_engines!(stored_sets_are_told_by_issuer_and_jti, "rl_batch_sets");
}
