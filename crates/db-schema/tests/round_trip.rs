//! The generated bindings against the real schema: rows written with SQL come back through
//! `SELECT *` into the generated structs, enums and enum arrays included.
//!
//! The example migrations are applied by the migration engine, as `migrate-dev` applies
//! them. The test names only the columns it checks and never builds a whole struct: a
//! column or table that a user adds to the example schema (the team guide's first
//! exercise) changes the generated structs, and the test must still build and pass.

mod common;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use db_schema::{AvailabilityOverride, ConsultationType, Doctor};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// Now, at the microsecond precision PostgreSQL stores.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

#[tokio::test]
async fn every_example_table_round_trips() {
    let (_cluster, url) = common::example_database().await;
    let mut conn = PgConnection::connect(url.expose()).await.unwrap();

    // The example tables are there (a user's own tables may be too).
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for table in [AvailabilityOverride::TABLE, Doctor::TABLE] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }

    // Written with SQL naming the columns the test knows; the database's defaults fill
    // the others.
    let ada = (Uuid::new_v4(), now());
    let ada_row: Doctor = sqlx::query_as(
        "INSERT INTO doctor (id, name, email, specialization, created_at, \
         years_of_experience, consultation_types) \
         VALUES ($1, 'Ada Lovelace', 'ada@clinic.example', 'cardiology', $2, 12, $3) \
         RETURNING *",
    )
    .bind(ada.0)
    .bind(ada.1)
    .bind(vec![ConsultationType::Video, ConsultationType::Phone])
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let bo_row: Doctor = sqlx::query_as(
        "INSERT INTO doctor (name, email, specialization, years_of_experience, \
         consultation_types) VALUES ('Bo Nil', 'bo@clinic.example', NULL, NULL, '{}') \
         RETURNING *",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();

    // Read back through `SELECT *` into the struct: what was written, field by field.
    let read: Vec<Doctor> = sqlx::query_as("SELECT * FROM doctor ORDER BY email")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(read, [ada_row.clone(), bo_row.clone()]);
    let (ada_read, bo_read) = (&read[0], &read[1]);
    assert_eq!(ada_read.id, ada.0);
    assert_eq!(ada_read.name, "Ada Lovelace");
    assert_eq!(ada_read.email, "ada@clinic.example");
    assert_eq!(ada_read.specialization.as_deref(), Some("cardiology"));
    assert_eq!(ada_read.created_at, ada.1);
    assert_eq!(ada_read.years_of_experience, Some(12));
    assert_eq!(
        ada_read.consultation_types,
        [ConsultationType::Video, ConsultationType::Phone]
    );
    assert_eq!(bo_read.name, "Bo Nil");
    assert_eq!(bo_read.specialization, None);
    assert_eq!(bo_read.years_of_experience, None);
    assert!(bo_read.consultation_types.is_empty());

    // The struct's values go back in as parameters and compare equal in SQL.
    let same: bool = sqlx::query_scalar(
        "SELECT id = $1 AND created_at = $2 AND consultation_types = $3 \
         FROM doctor WHERE email = 'ada@clinic.example'",
    )
    .bind(ada_read.id)
    .bind(ada_read.created_at)
    .bind(&ada_read.consultation_types)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(same);

    let christmas = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
    let (nine, half_past_twelve) = (
        NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        NaiveTime::from_hms_micro_opt(12, 30, 15, 250).unwrap(),
    );
    sqlx::query(
        "INSERT INTO availability_override (doctor_id, date, start_time, end_time, \
         is_available, reason) VALUES ($1, $2, $3, $4, false, 'Christmas Eve'), \
         ($5, '2027-01-02', '18:00', '21:00', true, NULL)",
    )
    .bind(ada_read.id)
    .bind(christmas)
    .bind(nine)
    .bind(half_past_twelve)
    .bind(bo_read.id)
    .execute(&mut conn)
    .await
    .unwrap();
    let read: Vec<AvailabilityOverride> =
        sqlx::query_as("SELECT * FROM availability_override ORDER BY date")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].doctor_id, ada_read.id);
    assert_eq!(read[0].date, christmas);
    assert_eq!(read[0].start_time, nine);
    assert_eq!(read[0].end_time, half_past_twelve);
    assert!(!read[0].is_available);
    assert_eq!(read[0].reason.as_deref(), Some("Christmas Eve"));
    assert_eq!(read[1].doctor_id, bo_read.id);
    assert_eq!(read[1].date, NaiveDate::from_ymd_opt(2027, 1, 2).unwrap());
    assert_eq!(read[1].end_time, NaiveTime::from_hms_opt(21, 0, 0).unwrap());
    assert!(read[1].is_available);
    assert_eq!(read[1].reason, None);

    // The database's defaults fill what the insert leaves out.
    let defaulted: Doctor = sqlx::query_as(
        "INSERT INTO doctor (name, email) VALUES ('Cy', 'cy@clinic.example') RETURNING *",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(defaulted.consultation_types, [ConsultationType::InPerson]);

    // Every label maps to its variant, both ways.
    for (label, variant) in [
        ("in_person", ConsultationType::InPerson),
        ("video", ConsultationType::Video),
        ("phone", ConsultationType::Phone),
    ] {
        let (decoded, text): (ConsultationType, String) =
            sqlx::query_as("SELECT $1::text::consultation_type, $2::consultation_type::text")
                .bind(label)
                .bind(variant)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!((decoded, text.as_str()), (variant, label));
    }
    conn.close().await.unwrap();
}

/// The tests shipped with the example domain never build a generated struct field by field
/// (`Doctor { id: ..., ... }`): a column a user adds to the example schema adds a field,
/// and such a literal would stop `cargo test` from compiling.
#[test]
fn no_test_builds_a_generated_struct_with_every_field() {
    let generated =
        std::fs::read_to_string(common::repo_root().join("crates/db-schema/src/generated.rs"))
            .unwrap();
    let structs: Vec<&str> = generated
        .lines()
        .filter_map(|line| line.strip_prefix("pub struct "))
        .map(|rest| rest.trim_end_matches(" {").trim())
        .collect();
    assert!(structs.contains(&"Doctor"), "{structs:?}");
    let tests = common::repo_root().join("crates/db-schema/tests");
    for entry in std::fs::read_dir(&tests).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for name in &structs {
            // `Doctor {` as an expression; `struct Doctor {` would be a declaration.
            let literal = format!("{name} {{");
            for (n, line) in source.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                assert!(
                    !code.contains(&literal) || code.contains("struct "),
                    "{}:{}: builds {name} field by field; insert through SQL and read back \
                     instead, so that a new column does not break the test",
                    path.display(),
                    n + 1
                );
            }
        }
    }
}
