//! The codegen fixture's generated bindings (tests/fixtures/codegen/, reviewed snapshots that
//! tests/codegen.rs keeps equal to `generate`'s output) compiled against the real sqlx,
//! chrono, time, serde and friends, and rows of the awkwardly named table round-tripped
//! through both variants.

#[allow(dead_code)]
#[rustfmt::skip]
#[path = "../../../tests/fixtures/codegen/bindings_chrono.rs"]
mod chrono_bindings;
#[allow(dead_code)]
#[rustfmt::skip]
#[path = "../../../tests/fixtures/codegen/bindings_time_serde.rs"]
mod time_serde_bindings;

use std::path::Path;
use std::process::Command;

use pgshift::local::ScratchCluster;
use rust_decimal::Decimal;
use sqlx::{Connection, PgConnection};

fn fixture_database() -> (ScratchCluster, String) {
    let cluster = ScratchCluster::start().unwrap();
    let psql = pgshift::pgbin::PgBin::client("psql").unwrap();
    let run = |url: &str, args: &[&str]| {
        let out = Command::new(&psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        cluster.url("postgres").expose(),
        &["-c", "CREATE DATABASE fixture"],
    );
    let url = cluster.url("fixture").expose().to_string();
    let schema =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/codegen/schema.sql");
    run(&url, &["-f", schema.to_str().unwrap()]);
    (cluster, url)
}

/// `INSERT INTO "Order Items" ("ID", ...) VALUES ($1, ...)` from the generated constants.
fn insert_sql(table: &str, columns: &[&str]) -> String {
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let names: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    let values: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(table),
        names.join(", "),
        values.join(", ")
    )
}

#[tokio::test]
async fn awkward_names_round_trip_with_chrono_and_with_time_and_serde() {
    let (_cluster, url) = fixture_database();
    let mut conn = PgConnection::connect(&url).await.unwrap();

    use chrono_bindings::{MoodEnum as Mood, OrderItems, Priority, User};
    let created = chrono::DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
    let item = OrderItems {
        id: 1,
        type_: "gift".into(),
        self_: Some(true),
        created_at: created,
        created_at_2: None,
        _2fa_code: Some("123456".into()),
        quoted_name: Some("q".into()),
        table: Some("t".into()),
        total: Some(Decimal::new(1999, 2)),
        mood: Mood::VeryHappy,
        moods: vec![Mood::Sad, Mood::Sad2, Mood::MixedUp],
        priority: Some(Priority::High),
        role: User::Member,
        email: Some("a@b.example".into()),
        rating: Some(5),
    };
    let sql = insert_sql(OrderItems::TABLE, OrderItems::COLUMNS);
    sqlx::query(&sql)
        .bind(item.id)
        .bind(&item.type_)
        .bind(item.self_)
        .bind(item.created_at)
        .bind(item.created_at_2)
        .bind(&item._2fa_code)
        .bind(&item.quoted_name)
        .bind(&item.table)
        .bind(item.total)
        .bind(item.mood)
        .bind(&item.moods)
        .bind(item.priority)
        .bind(item.role)
        .bind(&item.email)
        .bind(item.rating)
        .execute(&mut conn)
        .await
        .unwrap();
    let read: OrderItems = sqlx::query_as(r#"SELECT * FROM "Order Items""#)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(read, item);

    // The same row through the time + serde variant, then to JSON with the SQL names.
    let read: time_serde_bindings::OrderItems = sqlx::query_as(r#"SELECT * FROM "Order Items""#)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        read.created_at.unix_timestamp_nanos(),
        1_764_000_000_123_456_000
    );
    assert_eq!(
        read.moods,
        [
            time_serde_bindings::MoodEnum::Sad,
            time_serde_bindings::MoodEnum::Sad2,
            time_serde_bindings::MoodEnum::MixedUp
        ]
    );
    let json = serde_json::to_value(&read).unwrap();
    assert_eq!(json["type"], "gift");
    assert_eq!(json["2fa code"], "123456");
    assert_eq!(json["moods"], serde_json::json!(["sad", "Sad", "Mixed-Up"]));
    let back: time_serde_bindings::OrderItems = serde_json::from_value(json).unwrap();
    assert_eq!(back, read);

    // A view's row: every column optional.
    let summary: Option<chrono_bindings::OrderSummary> =
        sqlx::query_as("SELECT * FROM order_summary")
            .fetch_optional(&mut conn)
            .await
            .unwrap();
    assert_eq!(summary, None);
    conn.close().await.unwrap();
}
