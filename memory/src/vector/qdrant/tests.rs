//! The request and response mapping of the Qdrant server backend, without a server.

use qdrant_client::qdrant::condition::ConditionOneOf;
use qdrant_client::qdrant::r#match::MatchValue;
use qdrant_client::qdrant::points_selector::PointsSelectorOneOf;
use qdrant_client::qdrant::value::Kind;
use qdrant_client::qdrant::{
    CollectionConfig, CollectionInfo, CollectionParams, Condition, Filter, GetCollectionInfoResponse, PointId,
    QueryResponse, ScoredPoint, VectorParams, VectorsConfig, vectors_config,
};
use troupe_runtime::ids::UserId;
use troupe_runtime::memory::{MemoryPoint, MemoryQuery};
use uuid::Uuid;

use super::*;

/// The (field, keyword values) of a filter's field conditions.
fn matches(conditions: &[Condition]) -> Vec<(String, Vec<String>)> {
    conditions
        .iter()
        .filter_map(|condition| match condition.condition_one_of.as_ref()? {
            ConditionOneOf::Field(field) => {
                let values = match field.r#match.as_ref()?.match_value.as_ref()? {
                    MatchValue::Keyword(keyword) => vec![keyword.clone()],
                    MatchValue::Keywords(keywords) => keywords.strings.clone(),
                    _ => return None,
                };
                Some((field.key.clone(), values))
            }
            _ => None,
        })
        .collect()
}

fn user_of(filter: &Filter) -> Vec<String> {
    matches(&filter.must).into_iter().filter(|(field, _)| field == USER_ID).flat_map(|(_, values)| values).collect()
}

#[test]
fn every_search_filters_on_its_user_and_asks_for_no_payload() {
    let user = UserId::new();
    let query = MemoryQuery {
        user,
        vector: vec![0.5; 4],
        limit: 7,
        kinds: vec!["note".into(), "fact".into()],
        exclude_kinds: vec!["correction".into()],
        source: Some("web".into()),
    };
    let request = search_request("memories", &query);
    assert_eq!(request.collection_name, "memories");
    assert_eq!(request.limit, Some(7));
    let filter = request.filter.expect("a filter");
    assert_eq!(user_of(&filter), vec![user.0.to_string()]);
    let must = matches(&filter.must);
    assert!(must.contains(&(KIND.into(), vec!["note".into(), "fact".into()])), "{must:?}");
    assert!(must.contains(&(SOURCE.into(), vec!["web".into()])), "{must:?}");
    assert_eq!(matches(&filter.must_not), vec![(KIND.into(), vec!["correction".into()])]);
    let payload = format!("{:?}", request.with_payload);
    assert!(payload.contains("Enable(false)"), "{payload}");
}

#[test]
fn points_carry_the_owner_and_no_text() {
    let user = UserId::new();
    let point = MemoryPoint {
        id: Uuid::now_v7(),
        user,
        vector: vec![1.0, 0.0],
        kind: "note".into(),
        source: None,
        created_at: troupe_runtime::model::now(),
    };
    let request = upsert_request("memories", vec![point.clone()]);
    assert_eq!(request.wait, Some(true), "writes are acknowledged once applied");
    let stored = &request.points[0];
    let mut keys: Vec<&str> = stored.payload.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec![CREATED_AT, KIND, USER_ID]);
    assert!(matches!(&stored.payload[USER_ID].kind, Some(Kind::StringValue(id)) if *id == user.0.to_string()));
    assert!(
        matches!(stored.payload[CREATED_AT].kind, Some(Kind::IntegerValue(ms)) if ms == point.created_at.timestamp_millis())
    );
    assert_eq!(stored.id, Some(PointId::from(point.id.to_string())));
}

#[test]
fn deletes_are_scoped_to_their_user() {
    let user = UserId::new();
    let id = Uuid::now_v7();
    for request in [delete_request("memories", user, Some(&[id])), delete_request("memories", user, None)] {
        let selector = request.points.and_then(|points| points.points_selector_one_of).expect("a selector");
        let PointsSelectorOneOf::Filter(filter) = selector else { panic!("deletes select by filter, not by bare ids") };
        assert_eq!(user_of(&filter), vec![user.0.to_string()]);
    }
}

#[test]
fn responses_map_to_hits_and_dimensions() {
    let id = Uuid::now_v7();
    let response = QueryResponse {
        result: vec![
            ScoredPoint { id: Some(PointId::from(id.to_string())), score: 0.9, ..ScoredPoint::default() },
            ScoredPoint { id: Some(PointId::from(42u64)), score: 0.8, ..ScoredPoint::default() },
        ],
        ..QueryResponse::default()
    };
    let hits = search_hits(response);
    assert_eq!(hits.len(), 1, "a numeric id is not one of ours");
    assert_eq!((hits[0].id, hits[0].score), (id, 0.9));

    let info = |config| GetCollectionInfoResponse {
        result: Some(CollectionInfo {
            config: Some(CollectionConfig {
                params: Some(CollectionParams {
                    vectors_config: Some(VectorsConfig { config: Some(config) }),
                    ..CollectionParams::default()
                }),
                ..CollectionConfig::default()
            }),
            ..CollectionInfo::default()
        }),
        ..GetCollectionInfoResponse::default()
    };
    let single = vectors_config::Config::Params(VectorParams { size: 384, ..VectorParams::default() });
    assert_eq!(collection_dimension(&info(single)), Some(384));
    let named = vectors_config::Config::ParamsMap(Default::default());
    assert_eq!(collection_dimension(&info(named)), None, "a collection of named vectors is not ours");
}
