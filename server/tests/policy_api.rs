//! The Entity Risk Policy API against a real server, on both engines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::{Engine, TestServer};
use reqwest::Method;
use riskline_core::policy::{
    evaluate, groups_of_in_tx, load_rules, EvalInput, RuleAction, CATCH_ALL_RULE_ID,
    ENTITY_RISK_POLICY_ID,
};
use riskline_core::set::RiskLevel;
use riskline_core::{Principal, Role};
use serde_json::{json, Value};

const RULES: &str = "/api/v1/policies/00pentityrisk0000001/rules";

fn rule_body(name: &str, priority: Option<i64>) -> Value {
    let mut body = json!({
        "type": "ENTITY_RISK",
        "name": name,
        "conditions": {
            "entityRisk": {"level": "HIGH"},
            "riskDetectionTypes": {"include": ["SECURITY_EVENTS_PROVIDER_REPORTED_RISK"]},
            "people": {"groups": {"include": [], "exclude": []}, "users": {"include": [], "exclude": []}}
        },
        "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}
    });
    if let Some(p) = priority {
        body["priority"] = json!(p);
    }
    body
}

async fn create(s: &TestServer, name: &str, priority: Option<i64>) -> String {
    let (status, r) = s
        .api(Method::POST, RULES, Some(rule_body(name, priority)))
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    r["id"].as_str().unwrap().to_string()
}

/// (name, priority) of every rule, in the order listed.
async fn order(s: &TestServer) -> Vec<(String, i64)> {
    let (status, list) = s.api(Method::GET, RULES, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["priority"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn names(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(n, p)| (n.to_string(), *p)).collect()
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["errorCode"], code, "{body}");
}

/// A 400 E0000001 whose causes name `field`.
fn assert_invalid(status: StatusCode, body: &Value, field: &str) {
    assert_error(status, body, StatusCode::BAD_REQUEST, "E0000001");
    let causes = body["errorCauses"].as_array().unwrap();
    assert!(
        causes.iter().any(|c| c["errorSummary"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{field}:"))),
        "no cause names {field}: {body}"
    );
}

/// Adds a delegated workflow; its numeric id.
async fn add_workflow(s: &TestServer, name: &str) -> i64 {
    let (status, w) = s
        .api(
            Method::POST,
            "/api/v1/workflows",
            Some(json!({"name": name, "url": "http://127.0.0.1:9/hook"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    w["id"].as_i64().unwrap()
}

async fn admin(s: &TestServer) -> Principal {
    let admins = s.services.list_admins().await.unwrap();
    s.services
        .console_principal(&admins[0].id)
        .await
        .unwrap()
        .unwrap()
}

async fn policy_and_catch_all(engine: Engine) {
    let s = TestServer::start(engine).await;
    let (status, e) = s.api(Method::GET, "/api/v1/policies", None).await;
    assert_invalid(status, &e, "type");
    let (status, list) = s
        .api(Method::GET, "/api/v1/policies?type=OKTA_SIGN_ON", None)
        .await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    let (status, list) = s
        .api(Method::GET, "/api/v1/policies?type=ENTITY_RISK", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    let p = &list[0];
    assert_eq!(p["id"], ENTITY_RISK_POLICY_ID);
    assert_eq!(p["name"], "Entity Risk Policy");
    assert_eq!(p["type"], "ENTITY_RISK");
    assert_eq!(p["status"], "ACTIVE");
    assert_eq!(p["system"], true);
    assert_eq!(p["priority"], 1);
    assert_eq!(p["conditions"], Value::Null);
    assert_eq!(
        p["_links"]["self"]["href"],
        s.url("/api/v1/policies/00pentityrisk0000001")
    );
    assert_eq!(p["_links"]["rules"]["href"], s.url(RULES));
    let (status, one) = s
        .api(
            Method::GET,
            &format!("/api/v1/policies/{ENTITY_RISK_POLICY_ID}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&one, p);
    let (status, list) = s
        .api(
            Method::GET,
            "/api/v1/policies?type=ENTITY_RISK&status=INACTIVE",
            None,
        )
        .await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    let (status, e) = s.api(Method::GET, "/api/v1/policies/00pnope", None).await;
    assert_error(status, &e, StatusCode::NOT_FOUND, "E0000007");
    let (status, e) = s
        .api(Method::GET, "/api/v1/policies/00pnope/rules", None)
        .await;
    assert_error(status, &e, StatusCode::NOT_FOUND, "E0000007");

    // The Catch-all rule.
    let (status, rules) = s.api(Method::GET, RULES, None).await;
    assert_eq!(status, StatusCode::OK);
    let rules = rules.as_array().unwrap();
    assert_eq!(rules.len(), 1);
    let c = &rules[0];
    assert_eq!(c["id"], CATCH_ALL_RULE_ID);
    assert_eq!(c["name"], "Catch-all rule");
    assert_eq!(c["priority"], 99);
    assert_eq!(c["status"], "ACTIVE");
    assert_eq!(c["system"], true);
    assert_eq!(c["type"], "ENTITY_RISK");
    assert_eq!(c["conditions"], Value::Null);
    assert_eq!(c["actions"], json!({"entityRisk": {"actions": []}}));
    assert!(c["created"].is_string() && c["lastUpdated"].is_string());
    let catch_all = format!("{RULES}/{CATCH_ALL_RULE_ID}");
    assert_eq!(c["_links"]["self"]["href"], s.url(&catch_all));
    let (status, e) = s.api(Method::DELETE, &catch_all, None).await;
    assert_invalid(status, &e, "system");
    let (status, e) = s
        .api(
            Method::POST,
            &format!("{catch_all}/lifecycle/deactivate"),
            None,
        )
        .await;
    assert_invalid(status, &e, "system");
    let (status, _) = s
        .api(
            Method::POST,
            &format!("{catch_all}/lifecycle/activate"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Its action may change (to a workflow that exists); its name,
    // conditions and priority may not.
    let mut edited = c.clone();
    edited["actions"] =
        json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": "77"}}]}});
    let (status, e) = s.api(Method::PUT, &catch_all, Some(edited.clone())).await;
    assert_invalid(status, &e, "actions.entityRisk.actions[0].workflow.id");
    let wf = add_workflow(&s, "Ticket").await;
    edited["actions"] = json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": wf.to_string()}}]}});
    let (status, put) = s.api(Method::PUT, &catch_all, Some(edited.clone())).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(
        put["actions"]["entityRisk"]["actions"][0]["workflow"]["id"],
        wf
    );
    assert_eq!(put["priority"], 99);
    let mut renamed = edited.clone();
    renamed["name"] = json!("Everything");
    let (status, e) = s.api(Method::PUT, &catch_all, Some(renamed)).await;
    assert_invalid(status, &e, "name");
    let mut narrowed = edited.clone();
    narrowed["conditions"] = json!({"entityRisk": {"level": "HIGH"}});
    let (status, e) = s.api(Method::PUT, &catch_all, Some(narrowed)).await;
    assert_invalid(status, &e, "conditions");
    let mut moved = edited;
    moved["priority"] = json!(1);
    let (status, e) = s.api(Method::PUT, &catch_all, Some(moved)).await;
    assert_invalid(status, &e, "priority");
    let (_, after) = s.api(Method::GET, &catch_all, None).await;
    assert_eq!(after["status"], "ACTIVE");
    assert_eq!(after["name"], "Catch-all rule");
}

async fn priorities_shift(engine: Engine) {
    let s = TestServer::start(engine).await;
    let a = create(&s, "A", Some(1)).await;
    let b = create(&s, "B", Some(1)).await;
    assert_eq!(
        order(&s).await,
        names(&[("B", 1), ("A", 2), ("Catch-all rule", 99)])
    );
    // No priority: after the last custom rule; past the end: at the end.
    create(&s, "C", None).await;
    let d = create(&s, "D", Some(50)).await;
    assert_eq!(
        order(&s).await,
        names(&[
            ("B", 1),
            ("A", 2),
            ("C", 3),
            ("D", 4),
            ("Catch-all rule", 99)
        ])
    );
    // PUT with a new priority moves the rule; the others close up.
    let (_, a_json) = s.api(Method::GET, &format!("{RULES}/{a}"), None).await;
    let mut a_put = a_json.clone();
    a_put["priority"] = json!(1);
    let (status, put) = s
        .api(Method::PUT, &format!("{RULES}/{a}"), Some(a_put))
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["priority"], 1);
    assert_eq!(
        order(&s).await,
        names(&[
            ("A", 1),
            ("B", 2),
            ("C", 3),
            ("D", 4),
            ("Catch-all rule", 99)
        ])
    );
    let mut d_put = rule_body("D2", Some(2));
    d_put["actions"] = json!({"entityRisk": {"actions": []}});
    let (status, put) = s
        .api(Method::PUT, &format!("{RULES}/{d}"), Some(d_put))
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["actions"], json!({"entityRisk": {"actions": []}}));
    assert_eq!(
        order(&s).await,
        names(&[
            ("A", 1),
            ("D2", 2),
            ("B", 3),
            ("C", 4),
            ("Catch-all rule", 99)
        ])
    );
    // Down to the end (98 is clamped to the last place).
    let (status, _) = s
        .api(
            Method::PUT,
            &format!("{RULES}/{a}"),
            Some(rule_body("A", Some(98))),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        order(&s).await,
        names(&[
            ("D2", 1),
            ("B", 2),
            ("C", 3),
            ("A", 4),
            ("Catch-all rule", 99)
        ])
    );
    // Without a priority a PUT keeps the place.
    let (status, put) = s
        .api(
            Method::PUT,
            &format!("{RULES}/{b}"),
            Some(rule_body("B", None)),
        )
        .await;
    assert_eq!(
        (status, put["priority"].as_i64()),
        (StatusCode::OK, Some(2))
    );
    // DELETE closes the gap.
    let (status, _) = s.api(Method::DELETE, &format!("{RULES}/{b}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        order(&s).await,
        names(&[("D2", 1), ("C", 2), ("A", 3), ("Catch-all rule", 99)])
    );
    let (status, e) = s.api(Method::GET, &format!("{RULES}/{b}"), None).await;
    assert_error(status, &e, StatusCode::NOT_FOUND, "E0000007");
    // 99 is the Catch-all rule's.
    let (status, e) = s
        .api(Method::POST, RULES, Some(rule_body("Z", Some(99))))
        .await;
    assert_invalid(status, &e, "priority");
    let (status, e) = s
        .api(
            Method::PUT,
            &format!("{RULES}/{a}"),
            Some(rule_body("A", Some(99))),
        )
        .await;
    assert_invalid(status, &e, "priority");
    let (status, e) = s
        .api(Method::POST, RULES, Some(rule_body("Z", Some(0))))
        .await;
    assert_invalid(status, &e, "priority");
}

async fn lifecycle_and_log_events(engine: Engine) {
    let s = TestServer::start(engine).await;
    let (status, r) = s
        .api(
            Method::POST,
            &format!("{RULES}?activate=false"),
            Some(rule_body("Off", None)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "INACTIVE");
    assert_eq!(r["system"], false);
    assert_eq!(r["priority"], 1);
    let id = r["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("0pr") && id.len() == 20, "{id}");
    let rule = format!("{RULES}/{id}");
    assert_eq!(
        r["_links"]["activate"]["href"],
        s.url(&format!("{rule}/lifecycle/activate"))
    );
    assert!(r["_links"].get("deactivate").is_none());
    assert_eq!(
        r["conditions"],
        json!({
            "people": {"groups": {"include": [], "exclude": []}, "users": {"include": [], "exclude": []}},
            "riskDetectionTypes": {"include": ["SECURITY_EVENTS_PROVIDER_REPORTED_RISK"], "exclude": []},
            "entityRisk": {"level": "HIGH"}
        })
    );
    assert_eq!(
        r["actions"],
        json!({"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": "ALL"}}]}})
    );
    let (status, body) = s
        .api(Method::POST, &format!("{rule}/lifecycle/activate"), None)
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (_, got) = s.api(Method::GET, &rule, None).await;
    assert_eq!(got["status"], "ACTIVE");
    assert_eq!(
        got["_links"]["deactivate"]["href"],
        s.url(&format!("{rule}/lifecycle/deactivate"))
    );
    let (status, _) = s
        .api(Method::POST, &format!("{rule}/lifecycle/deactivate"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, got) = s.api(Method::GET, &rule, None).await;
    assert_eq!(got["status"], "INACTIVE");
    // A PUT leaves the status alone.
    let (status, put) = s.api(Method::PUT, &rule, Some(got.clone())).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["status"], "INACTIVE");
    assert_eq!(put["conditions"], got["conditions"]);
    // ?activate=true and no parameter create ACTIVE rules; nonsense is refused.
    let (_, on) = s
        .api(
            Method::POST,
            &format!("{RULES}?activate=true"),
            Some(rule_body("On", None)),
        )
        .await;
    assert_eq!(on["status"], "ACTIVE");
    let (status, e) = s
        .api(
            Method::POST,
            &format!("{RULES}?activate=maybe"),
            Some(rule_body("X", None)),
        )
        .await;
    assert_invalid(status, &e, "activate");
    // Unknown rules.
    let nope = format!("{RULES}/0prnope");
    for (method, path, body) in [
        (Method::GET, nope.clone(), None),
        (Method::PUT, nope.clone(), Some(rule_body("N", None))),
        (Method::DELETE, nope.clone(), None),
        (Method::POST, format!("{nope}/lifecycle/activate"), None),
        (Method::POST, format!("{nope}/lifecycle/deactivate"), None),
        (
            Method::POST,
            "/api/v1/policies/00pother/rules".to_string(),
            Some(rule_body("N", None)),
        ),
    ] {
        let (status, e) = s.api(method.clone(), &path, body).await;
        assert_error(status, &e, StatusCode::NOT_FOUND, "E0000007");
    }
    let (status, _) = s.api(Method::DELETE, &rule, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // One event per change, targeting the rule and the policy.
    for (event_type, count) in [
        ("policy.rule.add", 2),
        ("policy.rule.activate", 1),
        ("policy.rule.deactivate", 1),
        ("policy.rule.update", 1),
        ("policy.rule.delete", 1),
    ] {
        let events = s.log(event_type).await;
        assert_eq!(events.len(), count, "{event_type}");
        let ev = events.iter().find(|e| e.target[0].id == id).unwrap();
        assert_eq!(ev.target[0].target_type, "PolicyRule");
        assert_eq!(ev.target[0].display_name.as_deref(), Some("Off"));
        assert_eq!(ev.target[1].id, ENTITY_RISK_POLICY_ID);
        assert_eq!(ev.target[1].target_type, "PolicyEntity");
        assert_eq!(ev.actor.alternate_id.as_deref(), Some(common::ADMIN_EMAIL));
        assert_eq!(ev.outcome.result, "SUCCESS");
    }
    // Refused changes write nothing.
    let _ = s
        .api(
            Method::DELETE,
            &format!("{RULES}/{CATCH_ALL_RULE_ID}"),
            None,
        )
        .await;
    assert_eq!(s.log("policy.rule.delete").await.len(), 1);
}

async fn validation(engine: Engine) {
    let s = TestServer::start(engine).await;
    let uid = s
        .post_for_id(
            "/api/v1/users",
            json!({"profile": {"email": "ana@example.com"}}),
        )
        .await;
    let gid = s
        .post_for_id("/api/v1/groups", json!({"profile": {"name": "Executives"}}))
        .await;

    let mut both = rule_body("R", None);
    both["conditions"]["riskDetectionTypes"] =
        json!({"include": ["BRUTE_FORCE_ATTACK"], "exclude": ["SUSPICIOUS_APP_ACCESS"]});
    let mut unknown_detection = rule_body("R", None);
    unknown_detection["conditions"]["riskDetectionTypes"] = json!({"include": ["MALWARE"]});
    let mut unknown_group = rule_body("R", None);
    unknown_group["conditions"]["people"]["groups"]["include"] = json!([gid, "00gmissing"]);
    let mut unknown_user = rule_body("R", None);
    unknown_user["conditions"]["people"]["users"]["exclude"] = json!(["00umissing"]);
    let mut two_actions = rule_body("R", None);
    two_actions["actions"] = json!({"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}, {"action": "RUN_WORKFLOW", "workflow": {"id": 1}}]}});
    let mut bad_workflow = rule_body("R", None);
    bad_workflow["actions"] =
        json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": "abc"}}]}});
    let mut no_level = rule_body("R", None);
    no_level["conditions"]["entityRisk"] = json!({});
    let mut unknown_app = rule_body("R", None);
    unknown_app["actions"] = json!({"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": ["0oamissing"]}}]}});
    let mut no_name = rule_body("R", None);
    no_name.as_object_mut().unwrap().remove("name");
    let cases = [
        (both, "conditions.riskDetectionTypes"),
        (unknown_detection, "conditions.riskDetectionTypes.include"),
        (unknown_group, "conditions.people.groups.include"),
        (unknown_user, "conditions.people.users.exclude"),
        (two_actions, "actions.entityRisk.actions"),
        (bad_workflow, "actions.entityRisk.actions[0].workflow.id"),
        (no_level, "conditions.entityRisk.level"),
        (
            unknown_app,
            "actions.entityRisk.actions[0].universalLogout.apps",
        ),
        (no_name, "name"),
    ];
    for (body, field) in &cases {
        let (status, e) = s.api(Method::POST, RULES, Some(body.clone())).await;
        assert_invalid(status, &e, field);
    }
    let (status, e) = s.api(Method::POST, RULES, Some(cases[2].0.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(e.to_string().contains("00gmissing"), "{e}");
    assert!(!e.to_string().contains(&format!("id {gid}")), "{e}");
    // Malformed JSON.
    let res = s
        .http
        .post(s.url(RULES))
        .header("Authorization", format!("SSWS {}", common::API_TOKEN))
        .header("Content-Type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["errorCode"], "E0000003");
    // Nothing was created.
    assert_eq!(order(&s).await, names(&[("Catch-all rule", 99)]));

    // The same rule with existing ids, and a workflow id as a string.
    let wf = add_workflow(&s, "Ticket").await;
    let mut ok = rule_body("Workflow for executives", None);
    ok["conditions"]["people"]["groups"]["include"] = json!([gid]);
    ok["conditions"]["people"]["users"]["exclude"] = json!([uid]);
    ok["actions"] = json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": wf.to_string()}}]}});
    let (status, r) = s.api(Method::POST, RULES, Some(ok)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        r["actions"],
        json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": wf}}]}})
    );
    assert_eq!(r["conditions"]["people"]["groups"]["include"], json!([gid]));
    // Validation on PUT too.
    let id = r["id"].as_str().unwrap();
    let (status, e) = s
        .api(
            Method::PUT,
            &format!("{RULES}/{id}"),
            Some(cases[4].0.clone()),
        )
        .await;
    assert_invalid(status, &e, "actions.entityRisk.actions");
}

async fn read_only_tokens_cannot_write(engine: Engine) {
    let s = TestServer::start(engine).await;
    let id = create(&s, "A", None).await;
    let by = admin(&s).await;
    let ro = s
        .services
        .create_token(&by, "ro", Role::ReadOnlyAdmin)
        .await
        .unwrap();
    let header = format!("SSWS {}", ro.secret);
    let rule = format!("{RULES}/{id}");
    for (method, path, body) in [
        (Method::POST, RULES.to_string(), Some(rule_body("B", None))),
        (Method::PUT, rule.clone(), Some(rule_body("B", None))),
        (Method::DELETE, rule.clone(), None),
        (Method::POST, format!("{rule}/lifecycle/activate"), None),
        (Method::POST, format!("{rule}/lifecycle/deactivate"), None),
        (Method::DELETE, format!("{RULES}/{CATCH_ALL_RULE_ID}"), None),
    ] {
        let (status, e) = s.api_as(Some(&header), method, &path, body).await;
        assert_error(status, &e, StatusCode::FORBIDDEN, "E0000006");
    }
    for path in [
        "/api/v1/policies?type=ENTITY_RISK".to_string(),
        format!("/api/v1/policies/{ENTITY_RISK_POLICY_ID}"),
        RULES.to_string(),
        rule.clone(),
    ] {
        let (status, body) = s.api_as(Some(&header), Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, e) = s.api_as(None, Method::GET, RULES, None).await;
    assert_error(status, &e, StatusCode::UNAUTHORIZED, "E0000011");
    assert_eq!(order(&s).await, names(&[("A", 1), ("Catch-all rule", 99)]));
}

fn input<'a>(user_id: &'a str, group_ids: &'a [String], level: RiskLevel) -> EvalInput<'a> {
    EvalInput {
        user_id,
        group_ids,
        detection: "SECURITY_EVENTS_PROVIDER_REPORTED_RISK",
        level,
    }
}

/// What the receiver calls inside its transaction.
async fn receiver_functions(engine: Engine) {
    let s = TestServer::start(engine).await;
    let uid = s
        .post_for_id(
            "/api/v1/users",
            json!({"profile": {"email": "ana@example.com"}}),
        )
        .await;
    let gid = s
        .post_for_id("/api/v1/groups", json!({"profile": {"name": "Executives"}}))
        .await;
    let wf = add_workflow(&s, "Ticket").await;
    let mut exec = rule_body("Executives", None);
    exec["conditions"]["people"]["groups"]["include"] = json!([gid]);
    exec["actions"] =
        json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": wf}}]}});
    let (status, r) = s.api(Method::POST, RULES, Some(exec)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let generic = create(&s, "Everyone high", None).await;
    // A second group, that Ana and Ben share: each user's groups come back
    // in group-id order whatever the order they were added in.
    let ben = s
        .post_for_id(
            "/api/v1/users",
            json!({"profile": {"email": "ben@example.com", "firstName": "Ben \"B\"", "lastName": "Ødegård"}}),
        )
        .await;
    let shared = s
        .post_for_id("/api/v1/groups", json!({"profile": {"name": "Finance"}}))
        .await;
    for (group, member) in [(&gid, &uid), (&shared, &ben), (&shared, &uid)] {
        let (status, _) = s
            .api(
                Method::PUT,
                &format!("/api/v1/groups/{group}/users/{member}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let mut ana_groups = vec![gid.clone(), shared.clone()];
    ana_groups.sort();

    let mut tx = s.services.db.begin().await.unwrap();
    let rules = load_rules(&mut tx).await.unwrap();
    let groups = groups_of_in_tx(&mut tx, &uid).await.unwrap();
    let ben_groups = groups_of_in_tx(&mut tx, &ben).await.unwrap();
    let none = groups_of_in_tx(&mut tx, "00unobody").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        rules.iter().map(|r| r.priority).collect::<Vec<_>>(),
        [1, 2, 99]
    );
    assert_eq!(groups, ana_groups);
    assert_eq!(ben_groups, vec![shared]);
    assert!(none.is_empty());

    let hit = evaluate(&rules, &input(&uid, &groups, RiskLevel::High)).unwrap();
    assert_eq!(hit.name, "Executives");
    assert_eq!(hit.action, RuleAction::RunWorkflow { workflow_id: wf });
    let hit = evaluate(&rules, &input("00uother", &[], RiskLevel::High)).unwrap();
    assert_eq!(hit.id, generic);
    let hit = evaluate(&rules, &input(&uid, &groups, RiskLevel::Medium)).unwrap();
    assert_eq!(hit.id, CATCH_ALL_RULE_ID);
    assert_eq!(hit.action, RuleAction::None);
}

/// Concurrent inserts at the top still leave priorities 1..n without gaps.
async fn concurrent_creates_stay_contiguous(engine: Engine) {
    let s = std::sync::Arc::new(TestServer::start(engine).await);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let (status, r) = s
                .api(
                    Method::POST,
                    RULES,
                    Some(rule_body(&format!("R{i}"), Some(1))),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{r}");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let priorities: Vec<i64> = order(&s).await.into_iter().map(|(_, p)| p).collect();
    assert_eq!(priorities, [1, 2, 3, 4, 5, 6, 7, 8, 99]);
}

/// A group, user or logout app that a rule names cannot be removed: the rule
/// would silently change meaning. Once no rule names it, it can.
async fn named_references_cannot_be_removed(engine: Engine) {
    let s = TestServer::start(engine).await;
    let gid = s
        .post_for_id("/api/v1/groups", json!({"profile": {"name": "Executives"}}))
        .await;
    let uid = s
        .post_for_id(
            "/api/v1/users",
            json!({"profile": {"email": "ana@example.com"}}),
        )
        .await;
    let app_id = s
        .post_for_id("/api/v1/logout-apps", json!({"name": "CRM", "endpointUrl": "https://crm.example/revoke", "clientId": "crm", "auth": {"type": "signed_jwt"}}))
        .await;
    let mut body = rule_body("Executives out", None);
    body["conditions"]["people"]["groups"]["include"] = json!([gid]);
    body["conditions"]["people"]["users"]["exclude"] = json!([uid]);
    body["actions"] = json!({"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": [app_id]}}]}});
    let (status, rule) = s.api(Method::POST, RULES, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{rule}");
    let rule_id = rule["id"].as_str().unwrap().to_string();

    // The user must be deprovisioned before a DELETE removes it.
    let user_path = format!("/api/v1/users/{uid}");
    let (status, _) = s.api(Method::DELETE, &user_path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let paths = [
        format!("/api/v1/groups/{gid}"),
        user_path,
        format!("/api/v1/logout-apps/{app_id}"),
    ];
    for (path, noun) in paths.iter().zip(["group", "user", "logout app"]) {
        let (status, e) = s.api(Method::DELETE, path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {e}");
        assert_eq!(e["errorCode"], "E0000001", "{e}");
        assert_eq!(
            e["errorCauses"][0]["errorSummary"],
            format!("The Entity Risk Policy rule \"Executives out\" names this {noun}: remove it from that rule first."),
            "{e}"
        );
        let (status, _) = s.api(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path} is still there");
    }

    let (status, _) = s
        .api(Method::DELETE, &format!("{RULES}/{rule_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for path in &paths {
        let (status, e) = s.api(Method::DELETE, path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {e}");
        let (status, _) = s.api(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} is gone");
    }
}

/// H2: a workflow id is never handed out twice (not after deleting the
/// newest, nor under concurrent creates), a workflow a rule names cannot be
/// deleted, and a rule cannot name a workflow that does not exist.
async fn workflows_named_by_rules_keep_their_ids(engine: Engine) {
    let s = std::sync::Arc::new(TestServer::start(engine).await);
    let first = add_workflow(&s, "WF-A").await;
    let second = add_workflow(&s, "WF-B").await;
    assert!(second > first);

    // Deleting the newest does not give its id to the next one.
    let (status, e) = s
        .api(Method::DELETE, &format!("/api/v1/workflows/{second}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{e}");
    let third = add_workflow(&s, "WF-C (other team)").await;
    assert!(third > second, "{third} reuses a deleted id");

    // A rule may name only a workflow that exists.
    let mut body = rule_body("Ticket for high risk", None);
    body["actions"] = json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": second}}]}});
    let (status, e) = s.api(Method::POST, RULES, Some(body.clone())).await;
    assert_invalid(status, &e, "actions.entityRisk.actions[0].workflow.id");
    assert_eq!(
        e["errorCauses"][0]["errorSummary"],
        format!("actions.entityRisk.actions[0].workflow.id: No delegated workflow has the id {second}; add it under /api/v1/workflows first."),
    );
    body["actions"]["entityRisk"]["actions"][0]["workflow"]["id"] = json!(third.to_string());
    let (status, rule) = s.api(Method::POST, RULES, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{rule}");
    let rule_id = rule["id"].as_str().unwrap().to_string();

    // ... and while it does, that workflow stays.
    let path = format!("/api/v1/workflows/{third}");
    let (status, e) = s.api(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["errorCode"], "E0000001", "{e}");
    assert_eq!(
        e["errorCauses"][0]["errorSummary"],
        "The Entity Risk Policy rule \"Ticket for high risk\" names this workflow: remove it from that rule first."
    );
    let (status, current) = s.api(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.log("workflows.flow.delete").await.len(), 1);
    // Nor can it be deactivated; other edits are fine.
    let edit = |status: &str| json!({"name": "Renamed", "url": current["url"], "status": status});
    let (status, e) = s.api(Method::PUT, &path, Some(edit("INACTIVE"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["errorCauses"][0]["errorSummary"]
            .as_str()
            .unwrap()
            .contains("remove it from that rule first"),
        "{e}"
    );
    let (status, renamed) = s.api(Method::PUT, &path, Some(edit("ACTIVE"))).await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["status"], "ACTIVE");
    let (status, _) = s
        .api(Method::DELETE, &format!("{RULES}/{rule_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.api(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Concurrent creates (PostgreSQL gave duplicate-key 500s) all succeed,
    // with distinct ids past every earlier one.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            add_workflow(&s, &format!("parallel {i}")).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10, "{ids:?}");
    assert!(ids[0] > third, "{ids:?}");
}

/// H4 and L4: top-level typos are refused (not read as "match everyone" or
/// "log only"), `conditions` is required, a reference error names its field
/// once, and `priority: 2.0` is an integer.
async fn rule_body_mistakes_are_refused(engine: Engine) {
    let s = TestServer::start(engine).await;
    let terminate = json!({"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}});
    let typo = json!({"name": "typo rule", "condition": {"entityRisk": {"level": "HIGH"}}, "actions": terminate});
    let (status, e) = s.api(Method::POST, RULES, Some(typo)).await;
    assert_invalid(status, &e, "condition");
    assert_invalid(status, &e, "conditions");
    assert!(e.to_string().contains("Did you mean conditions?"), "{e}");
    let missing = json!({"name": "no conditions", "actions": terminate});
    let (status, e) = s.api(Method::POST, RULES, Some(missing)).await;
    assert_invalid(status, &e, "conditions");
    let singular = json!({"name": "singular", "conditions": {"entityRisk": {"level": "HIGH"}}, "action": terminate});
    let (status, e) = s.api(Method::POST, RULES, Some(singular)).await;
    assert_invalid(status, &e, "action");
    assert!(e.to_string().contains("Did you mean actions?"), "{e}");
    assert_eq!(order(&s).await, names(&[("Catch-all rule", 99)]));

    // On PUT too; a GET body still goes back as it came.
    let id = create(&s, "A", None).await;
    let rule = format!("{RULES}/{id}");
    let (_, got) = s.api(Method::GET, &rule, None).await;
    let mut typo = got.clone();
    typo["condition"] = typo["conditions"].take();
    typo.as_object_mut().unwrap().remove("conditions");
    let (status, e) = s.api(Method::PUT, &rule, Some(typo)).await;
    assert_invalid(status, &e, "condition");
    let (status, put) = s.api(Method::PUT, &rule, Some(got.clone())).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["conditions"], got["conditions"]);

    let mut unknown_group = rule_body("R", None);
    unknown_group["conditions"]["people"]["groups"]["include"] = json!(["00gmissing"]);
    let (status, e) = s.api(Method::POST, RULES, Some(unknown_group)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(
        e["errorCauses"][0]["errorSummary"],
        "conditions.people.groups.include: No group has the id 00gmissing."
    );
    let mut float = rule_body("B", None);
    float["priority"] = json!(1.0);
    let (status, r) = s.api(Method::POST, RULES, Some(float)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["priority"], 1);
}

/// Okta's Python SDK drops empty lists and objects from every body it sends,
/// so a log-only rule (`{"entityRisk": {"actions": []}}`) reaches us with no
/// `actions` at all, and so do empty `people` arrays: that is log only, on
/// POST and on PUT (found by end2end/okta_sdk). A misspelt `action` is still
/// refused.
async fn rules_as_the_python_sdk_sends_them(engine: Engine) {
    let s = TestServer::start(engine).await;
    let stripped = json!({"name": "Log only", "type": "ENTITY_RISK", "system": false,
        "conditions": {"entityRisk": {"level": "MEDIUM"}}});
    let (status, r) = s.api(Method::POST, RULES, Some(stripped)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["actions"], json!({"entityRisk": {"actions": []}}));
    assert_eq!(r["status"], "ACTIVE");
    assert_eq!(r["conditions"]["entityRisk"]["level"], "MEDIUM");
    assert_eq!(
        r["conditions"]["people"],
        json!({"groups": {"include": [], "exclude": []}, "users": {"include": [], "exclude": []}})
    );

    // A rule that logs out, replaced by the SDK with its action list emptied.
    let id = create(&s, "Logs out", None).await;
    let rule = format!("{RULES}/{id}");
    let (_, mut got) = s.api(Method::GET, &rule, None).await;
    assert_eq!(
        got["actions"]["entityRisk"]["actions"][0]["action"],
        "TERMINATE_ALL_SESSIONS"
    );
    got.as_object_mut().unwrap().remove("actions");
    let (status, put) = s.api(Method::PUT, &rule, Some(got)).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["actions"], json!({"entityRisk": {"actions": []}}));
    let (_, read) = s.api(Method::GET, &rule, None).await;
    assert_eq!(read["actions"], json!({"entityRisk": {"actions": []}}));
    let mut tx = s.services.db.begin().await.unwrap();
    let rules = load_rules(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    let stored = rules.iter().find(|r| r.id == id).unwrap();
    assert_eq!(stored.action, RuleAction::None);

    let singular = json!({"name": "typo", "conditions": {"entityRisk": {"level": "HIGH"}},
        "action": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}});
    let (status, e) = s.api(Method::POST, RULES, Some(singular)).await;
    assert_invalid(status, &e, "action");
    let no_conditions = json!({"name": "everyone"});
    let (status, e) = s.api(Method::POST, RULES, Some(no_conditions)).await;
    assert_invalid(status, &e, "conditions");
}

/// M5: Okta's SDKs and Terraform drop `universalLogout` on a GET→PUT; the
/// rule keeps its apps rather than widening to ALL. Sending it still counts.
async fn round_trip_without_universal_logout_keeps_apps(engine: Engine) {
    let s = TestServer::start(engine).await;
    let app_id = s
        .post_for_id("/api/v1/logout-apps", json!({"name": "CRM", "endpointUrl": "https://crm.example/revoke", "clientId": "crm", "auth": {"type": "signed_jwt"}}))
        .await;
    let mut body = rule_body("Scoped", None);
    body["actions"] = json!({"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": [app_id]}}]}});
    let (status, r) = s.api(Method::POST, RULES, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let rule = format!("{RULES}/{}", r["id"].as_str().unwrap());
    let scoped = json!({"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": [app_id]}}]}});

    // What the SDK sends back: the GET body without the member it does not know.
    let (_, mut sdk) = s.api(Method::GET, &rule, None).await;
    sdk["name"] = json!("Scoped, renamed");
    sdk["actions"]["entityRisk"]["actions"][0]
        .as_object_mut()
        .unwrap()
        .remove("universalLogout");
    let (status, put) = s.api(Method::PUT, &rule, Some(sdk.clone())).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["name"], "Scoped, renamed");
    assert_eq!(put["actions"], scoped);
    let (_, stored) = s.api(Method::GET, &rule, None).await;
    assert_eq!(stored["actions"], scoped);

    // Widening has to be asked for.
    sdk["actions"]["entityRisk"]["actions"][0]["universalLogout"] = json!({"apps": "ALL"});
    let (status, put) = s.api(Method::PUT, &rule, Some(sdk)).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(
        put["actions"]["entityRisk"]["actions"][0]["universalLogout"]["apps"],
        "ALL"
    );
}

/// A logout app that records each call's `Idempotency-Key` and answers 503,
/// so its logout stays pending (retried) for the rest of the test.
async fn unavailable_app() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/gtr", listener.local_addr().unwrap());
    let keys: Arc<Mutex<Vec<String>>> = Arc::default();
    let router = Router::new()
        .route(
            "/gtr",
            post(
                |State(keys): State<Arc<Mutex<Vec<String>>>>, headers: HeaderMap| async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    keys.lock().unwrap().push(key);
                    StatusCode::SERVICE_UNAVAILABLE
                },
            ),
        )
        .with_state(keys.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    (url, keys)
}

async fn logouts_of(s: &TestServer, user_id: &str) -> i64 {
    riskline_core::with_db!(&s.services.db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM logouts WHERE user_id = $1"
    )
    .bind(user_id)
    .fetch_one(pool)
    .await
    .unwrap())
}

/// M2: one SET carrying two HIGH events for a user, a further HIGH SET, and
/// an admin's HIGH while the rule's logout is still being delivered start
/// no second logout: the app sees one Idempotency-Key. Once the logout has
/// ended, a new HIGH detection logs the user out again.
async fn a_pending_logout_is_not_started_again(engine: Engine) {
    const USER_RISK: &str = "https://schemas.okta.com/secevent/okta/event-type/user-risk-change";
    const COMPROMISE: &str =
        "https://schemas.openid.net/secevent/risc/event-type/credential-compromise";
    let s = TestServer::start(engine).await;
    let (issuer, _) = s.add_edr_provider().await;
    let uid = s
        .post_for_id(
            "/api/v1/users",
            json!({"profile": {"email": "ana@example.com"}}),
        )
        .await;
    let (url, keys) = unavailable_app().await;
    s.post_for_id("/api/v1/logout-apps", json!({"name": "CRM", "endpointUrl": url, "clientId": "crm", "auth": {"type": "signed_jwt"}}))
        .await;
    let mut high = rule_body("High: log out", None);
    high["conditions"]
        .as_object_mut()
        .unwrap()
        .remove("riskDetectionTypes");
    let (status, r) = s.api(Method::POST, RULES, Some(high)).await;
    assert_eq!(status, StatusCode::OK, "{r}");

    let subject = json!({"format": "email", "email": "ana@example.com"});
    let set = |events: Value| {
        common::sign_set(
            &json!({"iss": issuer, "aud": s.base_url, "iat": common::now_secs(),
            "jti": uuid::Uuid::new_v4().to_string(), "events": events}),
        )
    };
    let both = set(json!({
        USER_RISK: {"subject": {"user": subject}, "current_level": "high", "previous_level": "low"},
        COMPROMISE: {"subject": subject, "credential_type": "password"},
    }));
    assert_eq!(s.push_set(both).await, 202);
    for _ in 0..100 {
        if !keys.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(logouts_of(&s, &uid).await, 1);
    // HIGH → HIGH while the logout is retried.
    let again = set(
        json!({USER_RISK: {"subject": {"user": subject}, "current_level": "high", "previous_level": "high"}}),
    );
    assert_eq!(s.push_set(again).await, 202);
    let by = admin(&s).await;
    s.services
        .admin_set_risk(&by, &uid, RiskLevel::High, "Elevated")
        .await
        .unwrap();
    // Long enough for a retry or two of the pending call.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(logouts_of(&s, &uid).await, 1);
    let seen: Vec<String> = keys.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|k| k == &seen[0]),
        "one logout, one Idempotency-Key: {seen:?}"
    );
    // Four detections were evaluated; one action was taken.
    assert_eq!(s.log("policy.entity_risk.evaluate").await.len(), 4);
    // (Delivery failures may add FAILURE action events of their own.)
    let actions = s.log("policy.entity_risk.action").await;
    assert_eq!(
        actions
            .iter()
            .filter(|e| e.outcome.result == "SUCCESS")
            .count(),
        1,
        "{actions:?}"
    );
    let admin_eval = &s.log("policy.entity_risk.evaluate").await[0];
    assert!(
        admin_eval
            .debug_context
            .debug_data
            .contains_key("PendingAction"),
        "{admin_eval:?}"
    );

    // Once the logout has ended (here: failed), a new detection acts again.
    riskline_core::with_db!(&s.services.db, |pool| sqlx::query(
        "UPDATE logouts SET status = 'FAILED' WHERE user_id = $1"
    )
    .bind(&uid)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    .unwrap());
    let later = set(
        json!({USER_RISK: {"subject": {"user": subject}, "current_level": "high", "previous_level": "high"}}),
    );
    assert_eq!(s.push_set(later).await, 202);
    assert_eq!(logouts_of(&s, &uid).await, 2);
}

/// The console's Change action form for the Catch-all rule, posted as the
/// wasm posts it: the action changes and nothing else, through the same
/// checks and log event as `PUT`; refusals change nothing.
async fn catch_all_action_from_the_console(engine: Engine) {
    use leptos::server_fn::ServerFn;
    let s = TestServer::start(engine).await;
    let cookie = s.console_cookie().await;
    let path = <riskline_app::server::edit_catch_all_rule::EditCatchAllRule as ServerFn>::PATH;
    let post = |form: Vec<(&'static str, String)>| {
        let req = s
            .http
            .post(s.url(path))
            .header("Accept", "application/json")
            .header("Sec-Fetch-Site", "same-origin")
            .header("Cookie", &cookie)
            .form(&form);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
            )
        }
    };
    let catch_all = format!("{RULES}/{CATCH_ALL_RULE_ID}");
    let (_, before) = s.api(Method::GET, &catch_all, None).await;
    let app = s
        .post_for_id(
            "/api/v1/logout-apps",
            json!({"name": "CRM", "endpointUrl": "http://127.0.0.1:9/revoke", "clientId": "crm", "auth": {"type": "signed_jwt"}}),
        )
        .await;
    let s_ = |v: &str| v.to_string();

    // Refused: by the form's checks, and by the core's (an app or a
    // workflow that does not exist), each on the form's field.
    let refusals = [
        (
            vec![("action", s_("logout")), ("apps_mode", s_("chosen"))],
            "apps",
        ),
        (
            vec![
                ("action", s_("logout")),
                ("apps_mode", s_("chosen")),
                ("apps[0]", s_("0oanope")),
            ],
            "apps",
        ),
        (
            vec![
                ("action", s_("workflow")),
                ("apps_mode", s_("all")),
                ("workflow_id", s_("77")),
            ],
            "workflow_id",
        ),
    ];
    for (form, field) in refusals {
        let (status, body) = post(form.clone()).await;
        assert_eq!(status, 400, "{form:?}: {body}");
        let fields = body["Invalid"].as_array().unwrap();
        assert!(
            fields.iter().any(|f| f["field"] == field),
            "{form:?}: {body}"
        );
    }
    let (_, unchanged) = s.api(Method::GET, &catch_all, None).await;
    assert_eq!(unchanged, before);
    assert!(s.log("policy.rule.update").await.is_empty());

    // Saved: a Universal Logout of the app; only the action changed.
    let (status, body) = post(vec![
        ("action", s_("logout")),
        ("apps_mode", s_("chosen")),
        ("apps[0]", app.clone()),
    ])
    .await;
    assert!(status < 400, "{status} {body}");
    let (_, after) = s.api(Method::GET, &catch_all, None).await;
    assert_eq!(
        after["actions"],
        json!({"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": [app]}}]}})
    );
    for member in [
        "id",
        "name",
        "priority",
        "status",
        "system",
        "conditions",
        "created",
    ] {
        assert_eq!(after[member], before[member], "{member}");
    }
    assert_eq!(after["priority"], 99);
    assert_eq!(after["conditions"], Value::Null);
    let events = s.log("policy.rule.update").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target[0].id, CATCH_ALL_RULE_ID);
    assert_eq!(
        events[0].actor.alternate_id.as_deref(),
        Some(common::ADMIN_EMAIL)
    );

    // And back to log only.
    let (status, body) = post(vec![("action", s_("none")), ("apps_mode", s_("all"))]).await;
    assert!(status < 400, "{status} {body}");
    let (_, back) = s.api(Method::GET, &catch_all, None).await;
    assert_eq!(back["actions"], before["actions"]);
    assert_eq!(s.log("policy.rule.update").await.len(), 2);
}

crate::on_both_engines!(
    concurrent_creates_stay_contiguous,
    named_references_cannot_be_removed,
    policy_and_catch_all,
    priorities_shift,
    lifecycle_and_log_events,
    validation,
    read_only_tokens_cannot_write,
    receiver_functions,
    workflows_named_by_rules_keep_their_ids,
    rule_body_mistakes_are_refused,
    rules_as_the_python_sdk_sends_them,
    round_trip_without_universal_logout_keeps_apps,
    a_pending_logout_is_not_started_again,
    catch_all_action_from_the_console,
);
