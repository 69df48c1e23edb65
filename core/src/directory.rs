//! The directory: users, their external identities, and groups. SET subjects
//! are matched against it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Cause, CoreError};
use crate::services::{Principal, Services};
use crate::syslog::{self, LogEvent, LogTarget};
use crate::timefmt::now_ms;
use crate::{ids, with_db, with_tx};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalId {
    pub iss: String,
    pub sub: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub login: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// `ACTIVE` or `DEPROVISIONED`.
    pub status: String,
    /// `NONE`, `LOW`, `MEDIUM` or `HIGH`.
    pub risk_level: String,
    pub risk_since_ms: Option<i64>,
    pub risk_reason: Option<String>,
    pub external_ids: Vec<ExternalId>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl User {
    pub fn display_name(&self) -> String {
        let name = format!("{} {}", self.first_name, self.last_name);
        match name.trim() {
            "" => self.login.clone(),
            n => n.to_string(),
        }
    }

    pub fn log_target(&self) -> LogTarget {
        LogTarget {
            id: self.id.clone(),
            target_type: "User".into(),
            alternate_id: Some(self.login.clone()),
            display_name: Some(self.display_name()),
            detail_entry: None,
        }
    }
}

/// Also read from a JSON array of the columns in this order (see
/// `receiver::batch`), hence `Deserialize`.
#[derive(sqlx::FromRow, Deserialize)]
pub(crate) struct UserRow {
    id: String,
    login: String,
    email: String,
    first_name: String,
    last_name: String,
    status: String,
    risk_level: String,
    risk_since_ms: Option<i64>,
    risk_reason: Option<String>,
    created_ms: i64,
    updated_ms: i64,
}

/// A users row read outside this module (external ids not loaded).
pub(crate) type UserRowPublic = UserRow;

impl UserRow {
    pub(crate) fn into_user_without_ids(self) -> User {
        self.into_user(Vec::new())
    }

    fn into_user(self, external_ids: Vec<ExternalId>) -> User {
        User {
            id: self.id,
            login: self.login,
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            status: self.status,
            risk_level: self.risk_level,
            risk_since_ms: self.risk_since_ms,
            risk_reason: self.risk_reason,
            external_ids,
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
        }
    }
}

pub const USER_COLUMNS: &str = "id, login, email, first_name, last_name, status, risk_level, risk_since_ms, risk_reason, created_ms, updated_ms";

/// A user's editable properties, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInput {
    pub login: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub external_ids: Vec<ExternalId>,
}

fn looks_like_email(s: &str) -> bool {
    let mut parts = s.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None) if !a.is_empty() && b.contains('.') && !b.starts_with('.') && !b.ends_with('.'))
}

fn str_member<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str).map(str::trim)
}

/// Reads Okta's user body `{profile: {login, email, firstName, lastName}, externalIds}`.
pub fn parse_user_body(body: &Value) -> Result<UserInput, Vec<Cause>> {
    let mut causes = Vec::new();
    let profile = body.get("profile").filter(|p| p.is_object());
    let Some(profile) = profile else {
        return Err(vec![Cause::new(
            "profile",
            "profile is required: {login, email, firstName, lastName}.",
        )]);
    };
    let email = str_member(profile, "email")
        .unwrap_or_default()
        .to_lowercase();
    if email.is_empty() {
        causes.push(Cause::new("profile.email", "profile.email is required."));
    } else if !looks_like_email(&email) || email.len() > 254 {
        causes.push(Cause::new(
            "profile.email",
            format!("profile.email {email:?} is not an email address."),
        ));
    }
    let login = match str_member(profile, "login") {
        Some(l) if !l.is_empty() => l.to_lowercase(),
        _ => email.clone(),
    };
    if login.chars().count() > 254 {
        causes.push(Cause::new(
            "profile.login",
            "profile.login must be at most 254 characters.",
        ));
    }
    let first_name = str_member(profile, "firstName")
        .unwrap_or_default()
        .to_string();
    let last_name = str_member(profile, "lastName")
        .unwrap_or_default()
        .to_string();
    for (field, v) in [
        ("profile.firstName", &first_name),
        ("profile.lastName", &last_name),
    ] {
        if v.chars().count() > 100 {
            causes.push(Cause::new(
                field,
                format!("{field} must be at most 100 characters."),
            ));
        }
    }
    let mut external_ids = Vec::new();
    match body.get("externalIds") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match (str_member(item, "iss"), str_member(item, "sub")) {
                    (Some(iss), Some(sub)) if !iss.is_empty() && !sub.is_empty() => {
                        let id = ExternalId { iss: iss.to_string(), sub: sub.to_string() };
                        if !external_ids.contains(&id) {
                            external_ids.push(id);
                        }
                    }
                    _ => causes.push(Cause::new(
                        format!("externalIds[{i}]"),
                        format!("externalIds[{i}] must be an object with non-empty \"iss\" and \"sub\" strings."),
                    )),
                }
            }
        }
        Some(_) => causes.push(Cause::new(
            "externalIds",
            "externalIds must be an array of {iss, sub}.",
        )),
    }
    if causes.is_empty() {
        Ok(UserInput {
            login,
            email,
            first_name,
            last_name,
            external_ids,
        })
    } else {
        Err(causes)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_ms: i64,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: String,
    name: String,
    description: String,
    created_ms: i64,
}

impl From<GroupRow> for Group {
    fn from(r: GroupRow) -> Self {
        Group {
            id: r.id,
            name: r.name,
            description: r.description,
            created_ms: r.created_ms,
        }
    }
}

/// A group's name, trimmed: required, at most 255 characters.
fn valid_group_name(name: &str) -> Result<&str, CoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(CoreError::invalid(
            "profile.name",
            "profile.name is required (at most 255 characters).",
        ));
    }
    Ok(name)
}

/// A failed write of a group's name: another group has it, or another error.
fn group_name_taken(e: sqlx::Error, name: &str) -> CoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => CoreError::invalid(
            "profile.name",
            format!("A group named {name} already exists."),
        ),
        e => e.into(),
    }
}

fn group_target(g: &Group) -> LogTarget {
    LogTarget {
        id: g.id.clone(),
        target_type: "UserGroup".into(),
        alternate_id: None,
        display_name: Some(g.name.clone()),
        detail_entry: None,
    }
}

impl Services {
    async fn external_ids_of(
        &self,
        user_ids: &[String],
    ) -> Result<Vec<(String, ExternalId)>, CoreError> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        // Chunked IN lists keep the statement small for large pages.
        for chunk in user_ids.chunks(200) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT user_id, iss, sub FROM user_external_ids WHERE user_id IN ({}) ORDER BY iss, sub",
                placeholders.join(", ")
            );
            let rows: Vec<(String, String, String)> = with_db!(&self.db, |pool| {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await?
            });
            out.extend(
                rows.into_iter()
                    .map(|(u, iss, sub)| (u, ExternalId { iss, sub })),
            );
        }
        Ok(out)
    }

    async fn users_from_rows(&self, rows: Vec<UserRow>) -> Result<Vec<User>, CoreError> {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let externals = self.external_ids_of(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mine = externals
                    .iter()
                    .filter(|(u, _)| *u == r.id)
                    .map(|(_, e)| e.clone())
                    .collect();
                r.into_user(mine)
            })
            .collect())
    }

    pub async fn get_user(&self, id: &str) -> Result<User, CoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<UserRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        let row = row.ok_or_else(|| CoreError::NotFound(format!("user {id}")))?;
        Ok(self.users_from_rows(vec![row]).await?.remove(0))
    }

    /// The user whose login, else whose email, is exactly `login_or_email`
    /// (compared lower-cased); the oldest when several share the email.
    pub async fn find_user_by_login_or_email(
        &self,
        login_or_email: &str,
    ) -> Result<Option<User>, CoreError> {
        let key = login_or_email.trim().to_lowercase();
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE login = $1 OR email = $1 \
             ORDER BY CASE WHEN login = $1 THEN 0 ELSE 1 END, created_ms, id LIMIT 1"
        );
        let row: Option<UserRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(&key)
            .fetch_optional(pool)
            .await?);
        match row {
            Some(row) => Ok(self.users_from_rows(vec![row]).await?.pop()),
            None => Ok(None),
        }
    }

    /// Users whose login, email, first or last name starts with `q` (all when empty),
    /// ordered by login, after the login `after`.
    pub async fn list_users(
        &self,
        q: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>, CoreError> {
        let prefix = format!(
            "{}%",
            q.trim()
                .to_lowercase()
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE (login LIKE $1 ESCAPE '\\' OR email LIKE $1 ESCAPE '\\' OR rl_fold(first_name) LIKE $1 ESCAPE '\\' OR rl_fold(last_name) LIKE $1 ESCAPE '\\') \
               AND login > $2 ORDER BY login LIMIT $3"
        );
        let rows: Vec<UserRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(&prefix)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(pool)
            .await?);
        self.users_from_rows(rows).await
    }

    pub async fn create_user(&self, by: &Principal, input: UserInput) -> Result<User, CoreError> {
        by.require_write()?;
        let mut tx = self.db.begin().await?;
        let user = self.insert_user_in(&mut tx, by, input).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Inserts a user and its log event inside `tx`.
    pub(crate) async fn insert_user_in(
        &self,
        tx: &mut crate::db::Tx,
        by: &Principal,
        input: UserInput,
    ) -> Result<User, CoreError> {
        let now = now_ms();
        let user = User {
            id: ids::user_id(),
            login: input.login,
            email: input.email,
            first_name: input.first_name,
            last_name: input.last_name,
            status: "ACTIVE".into(),
            risk_level: "NONE".into(),
            risk_since_ms: None,
            risk_reason: None,
            external_ids: input.external_ids,
            created_ms: now,
            updated_ms: now,
        };
        let inserted = with_tx!(tx, |conn| {
            sqlx::query(
            "INSERT INTO users (id, login, email, first_name, last_name, status, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(&user.id)
        .bind(&user.login)
        .bind(&user.email)
        .bind(&user.first_name)
        .bind(&user.last_name)
        .bind(&user.status)
        .bind(now)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected())
        });
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(CoreError::invalid(
                    "profile.login",
                    format!("A user with login {} already exists.", user.login),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.replace_external_ids(tx, &user.id, &user.external_ids)
            .await?;
        syslog::append(
            tx,
            &LogEvent::by_admin("user.lifecycle.create", "Create user", by)
                .with_target(user.log_target()),
        )
        .await?;
        Ok(user)
    }

    async fn replace_external_ids(
        &self,
        tx: &mut crate::db::Tx,
        user_id: &str,
        ext: &[ExternalId],
    ) -> Result<(), CoreError> {
        with_tx!(tx, |conn| {
            sqlx::query("DELETE FROM user_external_ids WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
            for e in ext {
                let r = sqlx::query(
                    "INSERT INTO user_external_ids (user_id, iss, sub) VALUES ($1, $2, $3)",
                )
                .bind(user_id)
                .bind(&e.iss)
                .bind(&e.sub)
                .execute(&mut *conn)
                .await;
                match r {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                        return Err(CoreError::invalid(
                            "externalIds",
                            format!(
                                "The external identity {} / {} already belongs to another user.",
                                e.iss, e.sub
                            ),
                        ));
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            Ok(())
        })
    }

    /// Replaces a user's profile and external identities.
    pub async fn replace_user(
        &self,
        by: &Principal,
        id: &str,
        input: UserInput,
    ) -> Result<User, CoreError> {
        by.require_write()?;
        let existing = self.get_user(id).await?;
        let mut tx = self.db.begin().await?;
        let updated = with_tx!(&mut tx, |conn| {
            sqlx::query(
            "UPDATE users SET login = $1, email = $2, first_name = $3, last_name = $4, updated_ms = $5 WHERE id = $6"
        )
        .bind(&input.login)
        .bind(&input.email)
        .bind(&input.first_name)
        .bind(&input.last_name)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected())
        });
        match updated {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(CoreError::invalid(
                    "profile.login",
                    format!("A user with login {} already exists.", input.login),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.replace_external_ids(&mut tx, id, &input.external_ids)
            .await?;
        syslog::append(
            &mut tx,
            &LogEvent::by_admin("user.account.update_profile", "Update user profile", by)
                .with_target(existing.log_target()),
        )
        .await?;
        tx.commit().await?;
        self.get_user(id).await
    }

    pub async fn deactivate_user(&self, by: &Principal, id: &str) -> Result<User, CoreError> {
        by.require_write()?;
        let user = self.get_user(id).await?;
        let mut tx = self.db.begin().await?;
        with_tx!(&mut tx, |conn| sqlx::query(
            "UPDATE users SET status = 'DEPROVISIONED', updated_ms = $1 WHERE id = $2"
        )
        .bind(now_ms())
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        syslog::append(
            &mut tx,
            &LogEvent::by_admin("user.lifecycle.deactivate", "Deactivate user", by)
                .with_target(user.log_target()),
        )
        .await?;
        tx.commit().await?;
        self.get_user(id).await
    }

    /// Okta's delete: an active user is deactivated first; a deactivated one is deleted.
    pub async fn delete_user(&self, by: &Principal, id: &str) -> Result<(), CoreError> {
        by.require_write()?;
        let user = self.get_user(id).await?;
        if user.status != "DEPROVISIONED" {
            self.deactivate_user(by, id).await?;
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        crate::policy::store::refuse_if_named(
            &mut tx,
            crate::policy::store::RuleReference::User,
            id,
        )
        .await?;
        with_tx!(&mut tx, |conn| sqlx::query(
            "DELETE FROM users WHERE id = $1"
        )
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        syslog::append(
            &mut tx,
            &LogEvent::by_admin("user.lifecycle.delete.completed", "Delete user", by)
                .with_target(user.log_target()),
        )
        .await?;
        tx.commit().await
    }

    pub async fn list_groups(&self, q: &str) -> Result<Vec<Group>, CoreError> {
        let prefix = format!("{}%", q.trim().to_lowercase());
        let rows: Vec<GroupRow> = with_db!(&self.db, |pool| {
            sqlx::query_as(
            "SELECT id, name, description, created_ms FROM groups WHERE rl_fold(name) LIKE $1 ORDER BY name"
        )
        .bind(&prefix)
        .fetch_all(pool)
        .await?
        });
        Ok(rows.into_iter().map(Group::from).collect())
    }

    pub async fn get_group(&self, id: &str) -> Result<Group, CoreError> {
        let row: Option<GroupRow> = with_db!(&self.db, |pool| sqlx::query_as(
            "SELECT id, name, description, created_ms FROM groups WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await?);
        row.map(Group::from)
            .ok_or_else(|| CoreError::NotFound(format!("group {id}")))
    }

    pub async fn create_group(
        &self,
        by: &Principal,
        name: &str,
        description: &str,
    ) -> Result<Group, CoreError> {
        by.require_write()?;
        let name = valid_group_name(name)?;
        let group = Group {
            id: ids::group_id(),
            name: name.into(),
            description: description.trim().into(),
            created_ms: now_ms(),
        };
        let mut tx = self.db.begin().await?;
        let r = with_tx!(&mut tx, |conn| sqlx::query(
            "INSERT INTO groups (id, name, description, created_ms) VALUES ($1, $2, $3, $4)"
        )
        .bind(&group.id)
        .bind(&group.name)
        .bind(&group.description)
        .bind(group.created_ms)
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected()));
        if let Err(e) = r {
            return Err(group_name_taken(e, name));
        }
        syslog::append(
            &mut tx,
            &LogEvent::by_admin("group.lifecycle.create", "Create group", by)
                .with_target(group_target(&group)),
        )
        .await?;
        tx.commit().await?;
        Ok(group)
    }

    /// Renames a group or changes its description (Okta's PUT of the profile).
    pub async fn update_group(
        &self,
        by: &Principal,
        id: &str,
        name: &str,
        description: &str,
    ) -> Result<Group, CoreError> {
        by.require_write()?;
        let mut group = self.get_group(id).await?;
        group.name = valid_group_name(name)?.into();
        group.description = description.trim().into();
        let mut tx = self.db.begin().await?;
        let r = with_tx!(&mut tx, |conn| sqlx::query(
            "UPDATE groups SET name = $1, description = $2 WHERE id = $3"
        )
        .bind(&group.name)
        .bind(&group.description)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected()));
        match r {
            Ok(0) => return Err(CoreError::NotFound(format!("group {id}"))),
            Ok(_) => {}
            Err(e) => return Err(group_name_taken(e, &group.name)),
        }
        syslog::append(
            &mut tx,
            &LogEvent::by_admin("group.profile.update", "Update group profile", by)
                .with_target(group_target(&group)),
        )
        .await?;
        tx.commit().await?;
        Ok(group)
    }

    /// Deletes a group and its memberships, unless a policy rule names it.
    pub async fn delete_group(&self, by: &Principal, id: &str) -> Result<(), CoreError> {
        by.require_write()?;
        let group = self.get_group(id).await?;
        let mut tx = self.db.begin().await?;
        crate::policy::store::refuse_if_named(
            &mut tx,
            crate::policy::store::RuleReference::Group,
            id,
        )
        .await?;
        // Its memberships go with it (ON DELETE CASCADE).
        let deleted = with_tx!(&mut tx, |conn| sqlx::query(
            "DELETE FROM groups WHERE id = $1"
        )
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        if deleted == 0 {
            return Err(CoreError::NotFound(format!("group {id}")));
        }
        syslog::append(
            &mut tx,
            &LogEvent::by_admin("group.lifecycle.delete", "Delete group", by)
                .with_target(group_target(&group)),
        )
        .await?;
        tx.commit().await
    }

    pub async fn set_group_membership(
        &self,
        by: &Principal,
        group_id: &str,
        user_id: &str,
        member: bool,
    ) -> Result<(), CoreError> {
        by.require_write()?;
        let group = self.get_group(group_id).await?;
        let user = self.get_user(user_id).await?;
        let mut tx = self.db.begin().await?;
        let changed = with_tx!(&mut tx, |conn| if member {
            sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(group_id)
                .bind(user_id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        } else {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group_id)
                .bind(user_id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if changed > 0 {
            let (event_type, message) = if member {
                ("group.user_membership.add", "Add user to group membership")
            } else {
                (
                    "group.user_membership.remove",
                    "Remove user from group membership",
                )
            };
            syslog::append(
                &mut tx,
                &LogEvent::by_admin(event_type, message, by)
                    .with_target(user.log_target())
                    .with_target(group_target(&group)),
            )
            .await?;
        }
        tx.commit().await
    }

    pub async fn group_members(&self, group_id: &str) -> Result<Vec<User>, CoreError> {
        self.get_group(group_id).await?;
        let sql = format!(
            "SELECT {} FROM users u JOIN group_members m ON m.user_id = u.id WHERE m.group_id = $1 ORDER BY u.login",
            USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        );
        let rows: Vec<UserRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(group_id)
            .fetch_all(pool)
            .await?);
        self.users_from_rows(rows).await
    }

    /// A group's first `limit` members by login, and how many it has in all.
    pub async fn group_members_preview(
        &self,
        group_id: &str,
        limit: i64,
    ) -> Result<(Vec<User>, i64), CoreError> {
        self.get_group(group_id).await?;
        let sql = format!(
            "SELECT {} FROM users u JOIN group_members m ON m.user_id = u.id WHERE m.group_id = $1 ORDER BY u.login LIMIT $2",
            USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        );
        let (rows, count): (Vec<UserRow>, i64) = with_db!(&self.db, |pool| {
            let rows = sqlx::query_as(&sql)
                .bind(group_id)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM group_members WHERE group_id = $1")
                    .bind(group_id)
                    .fetch_one(pool)
                    .await?;
            (rows, count)
        });
        Ok((self.users_from_rows(rows).await?, count))
    }

    pub async fn groups_of(&self, user_id: &str) -> Result<Vec<Group>, CoreError> {
        let rows: Vec<GroupRow> = with_db!(&self.db, |pool| {
            sqlx::query_as(
            "SELECT g.id, g.name, g.description, g.created_ms FROM groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name"
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?
        });
        Ok(rows.into_iter().map(Group::from).collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_okta_user_bodies() {
        let u = parse_user_body(&json!({"profile": {"email": "Ana@Example.com", "firstName": "Ana", "lastName": "Lee"}, "externalIds": [{"iss": "https://idp", "sub": "123"}]})).unwrap();
        assert_eq!(u.login, "ana@example.com");
        assert_eq!(u.email, "ana@example.com");
        assert_eq!(
            u.external_ids,
            vec![ExternalId {
                iss: "https://idp".into(),
                sub: "123".into()
            }]
        );
        let fields = |b: Value| {
            parse_user_body(&b)
                .unwrap_err()
                .into_iter()
                .map(|c| c.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(json!({})), ["profile"]);
        assert_eq!(
            fields(json!({"profile": {"email": "nope"}})),
            ["profile.email"]
        );
        assert_eq!(
            fields(json!({"profile": {"email": "a@b.co"}, "externalIds": [{"iss": "x"}]})),
            ["externalIds[0]"]
        );
        assert_eq!(
            fields(json!({"profile": {"email": "a@b.co"}, "externalIds": "x"})),
            ["externalIds"]
        );
    }
}
