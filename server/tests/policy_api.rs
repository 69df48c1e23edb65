//! The Entity Risk Policy API against a real server, on both engines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::StatusCode;
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
    // Its action may change; its name, conditions and priority may not.
    let mut edited = c.clone();
    edited["actions"] =
        json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": "77"}}]}});
    let (status, put) = s.api(Method::PUT, &catch_all, Some(edited.clone())).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(
        put["actions"]["entityRisk"]["actions"][0]["workflow"]["id"],
        77
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
            "riskDetectionTypes": {"include": ["SECURITY_EVENTS_PROVIDER_REPORTED_RISK"]},
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
    let mut ok = rule_body("Workflow for executives", None);
    ok["conditions"]["people"]["groups"]["include"] = json!([gid]);
    ok["conditions"]["people"]["users"]["exclude"] = json!([uid]);
    ok["actions"] =
        json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": "123"}}]}});
    let (status, r) = s.api(Method::POST, RULES, Some(ok)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        r["actions"],
        json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": 123}}]}})
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
    let mut exec = rule_body("Executives", None);
    exec["conditions"]["people"]["groups"]["include"] = json!([gid]);
    exec["actions"] =
        json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": 9}}]}});
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
    assert_eq!(hit.action, RuleAction::RunWorkflow { workflow_id: 9 });
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

crate::on_both_engines!(
    concurrent_creates_stay_contiguous,
    named_references_cannot_be_removed,
    policy_and_catch_all,
    priorities_shift,
    lifecycle_and_log_events,
    validation,
    read_only_tokens_cannot_write,
    receiver_functions,
);
