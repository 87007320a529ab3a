use super::*;

fn answered(status: u16, body: &str) -> Exchange {
    Exchange::Answered { status, body: body.as_bytes().to_vec() }
}

fn outcome(exchange: &Exchange, expect: Expect) -> Answer {
    classify(exchange, expect).answer
}

#[test]
fn a_2xx_with_a_balance_is_ok_with_it_and_null_is_missing() {
    assert_eq!(
        outcome(&answered(200, r#"{"balance": 1234}"#), Expect::Balance),
        Ok(Some(Observed::Balance(1234)))
    );
    assert_eq!(
        outcome(&answered(201, r#"{"balance": null}"#), Expect::Balance),
        Ok(Some(Observed::Missing))
    );
    assert_eq!(outcome(&answered(200, "{}"), Expect::MaybeBalance), Ok(None));
    assert_eq!(outcome(&answered(204, ""), Expect::Anything), Ok(None));
}

#[test]
fn an_error_body_decides_by_definite_whatever_the_status() {
    let definite =
        r#"{"error": {"code": "store-unavailable", "definite": true, "text": "READONLY"}}"#;
    let unsure = r#"{"error": {"code": "timeout", "definite": false, "text": "redis timed out"}}"#;
    assert_eq!(
        outcome(&answered(503, definite), Expect::Balance),
        Err(OpError::Refused("store-unavailable: READONLY (503)".into()))
    );
    assert_eq!(
        outcome(&answered(409, unsure), Expect::Balance),
        Err(OpError::Indeterminate("timeout: redis timed out (409)".into()))
    );
    let c = classify(&answered(200, unsure), Expect::Balance);
    assert!(matches!(c.answer, Err(OpError::Indeterminate(_))), "{c:?}");
    assert_eq!(c.violation, None);
}

#[test]
fn without_an_error_body_4xx_fails_and_5xx_is_unknown() {
    assert!(
        matches!(outcome(&answered(404, "not found"), Expect::Balance), Err(OpError::Refused(t)) if t == "answered 404: not found")
    );
    assert!(
        matches!(outcome(&answered(500, ""), Expect::Balance), Err(OpError::Indeterminate(t)) if t == "answered 500: an empty body")
    );
    assert!(matches!(
        outcome(&answered(302, "moved"), Expect::Balance),
        Err(OpError::Indeterminate(_))
    ));
}

#[test]
fn a_2xx_with_garbage_is_unknown_with_its_text_and_a_violation() {
    for (body, why) in [
        ("OK", "not JSON"),
        (r#"{"bal": 3}"#, "no `balance`"),
        (r#"{"balance": "12"}"#, "not an integer"),
        (r#"{"balance": 1.5}"#, "not an integer"),
    ] {
        let c = classify(&answered(200, body), Expect::Balance);
        match &c.answer {
            Err(OpError::Indeterminate(text)) => assert!(text.contains(body), "{text}"),
            other => panic!("{body}: {other:?}"),
        }
        assert!(c.violation.as_deref().is_some_and(|v| v.contains(why)), "{body}: {c:?}");
    }
}

#[test]
fn an_error_body_without_definite_falls_back_to_the_status_and_is_a_violation() {
    let c = classify(&answered(400, r#"{"error": {"text": "no such account"}}"#), Expect::Balance);
    assert_eq!(c.answer, Err(OpError::Refused("no such account (400)".into())));
    assert!(c.violation.is_some());
    let c = classify(&answered(500, r#"{"error": "boom"}"#), Expect::Balance);
    assert!(matches!(c.answer, Err(OpError::Indeterminate(_))));
    assert!(c.violation.is_some());
}

#[test]
fn refused_fails_and_lost_is_unknown() {
    assert_eq!(
        outcome(&Exchange::Refused("connection refused".into()), Expect::Balance),
        Err(OpError::Refused("connection refused".into()))
    );
    assert_eq!(
        outcome(&Exchange::Lost("reset".into()), Expect::Balance),
        Err(OpError::Indeterminate("reset".into()))
    );
}

#[test]
fn a_long_answer_is_cut_on_a_character_boundary() {
    let body = "é".repeat(600);
    match outcome(&answered(500, &body), Expect::Balance) {
        Err(OpError::Indeterminate(text)) => assert!(text.len() < 600 && text.ends_with('…')),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_declared_layout_is_read_and_a_bad_one_is_explained() {
    let body = br#"{"balance_key": "acct:{account}", "ledger_balance": "SELECT id, b FROM w WHERE id = ANY($1)",
        "suspended": "SELECT id, f FROM w WHERE id = ANY($1)", "credited": "SELECT w, c FROM c WHERE w = ANY($1)"}"#;
    let layout = parse_layout(body).unwrap();
    assert_eq!(layout.balance_key(7).as_deref(), Some("acct:7"));
    assert_eq!(layout.entries, None);
    let ledger_only = br#"{"balance_key": null, "ledger_balance": "SELECT id, b FROM w WHERE id = ANY($1)",
        "suspended": "SELECT id, f FROM w WHERE id = ANY($1)", "credited": "SELECT w, c FROM c WHERE w = ANY($1)"}"#;
    assert_eq!(parse_layout(ledger_only).unwrap(), Layout { balance_key: None, ..layout });
    let e = parse_layout(br#"{"balance_key": "x"}"#).unwrap_err();
    assert!(e.contains("section 6"), "{e}");
}

#[test]
fn a_null_error_is_no_error() {
    let c = classify(&answered(200, r#"{"balance": 5, "error": null}"#), Expect::Balance);
    assert_eq!(c, Classified { answer: Ok(Some(Observed::Balance(5))), violation: None });
}
