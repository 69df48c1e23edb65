//! Importing people from CSV: every row is checked first, and the import
//! commits all rows or none.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::directory::{parse_user_body, UserInput};
use crate::error::CoreError;
use crate::services::{Principal, Services};
use crate::with_db;

/// The most rows one import takes.
pub const MAX_ROWS: usize = 10_000;

/// One data row of the file, checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportRow {
    /// 1-based line number in the file.
    pub line: usize,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Why this row cannot be imported.
    pub error: Option<String>,
}

/// Splits CSV text into records of fields (RFC 4180: quotes, doubled quotes, CRLF).
pub fn parse_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut records = Vec::new();
    let mut field = String::new();
    let mut record = Vec::new();
    let mut in_quotes = false;
    let mut line = 1;
    let mut record_line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (in_quotes, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => in_quotes = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => in_quotes = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                if record.iter().any(|f| !f.trim().is_empty()) {
                    records.push((record_line, std::mem::take(&mut record)));
                }
                record.clear();
                line += 1;
                record_line = line;
            }
            (false, c) => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!("Line {record_line}: a quoted field is not closed."));
    }
    record.push(field);
    if record.iter().any(|f| !f.trim().is_empty()) {
        records.push((record_line, record));
    }
    Ok(records)
}

/// Reads a file whose header names `email` and optionally `firstName`,
/// `lastName`, `login`, `externalIss`, `externalSub` (any order, any case).
pub fn read_import(text: &str) -> Result<Vec<(ImportRow, Option<UserInput>)>, String> {
    let records = parse_csv(text)?;
    let Some(((_, header), rows)) = records.split_first() else {
        return Err("The file is empty: the first line must name the columns, e.g. email,firstName,lastName.".into());
    };
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let Some(email_col) = col("email") else {
        return Err("The first line must name the columns and include email (e.g. email,firstName,lastName).".into());
    };
    if rows.len() > MAX_ROWS {
        return Err(format!(
            "The file has {} rows; import at most {MAX_ROWS} at a time.",
            rows.len()
        ));
    }
    let get = |r: &Vec<String>, c: Option<usize>| {
        c.and_then(|c| r.get(c))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let (first, last, login, iss, sub) = (
        col("firstName"),
        col("lastName"),
        col("login"),
        col("externalIss"),
        col("externalSub"),
    );
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .iter()
        .map(|(line, r)| {
            let mut row = ImportRow {
                line: *line,
                email: get(r, Some(email_col)),
                first_name: get(r, first),
                last_name: get(r, last),
                error: None,
            };
            let mut body = json!({"profile": {"email": row.email, "firstName": row.first_name, "lastName": row.last_name, "login": get(r, login)}});
            let (i, s) = (get(r, iss), get(r, sub));
            if !i.is_empty() || !s.is_empty() {
                body["externalIds"] = json!([{"iss": i, "sub": s}]);
            }
            let input = match parse_user_body(&body) {
                Ok(input) if !seen.insert(input.login.clone()) => {
                    row.error = Some(format!("{} appears more than once in the file.", input.login));
                    None
                }
                Ok(input) => Some(input),
                Err(causes) => {
                    row.error = Some(causes.into_iter().map(|c| c.message).collect::<Vec<_>>().join(" "));
                    None
                }
            };
            (row, input)
        })
        .collect())
}

impl Services {
    /// Checks every row, including against people who already exist.
    pub async fn preview_import(&self, text: &str) -> Result<Vec<ImportRow>, CoreError> {
        let rows = read_import(text).map_err(|e| CoreError::invalid("csv", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for (mut row, input) in rows {
            if let Some(input) = input {
                let exists: Option<String> = with_db!(&self.db, |pool| sqlx::query_scalar(
                    "SELECT id FROM users WHERE login = $1"
                )
                .bind(&input.login)
                .fetch_optional(pool)
                .await?);
                if exists.is_some() {
                    row.error = Some(format!(
                        "A person with login {} already exists.",
                        input.login
                    ));
                }
            }
            out.push(row);
        }
        Ok(out)
    }

    /// Imports every row, or none when any row has a problem.
    pub async fn import_people(&self, by: &Principal, text: &str) -> Result<usize, CoreError> {
        by.require_write()?;
        let preview = self.preview_import(text).await?;
        let bad: Vec<String> = preview
            .iter()
            .filter_map(|r| r.error.as_ref().map(|e| format!("Line {}: {e}", r.line)))
            .collect();
        if !bad.is_empty() {
            return Err(CoreError::invalid(
                "csv",
                format!(
                    "Nothing was imported: {} of {} rows have problems. {}",
                    bad.len(),
                    preview.len(),
                    bad.join(" ")
                ),
            ));
        }
        let inputs: Vec<UserInput> = read_import(text)
            .map_err(|e| CoreError::invalid("csv", e))?
            .into_iter()
            .filter_map(|(_, input)| input)
            .collect();
        let mut tx = self.db.begin().await?;
        for input in &inputs {
            self.insert_user_in(&mut tx, by, input.clone()).await?;
        }
        tx.commit().await?;
        Ok(inputs.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_fields_and_reports_rows() {
        let text = "Email,firstName,lastName\r\nana@example.com,Ana,\"Lee, Jr.\"\n\nbad,Bob,Ray\nana@example.com,Ana,Again\n\"multi\nline@example.com\",X,Y\n";
        let rows = read_import(text).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].0.last_name, "Lee, Jr.");
        assert!(rows[0].1.is_some());
        assert_eq!(rows[1].0.line, 4);
        assert!(rows[1].0.error.as_deref().unwrap().contains("not an email"));
        assert!(rows[2]
            .0
            .error
            .as_deref()
            .unwrap()
            .contains("more than once"));
        assert_eq!(rows[3].0.line, 6);
        assert!(read_import("").is_err());
        assert!(read_import("name\nx").unwrap_err().contains("email"));
        assert!(parse_csv("\"open").is_err());
    }
}
