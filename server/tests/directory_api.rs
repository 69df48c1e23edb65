//! Users, groups and CSV import against a real server, on both engines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::StatusCode;
use common::{Engine, TestServer};
use reqwest::Method;
use serde_json::json;

async fn users_and_groups(engine: Engine) {
    let s = TestServer::start(engine).await;
    let (status, u) = s
        .api(Method::POST, "/api/v1/users", Some(json!({"profile": {"email": "Ana@Example.com", "firstName": "Ana", "lastName": "Lee"}, "externalIds": [{"iss": "https://idp", "sub": "a1"}]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{u}");
    let id = u["id"].as_str().unwrap().to_string();
    assert_eq!(u["profile"]["login"], "ana@example.com");
    assert_eq!(u["status"], "ACTIVE");
    assert_eq!(
        u["externalIds"],
        json!([{"iss": "https://idp", "sub": "a1"}])
    );
    // Validation, duplicates, a taken external identity.
    let (status, e) = s
        .api(
            Method::POST,
            "/api/v1/users",
            Some(json!({"profile": {"email": "nope"}})),
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("E0000001"))
    );
    let (status, _) = s
        .api(
            Method::POST,
            "/api/v1/users",
            Some(json!({"profile": {"email": "ana@example.com"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, e) = s
        .api(Method::POST, "/api/v1/users", Some(json!({"profile": {"email": "bob@example.com"}, "externalIds": [{"iss": "https://idp", "sub": "a1"}]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let (_, all) = s.api(Method::GET, "/api/v1/users", None).await;
    assert_eq!(
        all.as_array().unwrap().len(),
        1,
        "a refused create leaves nothing behind"
    );
    // Search and q.
    let (_, found) = s
        .api(
            Method::GET,
            "/api/v1/users?search=profile.email%20eq%20%22ana%40example.com%22",
            None,
        )
        .await;
    assert_eq!(found[0]["id"], id.as_str());
    let (_, found) = s.api(Method::GET, "/api/v1/users?q=an", None).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let (_, found) = s.api(Method::GET, "/api/v1/users?q=zz", None).await;
    assert_eq!(found, json!([]));
    // The console's group form names a person by login or email: an exact
    // match whatever the case, never a prefix.
    let by_login = |key: &'static str| {
        let services = s.services.clone();
        async move {
            services
                .find_user_by_login_or_email(key)
                .await
                .unwrap()
                .map(|u| u.id)
        }
    };
    assert_eq!(
        by_login(" ANA@example.COM ").await.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(by_login("ana@example.co").await, None);
    assert_eq!(by_login("ana").await, None);
    // PUT replaces the profile and external ids.
    let (status, put) = s
        .api(Method::PUT, &format!("/api/v1/users/{id}"), Some(json!({"profile": {"email": "ana@example.com", "firstName": "Ana", "lastName": "Li"}, "externalIds": []})))
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["profile"]["lastName"], "Li");
    assert_eq!(put["externalIds"], json!([]));
    // Groups.
    let (status, g) = s
        .api(
            Method::POST,
            "/api/v1/groups",
            Some(json!({"profile": {"name": "Executives", "description": "VIPs"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();
    // PUT replaces the group's profile; names stay unique and required.
    let other_id = s
        .post_for_id(
            "/api/v1/groups",
            json!({"profile": {"name": "Contractors"}}),
        )
        .await;
    let group_path = format!("/api/v1/groups/{gid}");
    let (status, renamed) = s
        .api(
            Method::PUT,
            &group_path,
            Some(json!({"profile": {"name": " Leadership ", "description": "Board"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(
        renamed["profile"],
        json!({"name": "Leadership", "description": "Board"})
    );
    let (_, read) = s.api(Method::GET, &group_path, None).await;
    assert_eq!(read["profile"]["name"], "Leadership");
    for (body, cause) in [
        (
            json!({"profile": {"name": "  "}}),
            "profile.name: profile.name is required (at most 255 characters).",
        ),
        (
            json!({"profile": {"name": "Contractors"}}),
            "profile.name: A group named Contractors already exists.",
        ),
    ] {
        let (status, e) = s.api(Method::PUT, &group_path, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(e["errorCauses"][0]["errorSummary"], cause, "{e}");
    }
    let (_, read) = s.api(Method::GET, &group_path, None).await;
    assert_eq!(
        read["profile"],
        json!({"name": "Leadership", "description": "Board"}),
        "a refused PUT changes nothing"
    );
    let (status, _) = s
        .api(
            Method::PUT,
            "/api/v1/groups/00gnope",
            Some(json!({"profile": {"name": "X"}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // DELETE removes a group no rule names.
    let (status, _) = s
        .api(Method::DELETE, &format!("/api/v1/groups/{other_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s
        .api(Method::GET, &format!("/api/v1/groups/{other_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let types: Vec<String> = s
        .log("group.profile.update")
        .await
        .into_iter()
        .chain(s.log("group.lifecycle.delete").await)
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, ["group.profile.update", "group.lifecycle.delete"]);
    let (status, _) = s
        .api(
            Method::PUT,
            &format!("/api/v1/groups/{gid}/users/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, members) = s
        .api(Method::GET, &format!("/api/v1/groups/{gid}/users"), None)
        .await;
    assert_eq!(members[0]["id"], id.as_str());
    let (status, _) = s
        .api(
            Method::DELETE,
            &format!("/api/v1/groups/{gid}/users/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, members) = s
        .api(Method::GET, &format!("/api/v1/groups/{gid}/users"), None)
        .await;
    assert_eq!(members, json!([]));
    let (status, _) = s
        .api(
            Method::PUT,
            &format!("/api/v1/groups/{gid}/users/00unope"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Deactivate, then delete.
    let (status, d) = s
        .api(
            Method::POST,
            &format!("/api/v1/users/{id}/lifecycle/deactivate"),
            None,
        )
        .await;
    assert_eq!(
        (status, d["status"].as_str()),
        (StatusCode::OK, Some("DEPROVISIONED"))
    );
    let (status, _) = s
        .api(Method::DELETE, &format!("/api/v1/users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s
        .api(Method::GET, &format!("/api/v1/users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn csv_import_is_all_or_nothing(engine: Engine) {
    let s = TestServer::start(engine).await;
    let admins = s.services.list_admins().await.unwrap();
    let by = s
        .services
        .console_principal(&admins[0].id)
        .await
        .unwrap()
        .unwrap();
    let bad = "email,firstName,lastName\nana@example.com,Ana,Lee\nnot-an-email,Bob,Ray\n";
    let preview = s.services.preview_import(bad).await.unwrap();
    assert_eq!(preview.len(), 2);
    assert!(preview[0].error.is_none());
    assert!(preview[1].error.is_some());
    assert!(s.services.import_people(&by, bad).await.is_err());
    assert!(
        s.services
            .list_users("", None, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing half-imported"
    );
    let good = "email,firstName,lastName,externalIss,externalSub\nana@example.com,Ana,Lee,https://idp,a1\nbob@example.com,Bob,Ray,,\n";
    assert_eq!(s.services.import_people(&by, good).await.unwrap(), 2);
    let users = s.services.list_users("", None, 10).await.unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].external_ids.len(), 1);
    // Importing the same people again is refused as a whole.
    let again = s.services.preview_import(good).await.unwrap();
    assert!(again.iter().all(|r| r
        .error
        .as_deref()
        .is_some_and(|e| e.contains("already exists"))));
    assert!(s.services.import_people(&by, good).await.is_err());
}

/// Searching people and groups ignores case beyond ASCII on both engines
/// (SQLite's own `lower()` folds ASCII only).
async fn searches_ignore_case_beyond_ascii(engine: Engine) {
    let s = TestServer::start(engine).await;
    let eva = s
        .post_for_id(
            "/api/v1/users",
            json!({"profile": {"email": "eva@example.com", "firstName": "Éva", "lastName": "Ünal"}}),
        )
        .await;
    s.post_for_id(
        "/api/v1/users",
        json!({"profile": {"email": "bo@example.com", "firstName": "Bo", "lastName": "Lind"}}),
    )
    .await;
    for q in ["éva", "ÉVA", "ünal", "Ün"] {
        let (status, found) = s
            .api(
                Method::GET,
                &format!("/api/v1/users?q={}", urlencode(q)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        let ids: Vec<&str> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [eva.as_str()], "q={q}");
    }
    let group = s
        .post_for_id(
            "/api/v1/groups",
            json!({"profile": {"name": "Équipe Sécurité", "description": ""}}),
        )
        .await;
    let (_, found) = s
        .api(
            Method::GET,
            &format!("/api/v1/groups?q={}", urlencode("équipe")),
            None,
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["id"], group.as_str());
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

crate::on_both_engines!(
    users_and_groups,
    csv_import_is_all_or_nothing,
    searches_ignore_case_beyond_ascii
);
