use leptos::prelude::*;

use crate::error::AppError;
use crate::types::PeoplePageView;

/// How many people one page of the People list shows.
pub const PEOPLE_PAGE_SIZE: usize = 200;

/// People whose login, email or name starts with `q` (everyone when empty),
/// by login, the page after the login `after` (the first page when empty).
#[server(prefix = "/_fn")]
pub async fn list_people(
    q: String,
    #[server(default)] after: String,
) -> Result<PeoplePageView, AppError> {
    use crate::types::PersonRow;
    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let after = Some(after.as_str()).filter(|a| !a.is_empty());
    // One more than a page, to know whether there are more.
    let limit = i64::try_from(PEOPLE_PAGE_SIZE + 1).unwrap_or(i64::MAX);
    let mut users = services.list_users(&q, after, limit).await?;
    let more = users.len() > PEOPLE_PAGE_SIZE;
    users.truncate(PEOPLE_PAGE_SIZE);
    // Everyone is counted cheaply (by risk level); a search is not counted.
    let total = if q.trim().is_empty() {
        Some(
            services
                .users_by_level()
                .await?
                .iter()
                .map(|l| l.count)
                .sum(),
        )
    } else {
        None
    };
    Ok(PeoplePageView {
        rows: users.iter().map(PersonRow::from).collect(),
        more,
        total,
    })
}

/// The line under the People list saying how much of it is shown, or
/// `None` when the whole list is on one page. `from` is how many people
/// the earlier pages showed.
pub fn people_shown_note(
    shown: usize,
    from: usize,
    more: bool,
    total: Option<i64>,
    searched: bool,
) -> Option<String> {
    if !more && from == 0 {
        return None;
    }
    let first = from + 1;
    let last = from + shown;
    let range = if shown == 0 {
        "No more people".to_string()
    } else if from == 0 {
        format!("Showing the first {shown}")
    } else {
        format!(
            "Showing people {} to {}",
            group_digits(first),
            group_digits(last)
        )
    };
    let of = match total {
        Some(t) => format!(" of {} people", group_digits_i64(t)),
        None if searched && more => " matching people; more match".to_string(),
        None if searched => " matching people".to_string(),
        None => " people".to_string(),
    };
    let hint = if more {
        if searched {
            ". Refine the search to narrow the list, or see the next page."
        } else {
            ". Search to narrow the list, or see the next page."
        }
    } else {
        "."
    };
    Some(format!("{range}{of}{hint}"))
}

fn group_digits(n: usize) -> String {
    group_digits_i64(i64::try_from(n).unwrap_or(i64::MAX))
}

/// 2000 as `2,000`.
fn group_digits_i64(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::people_shown_note;

    #[test]
    fn a_list_on_one_page_needs_no_note() {
        assert_eq!(people_shown_note(12, 0, false, Some(12), false), None);
        assert_eq!(people_shown_note(3, 0, false, None, true), None);
    }

    #[test]
    fn a_cut_list_says_how_many_there_are() {
        assert_eq!(
            people_shown_note(200, 0, true, Some(2000), false).as_deref(),
            Some("Showing the first 200 of 2,000 people. Search to narrow the list, or see the next page.")
        );
        assert_eq!(
            people_shown_note(200, 200, true, Some(2000), false).as_deref(),
            Some("Showing people 201 to 400 of 2,000 people. Search to narrow the list, or see the next page.")
        );
        assert_eq!(
            people_shown_note(5, 200, false, Some(205), false).as_deref(),
            Some("Showing people 201 to 205 of 205 people.")
        );
        assert_eq!(
            people_shown_note(200, 0, true, None, true).as_deref(),
            Some("Showing the first 200 matching people; more match. Refine the search to narrow the list, or see the next page.")
        );
    }
}
