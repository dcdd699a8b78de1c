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
#[allow(dead_code)]
#[rustfmt::skip]
#[path = "../../../tests/fixtures/codegen/bindings_time.rs"]
mod time_bindings;

mod common;

use rust_decimal::Decimal;
use sqlx::{Connection, PgConnection};

/// `INSERT INTO "Order Items" ("ID", ...) VALUES ($1, ...)` from the generated constants.
fn insert_sql(table: &str, columns: &[&str]) -> String {
    insert_sql_in("public", table, columns)
}

/// `insert_sql` for a table of `schema`.
fn insert_sql_in(schema: &str, table: &str, columns: &[&str]) -> String {
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let names: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    let values: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {}.{} ({}) VALUES ({})",
        quote(schema),
        quote(table),
        names.join(", "),
        values.join(", ")
    )
}

#[tokio::test]
async fn awkward_names_round_trip_with_chrono_and_with_time_and_serde() {
    let (_cluster, url) = common::fixture_database().await;
    let mut conn = PgConnection::connect(url.expose()).await.unwrap();

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

/// The fixture's every-type table, every column non-null, as SQL literals.
const EVERY_TYPE_ROW: &str = r#"INSERT INTO types.every_type (
    c_bool, c_char, c_int2, c_int4, c_int8, c_serial, c_bigserial, c_float4, c_float8,
    c_numeric, c_money, c_oid, c_text, c_varchar, c_bpchar, c_name, c_citext, c_bytea,
    c_uuid, c_json, c_jsonb, c_date, c_time, c_timetz, c_timestamp, c_timestamptz,
    c_interval, c_inet, c_cidr, c_bit, c_varbit, c_point, c_line, c_lseg, c_box, c_path,
    c_polygon, c_circle, c_int4range, c_int8range, c_numrange, c_daterange, c_tsrange,
    c_tstzrange, c_hstore, c_ltree, c_mood, c_email, c_positive, c_rating, c_small_counts,
    c_int4_array, c_text_array, c_mood_array, c_uuid_array, c_citext_array, c_jsonb_array,
    c_timestamptz_array
) VALUES (
    true, 'x', 2, 21, 8000000000, 7, 8, 1.5, 2.25,
    123.45, '12.34', 42, 'text', 'varchar', 'ab', 'nm', 'CiText', '\x0102',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": true}', '2026-11-25',
    '12:34:56.789', '12:34:56+02', '2026-11-25 12:34:56.123456',
    '2026-11-25 12:34:56.123456+00',
    '1 mon 2 days 00:00:03.5', '192.168.1.5/24', '10.0.0.0/8', B'1010', B'110', '(1,2)',
    '{1,2,3}', '[(0,0),(1,1)]', '((1,1),(0,0))', '[(0,0),(1,1)]',
    '((0,0),(1,0),(0,1))', '<(0,0),2>', '[1,10)', '[1,10)', '[1.5,2.5]',
    '[2026-01-01,2026-02-01)', '[2026-01-01 00:00,2026-01-02 00:00)',
    '[2026-01-01 00:00+00,2026-01-02 00:00+00)', 'a=>1, b=>NULL', 'a.b.c', 'very happy',
    'x@y.example', 3, 4, '{1,2}',
    '{1,2,3}', '{a,b}', '{sad,ok}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{Foo}',
    ARRAY['{"k": 1}'::jsonb], '{"2026-11-25 00:00:00+00"}'
) RETURNING id"#;

/// Every column of the every-type table, filled, read back through both variants: the
/// chrono one compared with the values written, the time one (every schema, no serde,
/// nullable array elements) written back with binds and read again.
#[tokio::test]
// Every field is bound by reference alike, Copy or not: one uniform list to review.
#[allow(clippy::needless_borrows_for_generic_args)]
async fn every_type_round_trips_with_chrono_and_with_time() {
    use sqlx::postgres::types::*;
    use sqlx::types::chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
    use std::ops::Bound::{Excluded, Included};

    let (_cluster, url) = common::fixture_database().await;
    let mut conn = PgConnection::connect(url.expose()).await.unwrap();
    let id: i64 = sqlx::query_scalar(EVERY_TYPE_ROW)
        .fetch_one(&mut conn)
        .await
        .unwrap();

    let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let uuid = sqlx::types::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    let bits = |b: &[bool]| sqlx::types::BitVec::from_fn(b.len(), |i| b[i]);
    let point = |x, y| PgPoint { x, y };
    let expected = chrono_bindings::TypesEveryType {
        id,
        c_bool: true,
        c_char: Some(b'x' as i8),
        c_int2: Some(2),
        c_int4: Some(21),
        c_int8: Some(8_000_000_000),
        c_serial: 7,
        c_bigserial: 8,
        c_float4: Some(1.5),
        c_float8: Some(2.25),
        c_numeric: Some(Decimal::new(12345, 2)),
        c_money: Some(PgMoney(1234)),
        c_oid: Some(Oid(42)),
        c_text: Some("text".into()),
        c_varchar: Some("varchar".into()),
        c_bpchar: Some("ab ".into()),
        c_name: Some("nm".into()),
        c_citext: Some("CiText".into()),
        c_bytea: Some(vec![1, 2]),
        c_uuid: Some(uuid),
        c_json: Some(serde_json::json!({"a": [1, 2]})),
        c_jsonb: Some(serde_json::json!({"b": true})),
        c_date: Some(ymd(2026, 11, 25)),
        c_time: Some(NaiveTime::from_hms_milli_opt(12, 34, 56, 789).unwrap()),
        c_timetz: Some(PgTimeTz {
            time: NaiveTime::from_hms_opt(12, 34, 56).unwrap(),
            offset: FixedOffset::east_opt(2 * 3600).unwrap(),
        }),
        c_timestamp: Some(
            ymd(2026, 11, 25)
                .and_hms_micro_opt(12, 34, 56, 123_456)
                .unwrap(),
        ),
        c_timestamptz: Some(utc("2026-11-25T12:34:56.123456Z")),
        c_interval: Some(PgInterval {
            months: 1,
            days: 2,
            microseconds: 3_500_000,
        }),
        c_inet: Some("192.168.1.5/24".parse().unwrap()),
        c_cidr: Some("10.0.0.0/8".parse().unwrap()),
        c_bit: Some(bits(&[true, false, true, false])),
        c_varbit: Some(bits(&[true, true, false])),
        c_point: Some(point(1.0, 2.0)),
        c_line: Some(PgLine {
            a: 1.0,
            b: 2.0,
            c: 3.0,
        }),
        c_lseg: Some(PgLSeg {
            start_x: 0.0,
            start_y: 0.0,
            end_x: 1.0,
            end_y: 1.0,
        }),
        c_box: Some(PgBox {
            upper_right_x: 1.0,
            upper_right_y: 1.0,
            lower_left_x: 0.0,
            lower_left_y: 0.0,
        }),
        c_path: Some(PgPath {
            closed: false,
            points: vec![point(0.0, 0.0), point(1.0, 1.0)],
        }),
        c_polygon: Some(PgPolygon {
            points: vec![point(0.0, 0.0), point(1.0, 0.0), point(0.0, 1.0)],
        }),
        c_circle: Some(PgCircle {
            x: 0.0,
            y: 0.0,
            radius: 2.0,
        }),
        c_int4range: Some(PgRange {
            start: Included(1),
            end: Excluded(10),
        }),
        c_int8range: Some(PgRange {
            start: Included(1),
            end: Excluded(10),
        }),
        c_numrange: Some(PgRange {
            start: Included(Decimal::new(15, 1)),
            end: Included(Decimal::new(25, 1)),
        }),
        c_daterange: Some(PgRange {
            start: Included(ymd(2026, 1, 1)),
            end: Excluded(ymd(2026, 2, 1)),
        }),
        c_tsrange: Some(PgRange {
            start: Included(ymd(2026, 1, 1).and_hms_opt(0, 0, 0).unwrap()),
            end: Excluded(ymd(2026, 1, 2).and_hms_opt(0, 0, 0).unwrap()),
        }),
        c_tstzrange: Some(PgRange {
            start: Included(utc("2026-01-01T00:00:00Z")),
            end: Excluded(utc("2026-01-02T00:00:00Z")),
        }),
        c_hstore: Some(PgHstore::from_iter([
            ("a".to_string(), Some("1".to_string())),
            ("b".to_string(), None),
        ])),
        c_ltree: Some("a.b.c".parse().unwrap()),
        c_mood: Some(chrono_bindings::MoodEnum::VeryHappy),
        c_email: Some("x@y.example".into()),
        c_positive: 3,
        c_rating: Some(4),
        c_small_counts: Some(vec![1, 2]),
        c_int4_array: vec![1, 2, 3],
        c_text_array: Some(vec!["a".into(), "b".into()]),
        c_mood_array: Some(vec![
            chrono_bindings::MoodEnum::Sad,
            chrono_bindings::MoodEnum::Ok,
        ]),
        c_uuid_array: Some(vec![uuid]),
        c_citext_array: Some(vec![PgCiText("Foo".into())]),
        c_jsonb_array: Some(vec![serde_json::json!({"k": 1})]),
        c_timestamptz_array: Some(vec![utc("2026-11-25T00:00:00Z")]),
        c_generated: Some(42),
    };
    let select = "SELECT * FROM types.every_type WHERE id = $1";
    let read: chrono_bindings::TypesEveryType = sqlx::query_as(select)
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(read, expected);

    // The time variant reads the same row, writes it back with binds (identity and
    // generated columns excepted) and reads the copy equal.
    let row: time_bindings::TypesEveryType = sqlx::query_as(select)
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.c_int4_array, [Some(1), Some(2), Some(3)]);
    assert_eq!(
        row.c_timestamptz.unwrap().unix_timestamp_nanos(),
        1_795_610_096_123_456_000
    );
    let columns = &time_bindings::TypesEveryType::COLUMNS
        [1..time_bindings::TypesEveryType::COLUMNS.len() - 1];
    let copy_id: i64 = sqlx::query_scalar(&format!(
        "{} RETURNING id",
        insert_sql_in("types", time_bindings::TypesEveryType::TABLE, columns)
    ))
    .bind(&row.c_bool)
    .bind(&row.c_char)
    .bind(&row.c_int2)
    .bind(&row.c_int4)
    .bind(&row.c_int8)
    .bind(&row.c_serial)
    .bind(&row.c_bigserial)
    .bind(&row.c_float4)
    .bind(&row.c_float8)
    .bind(&row.c_numeric)
    .bind(&row.c_money)
    .bind(&row.c_oid)
    .bind(&row.c_text)
    .bind(&row.c_varchar)
    .bind(&row.c_bpchar)
    .bind(&row.c_name)
    .bind(&row.c_citext)
    .bind(&row.c_bytea)
    .bind(&row.c_uuid)
    .bind(&row.c_json)
    .bind(&row.c_jsonb)
    .bind(&row.c_date)
    .bind(&row.c_time)
    .bind(&row.c_timetz)
    .bind(&row.c_timestamp)
    .bind(&row.c_timestamptz)
    .bind(&row.c_interval)
    .bind(&row.c_inet)
    .bind(&row.c_cidr)
    .bind(&row.c_bit)
    .bind(&row.c_varbit)
    .bind(&row.c_point)
    .bind(&row.c_line)
    .bind(&row.c_lseg)
    .bind(&row.c_box)
    .bind(&row.c_path)
    .bind(&row.c_polygon)
    .bind(&row.c_circle)
    .bind(&row.c_int4range)
    .bind(&row.c_int8range)
    .bind(&row.c_numrange)
    .bind(&row.c_daterange)
    .bind(&row.c_tsrange)
    .bind(&row.c_tstzrange)
    .bind(&row.c_hstore)
    .bind(&row.c_ltree)
    .bind(&row.c_mood)
    .bind(&row.c_email)
    .bind(&row.c_positive)
    .bind(&row.c_rating)
    .bind(&row.c_small_counts)
    .bind(&row.c_int4_array)
    .bind(&row.c_text_array)
    .bind(&row.c_mood_array)
    .bind(&row.c_uuid_array)
    .bind(&row.c_citext_array)
    .bind(&row.c_jsonb_array)
    .bind(&row.c_timestamptz_array)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let copy: time_bindings::TypesEveryType = sqlx::query_as(select)
        .bind(copy_id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(copy, time_bindings::TypesEveryType { id: copy_id, ..row });

    // A NULL array element: `Vec<Option<T>>` reads it, `Vec<T>` cannot (README).
    sqlx::query("UPDATE types.every_type SET c_int4_array = '{1,NULL}' WHERE id = $1")
        .bind(copy_id)
        .execute(&mut conn)
        .await
        .unwrap();
    let with_null: time_bindings::TypesEveryType = sqlx::query_as(select)
        .bind(copy_id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(with_null.c_int4_array, [Some(1), None]);
    let err = sqlx::query_as::<_, chrono_bindings::TypesEveryType>(select)
        .bind(copy_id)
        .fetch_one(&mut conn)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unexpected null"), "{err}");
    conn.close().await.unwrap();
}

/// Composite types (nested, holding an enum, in an array) read and written through their
/// generated structs; `SELECT *` reads into structs whose tables and views have columns
/// left out (no Rust type); a partitioned table's row, stored in its partition, reads
/// into the parent's struct.
#[tokio::test]
async fn composites_left_out_columns_and_partitions_round_trip() {
    use chrono_bindings::{Address, Article, ArticleSearch, Contact, Measurement, MoodEnum};
    let (_cluster, url) = common::fixture_database().await;
    let mut conn = PgConnection::connect(url.expose()).await.unwrap();

    let home = Address {
        street: Some("1 Main St".into()),
        city: Some("Springfield".into()),
        zip: None,
    };
    let article = Article {
        id: 1,
        title: "Hello".into(),
        contact: Some(Contact {
            name: Some("Ada".into()),
            mood: Some(MoodEnum::VeryHappy),
            home: Some(home.clone()),
            phones: Some(vec!["+1 555".into(), "+1 556".into()]),
        }),
        addresses: Some(vec![
            home,
            Address {
                street: None,
                city: Some("Shelbyville".into()),
                zip: Some("12345".into()),
            },
        ]),
    };
    // Written with binds of the generated types, next to the columns the struct leaves out.
    sqlx::query(
        "INSERT INTO article (id, title, search, contact, addresses, shapes) \
         VALUES ($1, $2, to_tsvector('simple', 'hello world'), $3, $4, \
                 ARRAY[ROW('a', 'x:1')::odd_shape])",
    )
    .bind(article.id)
    .bind(&article.title)
    .bind(&article.contact)
    .bind(&article.addresses)
    .execute(&mut conn)
    .await
    .unwrap();
    let read: Article = sqlx::query_as("SELECT * FROM article")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(read, article);
    let search: ArticleSearch = sqlx::query_as("SELECT * FROM article_search")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(search.title.as_deref(), Some("Hello"));

    // The same row through the time + serde variant, to JSON.
    let read: time_serde_bindings::Article = sqlx::query_as("SELECT * FROM article")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let json = serde_json::to_value(&read).unwrap();
    assert_eq!(json["contact"]["home"]["city"], "Springfield");
    assert_eq!(json["contact"]["mood"], "very happy");

    sqlx::query("INSERT INTO measurement VALUES (7, '2026-06-01', 1.5)")
        .execute(&mut conn)
        .await
        .unwrap();
    let m: Measurement = sqlx::query_as("SELECT * FROM measurement")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!((m.id, m.reading), (7, Some(Decimal::new(15, 1))));
    conn.close().await.unwrap();
}
