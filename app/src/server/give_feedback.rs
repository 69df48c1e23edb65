use leptos::prelude::*;

use crate::error::AppError;

/// Labels one detection of a person as a false or true positive.
#[server(prefix = "/_fn")]
pub async fn give_feedback(id: String, seq: i64, label: String) -> Result<(), AppError> {
    use riskline_core::detection_feedback::FeedbackLabel;
    let by = super::ctx::principal().await?;
    let label = FeedbackLabel::parse(&label).ok_or_else(|| {
        AppError::Invalid(vec![crate::error::FieldError {
            field: "label".into(),
            message: "Choose false_positive or true_positive.".into(),
        }])
    })?;
    super::ctx::services()?
        .detection_feedback(&by, &id, seq, label)
        .await?;
    Ok(())
}
