//! Which rule applies to a risk change: pure functions, no storage.

use super::{Conditions, DetectionCondition, IncludeExclude, LevelCondition, Rule, RuleStatus};
use crate::set::RiskLevel;

/// What the policy is evaluated against.
#[derive(Clone, Copy, Debug)]
pub struct EvalInput<'a> {
    pub user_id: &'a str,
    /// The ids of the groups the user is in.
    pub group_ids: &'a [String],
    /// The detection, e.g. `SECURITY_EVENTS_PROVIDER_REPORTED_RISK`.
    pub detection: &'a str,
    /// The user's new entity risk level.
    pub level: RiskLevel,
}

/// The first active rule, in priority order, whose conditions all hold.
/// The Catch-all rule matches everything, so with it present the answer is
/// always `Some`.
pub fn evaluate<'r>(rules: &'r [Rule], input: &EvalInput) -> Option<&'r Rule> {
    let mut ordered: Vec<&Rule> = rules.iter().collect();
    // Stable: rules of equal priority keep the caller's order.
    ordered.sort_by_key(|r| r.priority);
    ordered
        .into_iter()
        .filter(|r| r.status == RuleStatus::Active)
        .find(|r| rule_matches(r, input))
}

/// Whether `rule`'s conditions hold for `input` (its status is not looked at).
pub fn rule_matches(rule: &Rule, input: &EvalInput) -> bool {
    match &rule.conditions {
        None => true,
        Some(c) => conditions_hold(c, input),
    }
}

fn conditions_hold(c: &Conditions, input: &EvalInput) -> bool {
    level_matches(c.level, input.level)
        && people_match(&c.groups, |id| input.group_ids.iter().any(|g| g == id))
        && people_match(&c.users, |id| id == input.user_id)
        && match &c.detections {
            DetectionCondition::Any => true,
            DetectionCondition::Include(list) => list.iter().any(|d| d == input.detection),
            DetectionCondition::Exclude(list) => !list.iter().any(|d| d == input.detection),
        }
}

fn level_matches(condition: LevelCondition, level: RiskLevel) -> bool {
    match condition {
        LevelCondition::Any => true,
        LevelCondition::Low => level == RiskLevel::Low,
        LevelCondition::Medium => level == RiskLevel::Medium,
        LevelCondition::High => level == RiskLevel::High,
    }
}

/// An empty include list admits everyone; an exclude list refuses its members.
fn people_match(ie: &IncludeExclude, holds: impl Fn(&str) -> bool) -> bool {
    (ie.include.is_empty() || ie.include.iter().any(|id| holds(id)))
        && !ie.exclude.iter().any(|id| holds(id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::{RuleAction, CATCH_ALL_RULE_ID, ENTITY_RISK_POLICY_ID};
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn rule(id: &str, priority: i64, conditions: Option<Conditions>) -> Rule {
        Rule {
            id: id.into(),
            policy_id: ENTITY_RISK_POLICY_ID.into(),
            name: id.into(),
            priority,
            status: RuleStatus::Active,
            system: false,
            conditions,
            action: RuleAction::None,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn catch_all() -> Rule {
        Rule {
            system: true,
            ..rule(CATCH_ALL_RULE_ID, 99, None)
        }
    }

    fn cond(level: LevelCondition) -> Conditions {
        Conditions {
            groups: IncludeExclude::default(),
            users: IncludeExclude::default(),
            detections: DetectionCondition::Any,
            level,
        }
    }

    const PROVIDER: &str = "SECURITY_EVENTS_PROVIDER_REPORTED_RISK";
    const ADMIN: &str = "ADMIN_REPORTED_USER_RISK";

    struct Case {
        name: &'static str,
        rules: Vec<Rule>,
        user: &'static str,
        groups: &'static [&'static str],
        detection: &'static str,
        level: RiskLevel,
        want: &'static str,
    }

    fn case(name: &'static str, rules: Vec<Rule>, want: &'static str) -> Case {
        Case {
            name,
            rules,
            user: "00ua",
            groups: &["00g1", "00g2"],
            detection: PROVIDER,
            level: RiskLevel::High,
            want,
        }
    }

    #[test]
    fn table() {
        let any = |id: &str, p| rule(id, p, Some(cond(LevelCondition::Any)));
        let with = |id: &str, p, f: &dyn Fn(&mut Conditions)| {
            let mut c = cond(LevelCondition::Any);
            f(&mut c);
            rule(id, p, Some(c))
        };
        let inactive = |mut r: Rule| {
            r.status = RuleStatus::Inactive;
            r
        };
        let cases = vec![
            case("only the catch-all", vec![catch_all()], CATCH_ALL_RULE_ID),
            case(
                "first match wins",
                vec![any("a", 1), any("b", 2), catch_all()],
                "a",
            ),
            case(
                "priority order, not slice order",
                vec![catch_all(), any("b", 2), any("a", 1)],
                "a",
            ),
            case(
                "catch-all is last even when listed first",
                vec![catch_all(), any("x", 5)],
                "x",
            ),
            case(
                "inactive rules are skipped",
                vec![inactive(any("a", 1)), any("b", 2), catch_all()],
                "b",
            ),
            case(
                "a rule without conditions matches",
                vec![rule("n", 1, None), catch_all()],
                "n",
            ),
            // Levels.
            case(
                "HIGH matches HIGH",
                vec![rule("h", 1, Some(cond(LevelCondition::High))), catch_all()],
                "h",
            ),
            case(
                "MEDIUM does not match HIGH",
                vec![
                    rule("m", 1, Some(cond(LevelCondition::Medium))),
                    catch_all(),
                ],
                CATCH_ALL_RULE_ID,
            ),
            case(
                "LOW does not match HIGH (exact, not a threshold)",
                vec![rule("l", 1, Some(cond(LevelCondition::Low))), catch_all()],
                CATCH_ALL_RULE_ID,
            ),
            Case {
                level: RiskLevel::Medium,
                ..case(
                    "MEDIUM matches MEDIUM",
                    vec![
                        rule("h", 1, Some(cond(LevelCondition::High))),
                        rule("m", 2, Some(cond(LevelCondition::Medium))),
                        catch_all(),
                    ],
                    "m",
                )
            },
            Case {
                level: RiskLevel::Low,
                ..case(
                    "LOW matches LOW",
                    vec![
                        rule("m", 1, Some(cond(LevelCondition::Medium))),
                        rule("l", 2, Some(cond(LevelCondition::Low))),
                        catch_all(),
                    ],
                    "l",
                )
            },
            Case {
                level: RiskLevel::Low,
                ..case("ANY matches LOW", vec![any("a", 1), catch_all()], "a")
            },
            Case {
                level: RiskLevel::None,
                ..case(
                    "a NONE user matches only ANY",
                    vec![
                        rule("l", 1, Some(cond(LevelCondition::Low))),
                        rule("m", 2, Some(cond(LevelCondition::Medium))),
                        rule("h", 3, Some(cond(LevelCondition::High))),
                        any("a", 4),
                        catch_all(),
                    ],
                    "a",
                )
            },
            Case {
                level: RiskLevel::None,
                ..case(
                    "a NONE user falls to the catch-all",
                    vec![rule("h", 1, Some(cond(LevelCondition::High))), catch_all()],
                    CATCH_ALL_RULE_ID,
                )
            },
            // Groups.
            case(
                "group include: in one of them",
                vec![
                    with("g", 1, &|c| c.groups.include = ids(&["00g9", "00g2"])),
                    catch_all(),
                ],
                "g",
            ),
            case(
                "group include: in none of them",
                vec![
                    with("g", 1, &|c| c.groups.include = ids(&["00g9"])),
                    catch_all(),
                ],
                CATCH_ALL_RULE_ID,
            ),
            case(
                "group exclude: in it",
                vec![
                    with("g", 1, &|c| c.groups.exclude = ids(&["00g1"])),
                    catch_all(),
                ],
                CATCH_ALL_RULE_ID,
            ),
            case(
                "group exclude: not in it",
                vec![
                    with("g", 1, &|c| c.groups.exclude = ids(&["00g9"])),
                    catch_all(),
                ],
                "g",
            ),
            case(
                "group include and exclude: exclude wins",
                vec![
                    with("g", 1, &|c| {
                        c.groups.include = ids(&["00g1"]);
                        c.groups.exclude = ids(&["00g2"]);
                    }),
                    catch_all(),
                ],
                CATCH_ALL_RULE_ID,
            ),
            Case {
                groups: &[],
                ..case(
                    "group include: a user in no group",
                    vec![
                        with("g", 1, &|c| c.groups.include = ids(&["00g1"])),
                        catch_all(),
                    ],
                    CATCH_ALL_RULE_ID,
                )
            },
            Case {
                groups: &[],
                ..case(
                    "group exclude: a user in no group",
                    vec![
                        with("g", 1, &|c| c.groups.exclude = ids(&["00g1"])),
                        catch_all(),
                    ],
                    "g",
                )
            },
            // Users.
            case(
                "user include: listed",
                vec![
                    with("u", 1, &|c| c.users.include = ids(&["00ub", "00ua"])),
                    catch_all(),
                ],
                "u",
            ),
            case(
                "user include: not listed",
                vec![
                    with("u", 1, &|c| c.users.include = ids(&["00ub"])),
                    catch_all(),
                ],
                CATCH_ALL_RULE_ID,
            ),
            case(
                "user exclude: listed",
                vec![
                    with("u", 1, &|c| c.users.exclude = ids(&["00ua"])),
                    catch_all(),
                ],
                CATCH_ALL_RULE_ID,
            ),
            case(
                "user exclude: not listed",
                vec![
                    with("u", 1, &|c| c.users.exclude = ids(&["00ub"])),
                    catch_all(),
                ],
                "u",
            ),
            case(
                "users and groups must both hold",
                vec![
                    with("ug", 1, &|c| {
                        c.users.include = ids(&["00ua"]);
                        c.groups.include = ids(&["00g9"]);
                    }),
                    catch_all(),
                ],
                CATCH_ALL_RULE_ID,
            ),
            // Detections.
            case(
                "detection include: listed",
                vec![
                    with("d", 1, &|c| {
                        c.detections = DetectionCondition::Include(ids(&[ADMIN, PROVIDER]))
                    }),
                    catch_all(),
                ],
                "d",
            ),
            case(
                "detection include: not listed",
                vec![
                    with("d", 1, &|c| {
                        c.detections = DetectionCondition::Include(ids(&[ADMIN]))
                    }),
                    catch_all(),
                ],
                CATCH_ALL_RULE_ID,
            ),
            case(
                "detection exclude: listed",
                vec![
                    with("d", 1, &|c| {
                        c.detections = DetectionCondition::Exclude(ids(&[PROVIDER]))
                    }),
                    catch_all(),
                ],
                CATCH_ALL_RULE_ID,
            ),
            case(
                "detection exclude: not listed",
                vec![
                    with("d", 1, &|c| {
                        c.detections = DetectionCondition::Exclude(ids(&[ADMIN]))
                    }),
                    catch_all(),
                ],
                "d",
            ),
            Case {
                detection: ADMIN,
                ..case(
                    "admin-reported detection",
                    vec![
                        with("p", 1, &|c| {
                            c.detections = DetectionCondition::Include(ids(&[PROVIDER]))
                        }),
                        with("a", 2, &|c| {
                            c.detections = DetectionCondition::Include(ids(&[ADMIN]))
                        }),
                        catch_all(),
                    ],
                    "a",
                )
            },
            // Everything at once.
            case(
                "all conditions hold",
                vec![
                    with("all", 1, &|c| {
                        c.level = LevelCondition::High;
                        c.groups.include = ids(&["00g2"]);
                        c.users.exclude = ids(&["00uz"]);
                        c.detections = DetectionCondition::Include(ids(&[PROVIDER]));
                    }),
                    catch_all(),
                ],
                "all",
            ),
        ];
        for c in cases {
            let groups = ids(c.groups);
            let input = EvalInput {
                user_id: c.user,
                group_ids: &groups,
                detection: c.detection,
                level: c.level,
            };
            let got = evaluate(&c.rules, &input).map(|r| r.id.as_str());
            assert_eq!(got, Some(c.want), "{}", c.name);
        }
    }

    #[test]
    fn nothing_matches_without_a_catch_all() {
        let rules = vec![rule("h", 1, Some(cond(LevelCondition::High)))];
        let input = EvalInput {
            user_id: "u",
            group_ids: &[],
            detection: PROVIDER,
            level: RiskLevel::Low,
        };
        assert!(evaluate(&rules, &input).is_none());
        assert!(evaluate(&[], &input).is_none());
        // An inactive catch-all (which the store never allows) matches nothing.
        let mut off = catch_all();
        off.status = RuleStatus::Inactive;
        assert!(evaluate(std::slice::from_ref(&off), &input).is_none());
        assert!(rule_matches(&off, &input));
    }
}
