//! An analyst's verdict on a detection: *false positive* or *true positive*,
//! logged as Okta's `analytics.feedback.provide`. A false positive withdraws
//! the contribution that detection made, so the level is recomputed without
//! it, and the withdrawal is recorded in the risk history.

use serde_json::json;

use crate::error::{Cause, CoreError};
use crate::risk::{
    apply_contribution, Contribution, HistoryEntry, HistoryRow, ADMIN_REPORTED, HISTORY_COLUMNS,
    PROVIDER_REPORTED,
};
use crate::services::{Principal, Services};
use crate::set::RiskLevel;
use crate::syslog::{self, LogEvent};
use crate::timefmt::now_ms;
use crate::with_tx;

pub const FEEDBACK_EVENT: &str = "analytics.feedback.provide";
/// The history entry of a contribution withdrawn as a false positive.
pub const FALSE_POSITIVE_WITHDRAWN: &str = "FALSE_POSITIVE_WITHDRAWN";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedbackLabel {
    FalsePositive,
    TruePositive,
}

impl FeedbackLabel {
    /// Okta's `Label` values.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackLabel::FalsePositive => "false_positive",
            FeedbackLabel::TruePositive => "true_positive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "false_positive" => Some(FeedbackLabel::FalsePositive),
            "true_positive" => Some(FeedbackLabel::TruePositive),
            _ => None,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FeedbackLabel::FalsePositive => "a false positive",
            FeedbackLabel::TruePositive => "a true positive",
        }
    }
}

/// Whether an analyst may label this history entry: reports of risk by a
/// provider or an admin, not resets, clears or withdrawals.
pub fn accepts_feedback(entry: &HistoryEntry) -> bool {
    entry.reported_level.is_some()
        && (entry.detection == PROVIDER_REPORTED || entry.detection == ADMIN_REPORTED)
}

/// What the feedback changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedbackOutcome {
    pub previous: RiskLevel,
    pub new: RiskLevel,
    /// True when the detection still drove its source's contribution and a
    /// false positive withdrew it.
    pub withdrawn: bool,
}

impl Services {
    /// Labels detection `seq` of `user_id`. Each detection is labelled once.
    pub async fn detection_feedback(
        &self,
        by: &Principal,
        user_id: &str,
        seq: i64,
        label: FeedbackLabel,
    ) -> Result<FeedbackOutcome, CoreError> {
        by.require_write()?;
        let user = self.get_user(user_id).await?;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let sql =
            format!("SELECT {HISTORY_COLUMNS} FROM detections WHERE seq = $1 AND user_id = $2 AND new_level IS NOT NULL");
        let (row, level): (Option<HistoryRow>, Option<String>) = with_tx!(&mut tx, |conn| {
            // Lock the user first, as every risk change does, so that a SET
            // committing beside us cannot change what we are withdrawing.
            let level: Option<String> = sqlx::query_scalar(
                "UPDATE users SET updated_ms = updated_ms WHERE id = $1 RETURNING risk_level",
            )
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
            let row: Option<HistoryRow> = sqlx::query_as(&sql)
                .bind(seq)
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
            (row, level)
        });
        let level = level.ok_or_else(|| CoreError::NotFound(format!("user {user_id}")))?;
        let entry =
            HistoryEntry::from(row.ok_or_else(|| {
                CoreError::NotFound(format!("detection {seq} of user {user_id}"))
            })?);
        if !accepts_feedback(&entry) {
            return Err(CoreError::Validation(vec![Cause::new(
                "detection",
                "Only a reported detection can be labelled; resets and clears cannot.",
            )]));
        }
        if let Some(given) = &entry.feedback {
            let given = FeedbackLabel::parse(given).map_or("labelled", |l| l.describe());
            return Err(CoreError::Validation(vec![Cause::new(
                "detection",
                format!(
                    "This detection was already marked as {given} by {}.",
                    entry.feedback_by.as_deref().unwrap_or("an administrator")
                ),
            )]));
        }
        let current = RiskLevel::parse(&level).unwrap_or(RiskLevel::None);
        with_tx!(&mut tx, |conn| {
            sqlx::query(
            "UPDATE detections SET feedback = $1, feedback_by = $2, feedback_ms = $3 WHERE seq = $4"
        )
        .bind(label.as_str())
        .bind(&by.email)
        .bind(now)
        .bind(seq)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        });

        let ev = LogEvent::by_admin(FEEDBACK_EVENT, "Detection feedback provided", by)
            .with_target(user.log_target());
        let mut outcome = FeedbackOutcome {
            previous: current,
            new: current,
            withdrawn: false,
        };
        if label == FeedbackLabel::FalsePositive {
            // Only the newest report of a source still drives its
            // contribution; an older one was already replaced.
            let (latest, contributes): (Option<i64>, Option<RiskLevel>) = with_tx!(
                &mut tx,
                |conn| {
                    let latest: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(seq) FROM detections WHERE user_id = $1 AND source = $2 AND new_level IS NOT NULL",
                )
                .bind(user_id)
                .bind(&entry.source)
                .fetch_one(&mut *conn)
                .await?;
                    let contributions: Option<String> =
                        sqlx::query_scalar("SELECT risk_contributions FROM users WHERE id = $1")
                            .bind(user_id)
                            .fetch_optional(&mut *conn)
                            .await?;
                    let contributes = contributions.and_then(|c| {
                        crate::risk::parse_contributions(&c)
                            .remove(&entry.source)
                            .map(|(level, _)| level)
                    });
                    (latest, contributes)
                }
            );
            if latest == Some(seq) && contributes.is_some() {
                let change = apply_contribution(
                    &mut tx,
                    user_id,
                    &Contribution {
                        source: entry.source.clone(),
                        source_name: by.email.clone(),
                        detection: FALSE_POSITIVE_WITHDRAWN,
                        level: None,
                        event_type: entry.event_type.clone(),
                        reasons: Some(format!(
                            "Marked as a false positive by {}: {}'s report withdrawn",
                            by.email, entry.source_name
                        )),
                        jti: entry.jti.clone(),
                        log_event_uuid: Some(ev.uuid.clone()),
                        transaction_id: Some(by.transaction_id.clone()),
                        set: None,
                        event_ms: None,
                    },
                )
                .await?;
                outcome = FeedbackOutcome {
                    previous: change.previous,
                    new: change.new,
                    withdrawn: true,
                };
            }
        }
        let reason = match (label, outcome.withdrawn) {
            (FeedbackLabel::FalsePositive, true) => {
                "The detection's contribution was withdrawn and the level recomputed."
            }
            (FeedbackLabel::FalsePositive, false) => {
                "The detection no longer drove the level; nothing was withdrawn."
            }
            (FeedbackLabel::TruePositive, _) => "Confirmed; the level is unchanged.",
        };
        let ev = ev
            .with_debug(
                "EventUuid",
                entry.log_event_uuid.clone().unwrap_or_default(),
            )
            .with_debug("Label", label.as_str())
            .with_debug("event_type", entry.event_type.clone().unwrap_or_default())
            .with_debug("reason", reason)
            .with_debug(
                "risk",
                json!({
                    "previousLevel": outcome.previous.as_str(),
                    "level": outcome.new.as_str(),
                }),
            );
        syslog::append(&mut tx, &ev).await?;
        tx.commit().await?;
        Ok(outcome)
    }
}
