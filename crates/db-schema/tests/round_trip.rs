//! The generated bindings against the real schema: rows inserted with sqlx come back
//! through `SELECT *` into the generated structs unchanged, enums and enum arrays included.
//!
//! The example migrations are applied by the migration engine, as `migrate-dev` applies
//! them.

mod common;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use db_schema::{AvailabilityOverride, ConsultationType, Doctor};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// `INSERT INTO table (every column) VALUES ($1, ...)`, from the generated constants.
fn insert_sql(table: &str, columns: &[&str]) -> String {
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        placeholders.join(", ")
    )
}

/// Now, at the microsecond precision PostgreSQL stores.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

#[tokio::test]
async fn every_example_table_round_trips() {
    let (_cluster, url) = common::example_database().await;
    let mut conn = PgConnection::connect(url.expose()).await.unwrap();

    // The test covers every table (but the migration engine's bookkeeping): a new table in
    // the example domain must be added here.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
         AND tablename <> '_sqlx_migrations' AND tablename NOT LIKE '\\_pgshift\\_%' \
         ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, [AvailabilityOverride::TABLE, Doctor::TABLE]);

    let doctors = vec![
        Doctor {
            id: Uuid::new_v4(),
            name: "Ada Lovelace".into(),
            email: "ada@clinic.example".into(),
            specialization: Some("cardiology".into()),
            created_at: now(),
            years_of_experience: Some(12),
            consultation_types: vec![ConsultationType::Video, ConsultationType::Phone],
        },
        Doctor {
            id: Uuid::new_v4(),
            name: "Bo Nil".into(),
            email: "bo@clinic.example".into(),
            specialization: None,
            created_at: now(),
            years_of_experience: None,
            consultation_types: vec![],
        },
    ];
    for d in &doctors {
        sqlx::query(&insert_sql(Doctor::TABLE, Doctor::COLUMNS))
            .bind(d.id)
            .bind(&d.name)
            .bind(&d.email)
            .bind(&d.specialization)
            .bind(d.created_at)
            .bind(d.years_of_experience)
            .bind(&d.consultation_types)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let read: Vec<Doctor> = sqlx::query_as("SELECT * FROM doctor ORDER BY email")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(read, doctors);

    let overrides = vec![
        AvailabilityOverride {
            id: Uuid::new_v4(),
            doctor_id: doctors[0].id,
            date: NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
            start_time: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end_time: NaiveTime::from_hms_micro_opt(12, 30, 15, 250).unwrap(),
            is_available: false,
            reason: Some("Christmas Eve".into()),
        },
        AvailabilityOverride {
            id: Uuid::new_v4(),
            doctor_id: doctors[1].id,
            date: NaiveDate::from_ymd_opt(2027, 1, 2).unwrap(),
            start_time: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
            end_time: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
            is_available: true,
            reason: None,
        },
    ];
    for o in &overrides {
        sqlx::query(&insert_sql(
            AvailabilityOverride::TABLE,
            AvailabilityOverride::COLUMNS,
        ))
        .bind(o.id)
        .bind(o.doctor_id)
        .bind(o.date)
        .bind(o.start_time)
        .bind(o.end_time)
        .bind(o.is_available)
        .bind(&o.reason)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let read: Vec<AvailabilityOverride> =
        sqlx::query_as("SELECT * FROM availability_override ORDER BY date")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(read, overrides);

    // The database's defaults fill what the struct's caller leaves out.
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
