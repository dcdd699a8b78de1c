//! pgshift's statement boundaries and classification (`pgshift::sql`) against what the
//! PostgreSQL server the test started actually executes, on a generated corpus: random mixes
//! of comments, nested comments, quotes, dollar quotes, `E''`, `U&''`, `BEGIN ATOMIC` bodies,
//! keywords used as names, and real transaction control among look-alikes.
//!
//! Boundaries: the whole file sent as one message (the server splits it) must return the
//! same rows and command count as pgshift's statements sent one by one. Classification: a
//! statement pgshift calls `COMMIT`/`ROLLBACK`/... must end an open transaction and nothing
//! else may; one it calls `BEGIN`/`START TRANSACTION` must open one and nothing else may.

mod support;

use pgshift::sql::{self, Kind};
use sqlx::{Connection, Either, PgConnection, Row};
use support::TestDb;

/// A small deterministic generator (xorshift64*), so a failure is reproducible by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const NAMES: &[&str] = &[
    "begin",
    "commit",
    "\"end\"",
    "transaction",
    "start",
    "abort",
    "atomic",
    "copy",
    "\"do\"",
    "rollback",
    "\"a;b\"",
    "\"x\"\"y\"",
    "savepoint",
];

/// Something that may stand between tokens: nothing, spaces, comments with look-alikes.
fn trivia(r: &mut Rng) -> String {
    match r.below(7) {
        0 => " -- ; COMMIT; it's\n".into(),
        1 => " /* a /* nested ; COMMIT; */ $$ ' */ ".into(),
        2 => "\n\t".into(),
        3 => " /* BEGIN; */".into(),
        _ => " ".into(),
    }
}

/// A text-valued expression with tricky literals.
fn literal(r: &mut Rng) -> String {
    match r.below(9) {
        0 => "'a;b''c -- not a comment'".into(),
        1 => r"E'it\'s; \\ /* x'".into(),
        2 => r"U&'d\0061t;a'".into(),
        3 => "$$ $x$ ; COMMIT; ' $$".into(),
        4 => "$tag$ $$ ; ROLLBACK; $tag$".into(),
        5 => "'multi'\n  'line;continued'".into(),
        6 => "'/* not a comment */'".into(),
        7 => "'pg_advisory_unlock_all()'".into(),
        _ => "'plain'".into(),
    }
}

/// One statement (without its `;`). Each SELECT returns one text column named v.
fn statement(r: &mut Rng, n: usize, file: usize) -> String {
    match r.below(12) {
        0..=4 => {
            let parts: Vec<String> = (0..1 + r.below(3)).map(|_| literal(r)).collect();
            format!(
                "SELECT{}({}){}::text AS {}",
                trivia(r),
                parts.join(" || "),
                trivia(r),
                r.pick(NAMES)
            )
        }
        5 => format!(
            "SELECT {name}.v FROM (SELECT {} AS v) AS {name}",
            literal(r),
            name = r.pick(NAMES)
        ),
        6 => format!(
            "CREATE OR REPLACE FUNCTION f_{file}_{n}() RETURNS text LANGUAGE sql\nBEGIN ATOMIC\n  SELECT {};{}\n  SELECT CASE WHEN true THEN {} END;\nEND",
            literal(r),
            trivia(r),
            literal(r)
        ),
        7 => format!(
            "CREATE OR REPLACE FUNCTION g_{file}_{n}() RETURNS text LANGUAGE plpgsql AS $body$\nBEGIN\n  RETURN {};\nEND\n$body$",
            literal(r)
        ),
        8 => format!(
            "DO $do$ BEGIN PERFORM {}; END $do$",
            literal(r)
        ),
        9 => r
            .pick(&["BEGIN", "begin transaction", "START TRANSACTION READ WRITE", "COMMIT", "end", "ROLLBACK", "abort"])
            .to_string(),
        10 => format!("SELECT 1 AS {}", r.pick(NAMES)),
        _ => format!("SELECT {} AS v{}", literal(r), trivia(r)),
    }
}

fn file(r: &mut Rng, index: usize) -> String {
    let mut sql = String::new();
    for n in 0..2 + r.below(6) {
        sql.push_str(&trivia(r));
        sql.push_str(&statement(r, n, index));
        sql.push(';');
        if r.below(5) == 0 {
            sql.push(';');
        }
    }
    if r.below(3) == 0 {
        sql.push_str(" -- trailing comment without a newline");
    }
    sql
}

/// What sending `sql` as one message returns: each row's first column, and a marker for
/// each completed command. Warnings (a COMMIT outside a transaction) are not errors.
async fn run(conn: &mut PgConnection, sql: &str) -> Vec<String> {
    use futures_core::Stream;
    let mut stream = sqlx::raw_sql(sql).fetch_many(&mut *conn);
    let mut seen = Vec::new();
    loop {
        let next = std::future::poll_fn(|cx| Stream::poll_next(stream.as_mut(), cx)).await;
        match next {
            None => return seen,
            Some(Ok(Either::Left(_))) => seen.push("<done>".into()),
            Some(Ok(Either::Right(row))) => seen.push(
                row.try_get::<String, _>(0)
                    .unwrap_or_else(|_| "<row>".into()),
            ),
            Some(Err(e)) => panic!("the server refused:\n{sql}\n{e}"),
        }
    }
}

async fn in_transaction(conn: &mut PgConnection) -> bool {
    let row = sqlx::raw_sql("SELECT transaction_timestamp() <> statement_timestamp()")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    row.get(0)
}

#[test]
fn statement_boundaries_and_kinds_match_the_server() {
    let db = TestDb::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (files, statements, ends, opens) = runtime.block_on(async {
        let mut conn = PgConnection::connect(&db.url()).await.unwrap();
        sqlx::raw_sql("SET client_min_messages = error")
            .execute(&mut conn)
            .await
            .unwrap();
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let (mut statements, mut ends, mut opens) = (0, 0, 0);
        const FILES: usize = 300;
        for index in 0..FILES {
            let text = file(&mut rng, index);
            let parsed = sql::statements(&text, true)
                .unwrap_or_else(|e| panic!("pgshift refuses file {index}:\n{text}\n{e}"));
            // Boundaries: the server's split vs ours.
            let whole = run(&mut conn, &text).await;
            if in_transaction(&mut conn).await {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
            }
            let mut one_by_one = Vec::new();
            for st in &parsed {
                one_by_one.extend(run(&mut conn, st.sql).await);
            }
            if in_transaction(&mut conn).await {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
            }
            assert_eq!(whole, one_by_one, "file {index}:\n{text}\n{parsed:#?}");
            // Kinds: from outside a transaction, only BEGIN/START open one; inside one,
            // only COMMIT/ROLLBACK/... end it.
            for st in &parsed {
                statements += 1;
                let says = match &st.kind {
                    Kind::TransactionControl(what) => *what,
                    _ => "",
                };
                let opener = matches!(says, "BEGIN" | "START TRANSACTION");
                let ender = !says.is_empty() && !opener;
                run(&mut conn, st.sql).await;
                let opened = in_transaction(&mut conn).await;
                assert_eq!(
                    opened, opener,
                    "file {index}, {:?}: opened a transaction: {opened}",
                    st.sql
                );
                opens += usize::from(opened);
                if opened {
                    sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
                }
                sqlx::raw_sql("BEGIN").execute(&mut conn).await.unwrap();
                run(&mut conn, st.sql).await;
                let ended = !in_transaction(&mut conn).await;
                assert_eq!(
                    ended, ender,
                    "file {index}, {:?}: ended the transaction: {ended}",
                    st.sql
                );
                ends += usize::from(ended);
                if !ended {
                    sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
                }
            }
        }
        (FILES, statements, ends, opens)
    });
    // The corpus must exercise both directions, or the comparison proves little.
    assert!(ends > 20 && opens > 20, "{ends} enders, {opens} openers");
    eprintln!(
        "{files} generated files, {statements} statements: boundaries and kinds agree with the server ({opens} open a transaction, {ends} end one)"
    );
}
