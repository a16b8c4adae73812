//! The fake CodeSignal server itself, over raw HTTP: it must behave like a real GraphQL server
//! for valid requests, refuse invalid ones the way one would, and inject each fault as specified,
//! or the client's tests against it prove nothing.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fake_codesignal::{
    EVIL_SUFFIX, FakeCodeSignal, FakeConfig, Fault, Op, Received, Session,
};

const CREATE: &str = "mutation Create($fields: LiveInterviewInput) {
  createLiveInterview(interviewFields: $fields) { id url shortenedUrl status candidateEmail candidateName }
}";

const FIND: &str = "query Find($email: String, $first: Int, $offset: Int) {
  liveInterviews(candidateEmail: $email, first: $first, offset: $offset) { id status candidateEmail }
}";

async fn start() -> FakeCodeSignal {
    FakeCodeSignal::start(FakeConfig::default()).await
}

fn client(timeout: Duration) -> reqwest::Client {
    support::http().timeout(timeout).build().unwrap()
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn post_with(
    fake: &FakeCodeSignal,
    key: Option<&str>,
    query: &str,
    variables: Value,
) -> Result<Answer, reqwest::Error> {
    let mut request = client(Duration::from_secs(5))
        .post(fake.endpoint())
        .json(&json!({"query": query, "variables": variables}));
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Answer {
        status,
        headers,
        body,
    })
}

async fn post(fake: &FakeCodeSignal, query: &str, variables: Value) -> Answer {
    post_with(fake, Some(fake.api_key()), query, variables)
        .await
        .unwrap()
}

fn fields(email: &str) -> Value {
    json!({"fields": {
        "candidateEmail": email,
        "candidateName": "Ada Lovelace",
        "interviewerId": "u-1",
        "templateId": "tpl-1",
        "lockTemplate": true,
        "expirationTime": 7_200_000,
    }})
}

async fn create(fake: &FakeCodeSignal, email: &str) -> Value {
    let answer = post(fake, CREATE, fields(email)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["data"]["createLiveInterview"].clone()
}

fn last(fake: &FakeCodeSignal) -> Received {
    fake.received().pop().expect("a request was recorded")
}

#[test]
fn the_schema_copy_is_byte_identical_to_the_shared_one() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = dir.join("../shared/codesignal/schema.graphql");
    let Ok(original) = std::fs::read(&shared) else {
        eprintln!(
            "NOTICE: {} does not exist here; the schema copy in tests/support was not compared",
            shared.display()
        );
        return;
    };
    let copy = std::fs::read(dir.join("tests/support/codesignal.graphql")).unwrap();
    assert!(
        copy == original,
        "tests/support/codesignal.graphql differs from {}: copy it again",
        shared.display()
    );
}

#[tokio::test]
async fn a_valid_create_makes_a_session_and_is_recorded() {
    let fake = start().await;
    let made = create(&fake, "ada@example.org").await;
    assert_eq!(made["id"], "li-1");
    assert_eq!(
        made["url"],
        "https://app.codesignal.com/live-interview/li-1"
    );
    assert!(
        made["shortenedUrl"]
            .as_str()
            .unwrap()
            .starts_with("https://codesignal.co/")
    );
    assert_eq!(made["status"], "pending");
    assert_eq!(made["candidateEmail"], "ada@example.org");
    // Only the selected fields come back.
    assert_eq!(made.as_object().unwrap().len(), 6, "{made}");

    assert_eq!(fake.creates(), 1);
    let sessions = fake.sessions();
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(s.candidate_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(s.interviewer_id.as_deref(), Some("u-1"));
    assert_eq!(s.template_id.as_deref(), Some("tpl-1"));
    assert_eq!(s.lock_template, Some(true));
    assert_eq!(s.expiration_time_ms, Some(7_200_000));
    assert_eq!(made["shortenedUrl"], s.shortened_url.as_str());
    assert!(s.created_at_ms > 1_600_000_000_000);

    let r = last(&fake);
    assert_eq!(r.op, Op::Create);
    assert_eq!(r.field, "createLiveInterview");
    assert_eq!((r.status, r.authorized), (200, true));
    assert_eq!(r.variables, fields("ada@example.org"));
    // The argument as the server saw it, variable substituted.
    assert_eq!(
        r.arguments,
        json!({"interviewFields": fields("ada@example.org")["fields"]})
    );
}

#[tokio::test]
async fn aliases_typename_fragments_and_literal_arguments_work() {
    let fake = start().await;
    let answer = post(
        &fake,
        r#"mutation { made: createLiveInterview(interviewFields: {candidateEmail: "b@example.org"}) {
             __typename ...F company { id alias name } } }
           fragment F on LiveInterview { link: url }"#,
        Value::Null,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let made = &answer.body["data"]["made"];
    assert_eq!(made["__typename"], "LiveInterview");
    assert_eq!(
        made["link"],
        "https://app.codesignal.com/live-interview/li-1"
    );
    assert_eq!(made["company"]["alias"], "acme");
    let r = last(&fake);
    assert_eq!(
        r.arguments,
        json!({"interviewFields": {"candidateEmail": "b@example.org"}})
    );
    assert_eq!(r.variables, Value::Null);
}

#[tokio::test]
async fn look_up_edit_and_delete_work_on_created_and_seeded_sessions() {
    let fake = start().await;
    fake.seed_session(Session {
        id: "li-old".into(),
        candidate_email: Some("ada@example.org".into()),
        candidate_name: None,
        interviewer_id: None,
        template_id: None,
        lock_template: None,
        expiration_time_ms: None,
        status: "pending".into(),
        url: "https://app.codesignal.com/live-interview/li-old".into(),
        shortened_url: "https://codesignal.co/old".into(),
        created_at_ms: 0,
    });
    create(&fake, "ada@example.org").await;
    create(&fake, "bob@example.org").await;
    create(&fake, "ada@example.org").await;
    assert_eq!(fake.creates(), 3, "a seeded session is not a create");

    let ids = |answer: &Answer| -> Vec<String> {
        answer.body["data"]["liveInterviews"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", answer.body))
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = post(&fake, FIND, json!({"email": "ada@example.org"})).await;
    assert_eq!(
        ids(&all),
        ["li-old", "li-1", "li-3"],
        "filtered, newest last"
    );
    let page = post(
        &fake,
        FIND,
        json!({"email": "ada@example.org", "first": 1, "offset": 1}),
    )
    .await;
    assert_eq!(ids(&page), ["li-1"]);
    assert_eq!(last(&fake).op, Op::Query);
    let everyone = post(&fake, FIND, json!({})).await;
    assert_eq!(ids(&everyone).len(), 4);

    let one = post(
        &fake,
        r#"{ liveInterview(liveInterviewId: "li-2") { candidateEmail } }"#,
        Value::Null,
    )
    .await;
    assert_eq!(
        one.body,
        json!({"data": {"liveInterview": {"candidateEmail": "bob@example.org"}}})
    );
    let none = post(
        &fake,
        r#"{ liveInterview(liveInterviewId: "li-99") { id } }"#,
        Value::Null,
    )
    .await;
    assert_eq!(none.body, json!({"data": {"liveInterview": null}}));

    let edit = post(
        &fake,
        "mutation($id: ID!, $f: LiveInterviewInput!) { editLiveInterview(id: $id, interviewFields: $f) { id } }",
        json!({"id": "li-1", "f": {"expirationTime": 1_209_600_000}}),
    )
    .await;
    assert_eq!(edit.body["data"]["editLiveInterview"]["id"], "li-1");
    assert_eq!(last(&fake).op, Op::Edit);
    let li1 = fake
        .sessions()
        .into_iter()
        .find(|s| s.id == "li-1")
        .unwrap();
    assert_eq!(li1.expiration_time_ms, Some(1_209_600_000));
    assert_eq!(
        li1.candidate_name.as_deref(),
        Some("Ada Lovelace"),
        "absent fields are kept"
    );

    let delete = post(
        &fake,
        r#"mutation { deleteLiveInterview(id: "li-old") }"#,
        Value::Null,
    )
    .await;
    assert_eq!(
        delete.body,
        json!({"data": {"deleteLiveInterview": "li-old"}})
    );
    assert_eq!(last(&fake).op, Op::Delete);
    let old = fake
        .sessions()
        .into_iter()
        .find(|s| s.id == "li-old")
        .unwrap();
    assert_eq!(old.status, "deleted");
    let missing = post(
        &fake,
        r#"mutation { deleteLiveInterview(id: "li-99") }"#,
        Value::Null,
    )
    .await;
    // `ID!`: the error nulls the whole data.
    assert_eq!(missing.body["data"], Value::Null);
    assert!(
        missing.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not found")
    );
}

#[tokio::test]
async fn expiration_time_is_held_to_1_to_336_hours_inclusive() {
    let fake = start().await;
    for ms in [3_600_000, 1_209_600_000] {
        let answer = post(&fake, CREATE, json!({"fields": {"expirationTime": ms}})).await;
        assert!(
            answer.body["data"]["createLiveInterview"]["id"].is_string(),
            "{}",
            answer.body
        );
    }
    for ms in [3_599_999, 1_209_600_001, 0, -1] {
        let answer = post(&fake, CREATE, json!({"fields": {"expirationTime": ms}})).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["data"], json!({"createLiveInterview": null}));
        assert_eq!(
            answer.body["errors"][0]["message"],
            "expirationTime must be between 1 and 336 hours"
        );
        assert_eq!(
            answer.body["errors"][0]["path"],
            json!(["createLiveInterview"])
        );
    }
    assert_eq!(fake.creates(), 2);
    // Past a GraphQL Int (32 bits): refused before execution.
    let answer = post(
        &fake,
        CREATE,
        json!({"fields": {"expirationTime": 3_000_000_000i64}}),
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(fake.creates(), 2);
}

#[tokio::test]
async fn invalid_requests_get_graphql_validation_errors_and_execute_nothing() {
    let fake = start().await;
    let cases: [(&str, &str, Value, &str); 7] = [
        (
            "unknown field",
            "mutation { createLiveInterview { id interviewerUrl } }",
            Value::Null,
            "interviewerUrl",
        ),
        (
            "wrong argument type",
            r#"{ liveInterviews(first: "ten") { id } }"#,
            Value::Null,
            "Int",
        ),
        (
            "wrong variable type",
            "query($email: Int) { liveInterviews(candidateEmail: $email) { id } }",
            json!({"email": 1}),
            "email",
        ),
        (
            "a String passed for an Int variable",
            FIND,
            json!({"first": "10"}),
            "first",
        ),
        (
            "missing required argument",
            "{ liveInterview { id } }",
            Value::Null,
            "liveInterviewId",
        ),
        (
            "unknown input field",
            CREATE,
            json!({"fields": {"candidateMail": "a@example.org"}}),
            "candidateMail",
        ),
        (
            "syntax error",
            "mutation { createLiveInterview(",
            Value::Null,
            "",
        ),
    ];
    for (what, query, variables, mentions) in cases {
        let answer = post(&fake, query, variables).await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        assert!(answer.body.get("data").is_none(), "{what}: {}", answer.body);
        let errors = answer.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}"));
        assert!(!errors.is_empty(), "{what}");
        let messages: Vec<&str> = errors
            .iter()
            .map(|e| e["message"].as_str().unwrap())
            .collect();
        assert!(
            messages.iter().any(|m| m.contains(mentions)),
            "{what}: {messages:?}"
        );
        assert!(
            errors.iter().all(|e| e["extensions"]["code"].is_string()),
            "{what}"
        );
        let r = last(&fake);
        assert_eq!((r.status, r.authorized), (400, true), "{what}");
    }
    let r = fake.received();
    assert_eq!(r.len(), 7);
    assert_eq!(
        r[0].op,
        Op::Create,
        "classified from the syntax even when invalid"
    );
    assert_eq!(fake.creates(), 0);
    assert!(fake.sessions().is_empty());
}

#[tokio::test]
async fn a_wrong_or_missing_key_gets_401_and_is_recorded() {
    let fake = start().await;
    let key = fake.api_key().to_owned();
    for sent in [
        Some("wrong-key-9876543210".to_owned()),
        Some(format!(" {key}")),
        Some(format!("{key}x")),
        None,
    ] {
        let answer = post_with(&fake, sent.as_deref(), CREATE, fields("a@example.org"))
            .await
            .unwrap();
        assert_eq!(answer.status, 401, "{sent:?}");
        assert_eq!(
            answer.body,
            json!({"errors": [{"message": "Unauthorized"}]})
        );
        let r = last(&fake);
        assert_eq!((r.op, r.authorized, r.status), (Op::Create, false, 401));
    }
    // Not `Bearer`: refused as well.
    let answer = client(Duration::from_secs(5))
        .post(fake.endpoint())
        .header("Authorization", format!("Token {key}"))
        .json(&json!({"query": CREATE}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(fake.creates(), 0);
    assert_eq!(fake.received().len(), 5);
}

#[tokio::test]
async fn only_json_posts_to_graphql_are_served() {
    let fake = start().await;
    let http = client(Duration::from_secs(5));
    let base = fake.endpoint().replace("/graphql", "");
    let get = http.get(fake.endpoint()).send().await.unwrap();
    assert_eq!(get.status(), 405);
    let elsewhere = http.post(format!("{base}/other")).send().await.unwrap();
    assert_eq!(elsewhere.status(), 404);
    let text = http
        .post(fake.endpoint())
        .header("Authorization", format!("Bearer {}", fake.api_key()))
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    let not_json = http
        .post(fake.endpoint())
        .header("Authorization", format!("Bearer {}", fake.api_key()))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let too_big = http
        .post(fake.endpoint())
        .header("Authorization", format!("Bearer {}", fake.api_key()))
        .header("Content-Type", "application/json")
        .body(vec![b' '; 2 << 20])
        .send()
        .await;
    // Either the 413 arrives or the server stops reading mid-body; nothing is executed.
    if let Ok(r) = too_big {
        assert_eq!(r.status(), 413);
    }
    let statuses: Vec<u16> = fake.received().iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..4], [405, 404, 415, 400]);
    assert!(fake.received().iter().all(|r| r.op == Op::Any));
}

#[tokio::test]
async fn faults_are_taken_in_order_by_the_first_matching_request() {
    let fake = start().await;
    fake.push_fault(Op::Create, Fault::Status(503));
    fake.push_fault(Op::Create, Fault::Status(503));
    fake.push_fault(Op::Any, Fault::Status(500));
    // A query takes the first fault it matches: the `Any` one, not the creates' 503s.
    let q = post(&fake, FIND, json!({})).await;
    assert_eq!(q.status, 500);
    assert_eq!(fake.pending_faults(), 2);
    // An invalid or unauthorized create takes no fault.
    assert_eq!(
        post(
            &fake,
            "mutation { createLiveInterview { nope } }",
            Value::Null
        )
        .await
        .status,
        400
    );
    let refused = post_with(
        &fake,
        Some("wrong-key-9876543210"),
        CREATE,
        fields("a@example.org"),
    )
    .await
    .unwrap();
    assert_eq!(refused.status, 401);
    assert_eq!(fake.pending_faults(), 2);
    // N x 503, then served.
    for _ in 0..2 {
        let answer = post(&fake, CREATE, fields("a@example.org")).await;
        assert_eq!(answer.status, 503);
        assert_eq!(answer.body, "Service Unavailable");
    }
    assert_eq!(fake.creates(), 0, "a 503 executes nothing");
    create(&fake, "a@example.org").await;
    assert_eq!(fake.creates(), 1);
    let statuses: Vec<u16> = fake.received().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 400, 401, 503, 503, 200]);
}

#[tokio::test]
async fn latency_applies_to_every_request_or_to_one() {
    let fake = FakeCodeSignal::start(FakeConfig {
        latency: Duration::from_millis(150),
        ..FakeConfig::default()
    })
    .await;
    let t = Instant::now();
    create(&fake, "a@example.org").await;
    assert!(t.elapsed() >= Duration::from_millis(150));
    fake.set_latency(Duration::ZERO);
    fake.push_fault(Op::Create, Fault::Latency(Duration::from_millis(200)));
    let t = Instant::now();
    create(&fake, "a@example.org").await;
    assert!(t.elapsed() >= Duration::from_millis(200));
    let t = Instant::now();
    create(&fake, "a@example.org").await;
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "the fault was for one request"
    );
    assert_eq!(fake.creates(), 3);
}

#[tokio::test]
async fn rate_limits_come_as_429_with_retry_after_or_as_a_graphql_error() {
    let fake = start().await;
    fake.push_fault(
        Op::Create,
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
    );
    fake.push_fault(Op::Query, Fault::GraphQlRateLimit);
    let answer = post(&fake, CREATE, fields("a@example.org")).await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.headers.get("retry-after").unwrap(), "7");
    let answer = post(&fake, FIND, json!({})).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({"data": null, "errors": [{
            "message": "Rate limit exceeded",
            "extensions": {"code": "RATE_LIMITED"},
        }]})
    );
    assert_eq!(fake.creates(), 0);
}

#[tokio::test]
async fn access_denied_and_unauthorized_execute_nothing() {
    let fake = start().await;
    fake.push_fault(Op::Create, Fault::AccessDenied);
    fake.push_fault(Op::Query, Fault::AccessDenied);
    fake.push_fault(Op::Create, Fault::Unauthorized);
    let answer = post(&fake, CREATE, fields("a@example.org")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({"data": {"createLiveInterview": null},
               "errors": [{"message": "Access Denied", "path": ["createLiveInterview"]}]})
    );
    // `liveInterviews` is non-null, so the whole data is null.
    let answer = post(&fake, FIND, json!({})).await;
    assert_eq!(answer.body["data"], Value::Null);
    assert_eq!(answer.body["errors"][0]["message"], "Access Denied");
    let answer = post(&fake, CREATE, fields("a@example.org")).await;
    assert_eq!(answer.status, 401);
    let r = last(&fake);
    assert!(r.authorized, "the key was right; the fault said 401");
    assert_eq!(fake.creates(), 0);
}

#[tokio::test]
async fn a_hang_never_answers_and_executes_nothing() {
    let fake = start().await;
    fake.push_fault(Op::Create, Fault::Hang);
    let t = Instant::now();
    let err = client(Duration::from_millis(300))
        .post(fake.endpoint())
        .header("Authorization", format!("Bearer {}", fake.api_key()))
        .json(&json!({"query": CREATE, "variables": fields("a@example.org")}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.creates(), 0);
    assert_eq!(last(&fake).status, 0, "recorded as unanswered");
    // The server still serves others meanwhile.
    create(&fake, "a@example.org").await;
}

#[tokio::test]
async fn a_lost_reply_closes_the_connection_after_creating_the_session() {
    let fake = start().await;
    fake.push_fault(Op::Create, Fault::LoseReply);
    let err = post_with(&fake, Some(fake.api_key()), CREATE, fields("a@example.org"))
        .await
        .map(|a| a.status)
        .unwrap_err();
    assert!(!err.is_timeout() && !err.is_connect(), "{err:?}");
    assert!(err.is_request(), "{err:?}");
    assert_eq!(fake.creates(), 1, "executed");
    assert_eq!(
        fake.sessions()[0].candidate_email.as_deref(),
        Some("a@example.org")
    );
    assert_eq!(last(&fake).status, 0);
}

#[tokio::test]
async fn a_late_reply_outlives_the_timeout_after_creating_the_session() {
    let fake = start().await;
    fake.push_fault(Op::Create, Fault::LoseReplyAfter(Duration::from_secs(2)));
    let err = client(Duration::from_millis(300))
        .post(fake.endpoint())
        .header("Authorization", format!("Bearer {}", fake.api_key()))
        .json(&json!({"query": CREATE, "variables": fields("a@example.org")}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(fake.creates(), 1);
    assert_eq!(last(&fake).status, 200);
    // With patience, the reply does come.
    fake.push_fault(
        Op::Create,
        Fault::LoseReplyAfter(Duration::from_millis(300)),
    );
    let t = Instant::now();
    let made = create(&fake, "b@example.org").await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(made["id"], "li-2");
}

#[tokio::test]
async fn an_evil_url_carries_crlf_in_the_reply_only() {
    let fake = start().await;
    fake.push_fault(Op::Create, Fault::EvilUrl);
    let made = create(&fake, "a@example.org").await;
    let session = &fake.sessions()[0];
    assert_eq!(made["url"], format!("{}{EVIL_SUFFIX}", session.url));
    assert_eq!(
        made["shortenedUrl"],
        format!("{}{EVIL_SUFFIX}", session.shortened_url)
    );
    assert!(
        made["url"]
            .as_str()
            .unwrap()
            .contains("\r\nATTENDEE:mailto:evil@example.com")
    );
    assert!(!session.url.contains('\r'));
    assert_eq!(fake.creates(), 1);
}

#[tokio::test]
async fn a_malformed_body_is_json_off_the_schema_after_executing() {
    let fake = start().await;
    fake.push_fault(Op::Create, Fault::MalformedBody);
    let answer = post(&fake, CREATE, fields("a@example.org")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({"data": {"createLiveInterview": {"id": 5}}})
    );
    assert_eq!(fake.creates(), 1);
}

#[tokio::test]
async fn dropping_the_fake_stops_it() {
    let fake = start().await;
    fake.push_fault(Op::Create, Fault::Hang);
    let endpoint = fake.endpoint();
    let hung = tokio::spawn({
        let http = client(Duration::from_secs(10));
        let key = fake.api_key().to_owned();
        async move {
            http.post(&endpoint)
                .header("Authorization", format!("Bearer {key}"))
                .json(&json!({"query": CREATE}))
                .send()
                .await
        }
    });
    while fake.received().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let endpoint = fake.endpoint();
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    // The hung connection is closed too, long before the client's own timeout.
    assert!(hung.await.unwrap().is_err());
    assert!(t.elapsed() < Duration::from_secs(5));
    let err = client(Duration::from_secs(2))
        .post(&endpoint)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}

#[tokio::test]
async fn huge_bodies_come_with_a_length_or_streamed_without_one() {
    for streamed in [false, true] {
        let fake = start().await;
        fake.push_fault(
            Op::Create,
            Fault::HugeBody {
                size: 2 << 20,
                streamed,
            },
        );
        let answer = post(&fake, CREATE, fields("a@example.org")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.headers.contains_key("content-length"),
            !streamed,
            "{:?}",
            answer.headers
        );
        let name = answer.body["data"]["createLiveInterview"]["candidateName"]
            .as_str()
            .unwrap();
        assert_eq!(name.len(), 2 << 20);
        assert_eq!(fake.creates(), 1, "executed");
    }
}
