//! The broker against a real store: rules that answer without asking, the first reply winning,
//! `always`, `reject` with feedback, withdrawal, and requests surviving a restart.

use super::*;
use crate::bus::BusOptions;
use crate::store::Store;

fn session(id: &str) -> SessionId {
    SessionId::parse(id).expect("a session id")
}

fn ask(permission: &str, pattern: &str) -> PermissionAsk {
    PermissionAsk {
        permission: permission.into(),
        patterns: vec![pattern.into()],
        always: vec!["*".into()],
        metadata: serde_json::Value::Null,
    }
}

/// Starts an ask of `read .env` (which the default rules leave to the user) in `session`, and
/// waits until it is pending.
async fn ask_env(
    broker: &Broker,
    bus: &Bus,
    rules: &Ruleset,
    session: &'static str,
) -> tokio::task::JoinHandle<Answer> {
    let (broker, bus, rules) = (broker.clone(), bus.clone(), rules.clone());
    let waiting = broker.clone();
    let asking = tokio::spawn(async move {
        broker
            .ask(
                &bus,
                &rules,
                &self::session(session),
                None,
                ask("read", ".env"),
                true,
            )
            .await
    });
    while waiting.list().is_empty() {
        tokio::task::yield_now().await;
    }
    asking
}

fn setup() -> (Broker, Bus, Store) {
    let store = Store::open_in_memory().expect("in-memory store");
    for id in ["ses_1", "ses_2"] {
        store
            .put_session(&crate::store::SessionRecord {
                id: id.into(),
                project_id: "p".into(),
                parent_id: None,
                directory: "/".into(),
                title: "t".into(),
                time_created: 0,
                time_updated: 0,
                data: "{}".into(),
            })
            .expect("a session row");
    }
    (
        Broker::restore(Journal::new(store.clone())),
        Bus::new(BusOptions::default()),
        store,
    )
}

#[tokio::test]
async fn rules_answer_without_asking() {
    let (broker, bus, _) = setup();
    let rules = Ruleset::defaults();
    assert_eq!(
        broker
            .ask(&bus, &rules, &session("ses_1"), None, ask("read", "a.rs"), true)
            .await,
        Ok(())
    );
    let mut deny = Ruleset::defaults();
    deny.extend([Rule::new("bash", "*", Action::Deny)]);
    let refused = broker
        .ask(&bus, &deny, &session("ses_1"), None, ask("bash", "ls"), true)
        .await;
    assert!(matches!(refused, Err(PermissionRefusal::Denied(_))));
    assert!(broker.list().is_empty());
}

#[tokio::test]
async fn the_first_reply_wins_and_always_covers_later_asks() {
    let (broker, bus, _) = setup();
    let rules = Ruleset::defaults();
    let asking = ask_env(&broker, &bus, &rules, "ses_1").await;
    let id = broker.list()[0].id.clone();
    let replied = broker.reply(&bus, &id, Reply::Always, None).expect("pending");
    assert!(replied.delivered);
    assert_eq!(asking.await.expect("joins"), Ok(()));
    assert_eq!(
        broker.reply(&bus, &id, Reply::Once, None).expect_err("an error"),
        ReplyError::AlreadyAnswered(id.to_string())
    );
    assert_eq!(
        broker
            .reply(
                &bus,
                &PermissionId::parse("per_unknown").expect("an id"),
                Reply::Once,
                None
            )
            .expect_err("an error"),
        ReplyError::NotFound("per_unknown".into())
    );
    // "always" with pattern `*` now allows any read in that session without asking.
    assert_eq!(
        broker
            .ask(&bus, &rules, &session("ses_1"), None, ask("read", "x/.env"), true)
            .await,
        Ok(())
    );
}

#[tokio::test]
async fn reject_carries_feedback_and_dropping_withdraws() {
    let (broker, bus, store) = setup();
    let rules = Ruleset::defaults();
    let asking = ask_env(&broker, &bus, &rules, "ses_1").await;
    assert_eq!(store.permissions().expect("readable").len(), 1);
    let id = broker.list()[0].id.clone();
    broker
        .reply(&bus, &id, Reply::Reject, Some("not now".into()))
        .expect("pending");
    assert_eq!(
        asking.await.expect("joins"),
        Err(PermissionRefusal::Rejected(Some("not now".into())))
    );
    assert!(store.permissions().expect("readable").is_empty());

    let dropped = ask_env(&broker, &bus, &rules, "ses_2").await;
    dropped.abort();
    let _ = dropped.await;
    assert!(broker.list().is_empty());
    assert!(store.permissions().expect("readable").is_empty());
}

#[tokio::test]
async fn pending_requests_survive_a_restart() {
    let (broker, bus, store) = setup();
    let rules = Ruleset::defaults();
    let asking = ask_env(&broker, &bus, &rules, "ses_1").await;
    // A restart: a new broker over the same store, while the old process "died".
    let restored = Broker::restore(Journal::new(store.clone()));
    assert_eq!(restored.list(), broker.list());
    let id = restored.list()[0].id.clone();
    let replied = restored
        .reply(&bus, &id, Reply::Once, None)
        .expect("restored request");
    assert!(!replied.delivered);
    asking.abort();
}
