//! Statements as data: SQL text with its bound values, built by pure code (projections, the
//! batch plan) and run by either executor — sqlx for PostgreSQL and reads, rusqlite for the
//! SQLite writer. Multi-row `INSERT`s let a whole batch of rows cost one statement.

/// A value bound to a placeholder.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    OptionalText(Option<String>),
    Integer(i64),
    OptionalInteger(Option<i64>),
    Real(f64),
    /// Compact ids: a UUID's 16 bytes.
    Blob(Vec<u8>),
}

impl Bind {
    /// A UUID-keyed id as its 16 bytes.
    pub(crate) fn id(uuid: &uuid::Uuid) -> Self {
        Bind::Blob(uuid.as_bytes().to_vec())
    }
}

/// One statement to run, and what a unique-key violation in it means to the caller.
#[derive(Clone, Debug)]
pub(crate) struct Statement {
    pub sql: String,
    pub binds: Vec<Bind>,
    pub on_conflict: &'static str,
}

pub(crate) const RECORD_EXISTS: &str = "a record with the same key already exists";
pub(crate) const STREAM_CHANGED: &str = "the stream was changed by another request";

impl Statement {
    pub(crate) fn new(sql: impl Into<String>, binds: Vec<Bind>) -> Self {
        Self {
            sql: sql.into(),
            binds,
            on_conflict: RECORD_EXISTS,
        }
    }
}

/// Binds `binds`, in order, to a sqlx query's `$1…$n`.
pub(crate) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::OptionalText(text) => query.bind(text.as_deref()),
            Bind::Integer(number) => query.bind(*number),
            Bind::OptionalInteger(number) => query.bind(*number),
            Bind::Real(number) => query.bind(*number),
            Bind::Blob(bytes) => query.bind(bytes.as_slice()),
        };
    }
    query
}

/// `($first, $first+1, …)` for one row of `width` values.
pub(crate) fn placeholders(first: usize, width: usize) -> String {
    let list: Vec<String> = (first..first + width).map(|n| format!("${n}")).collect();
    format!("({})", list.join(", "))
}

/// Rows for multi-row `INSERT INTO table (columns) VALUES (…), (…)`.
pub(crate) struct BulkInsert {
    head: &'static str,
    width: usize,
    values: Vec<Bind>,
    on_conflict: &'static str,
    /// `ON CONFLICT … DO UPDATE …` after the rows, for an upsert; empty otherwise.
    upsert: &'static str,
}

/// Rows per statement: well under SQLite's and PostgreSQL's limits on bound parameters.
const ROWS_PER_STATEMENT: usize = 200;

impl BulkInsert {
    /// `head` is `INSERT INTO table (a, b, c)`; `width` the number of columns.
    pub(crate) fn new(head: &'static str, width: usize) -> Self {
        Self {
            head,
            width,
            values: Vec::new(),
            on_conflict: RECORD_EXISTS,
            upsert: "",
        }
    }

    /// Makes the insert an upsert: `clause` (`ON CONFLICT (key) DO UPDATE …`) follows the
    /// rows. PostgreSQL refuses to update one row twice in a statement, so the rows gathered
    /// must have distinct keys.
    pub(crate) fn upsert(mut self, clause: &'static str) -> Self {
        self.upsert = clause;
        self
    }

    pub(crate) fn on_conflict(mut self, meaning: &'static str) -> Self {
        self.on_conflict = meaning;
        self
    }

    pub(crate) fn row(&mut self, values: impl IntoIterator<Item = Bind>) {
        self.values.extend(values);
    }

    /// Moves the rows gathered so far into statements, and starts over.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<Statement>) {
        for chunk in self.values.chunks(self.width * ROWS_PER_STATEMENT) {
            let rows = chunk.len() / self.width;
            let groups: Vec<String> = (0..rows)
                .map(|row| placeholders(row * self.width + 1, self.width))
                .collect();
            let mut sql = format!("{} VALUES {}", self.head, groups.join(", "));
            if !self.upsert.is_empty() {
                sql.push(' ');
                sql.push_str(self.upsert);
            }
            out.push(Statement {
                sql,
                binds: chunk.to_vec(),
                on_conflict: self.on_conflict,
            });
        }
        self.values.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_numbered_placeholders_in_bounded_statements() {
        let mut insert = BulkInsert::new("INSERT INTO t (a, b)", 2);
        for n in 0..401 {
            insert.row([Bind::Integer(n), Bind::Text(n.to_string())]);
        }
        let mut statements = Vec::new();
        insert.drain_into(&mut statements);
        assert_eq!(statements.len(), 3);
        assert!(
            statements[0]
                .sql
                .starts_with("INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)")
        );
        assert_eq!(statements[0].binds.len(), 400);
        assert_eq!(statements[2].sql, "INSERT INTO t (a, b) VALUES ($1, $2)");
        assert_eq!(
            statements[2].binds,
            [Bind::Integer(400), Bind::Text("400".into())]
        );
        insert.drain_into(&mut statements);
        assert_eq!(statements.len(), 3, "drained rows are not inserted twice");
    }

    #[test]
    fn an_upsert_clause_follows_the_rows_of_every_statement() {
        let mut upsert =
            BulkInsert::new("INSERT INTO t (a)", 1).upsert("ON CONFLICT (a) DO NOTHING");
        for n in 0..201 {
            upsert.row([Bind::Integer(n)]);
        }
        let mut statements = Vec::new();
        upsert.drain_into(&mut statements);
        assert_eq!(statements.len(), 2);
        assert!(
            statements[0]
                .sql
                .ends_with("($200) ON CONFLICT (a) DO NOTHING")
        );
        assert_eq!(
            statements[1].sql,
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO NOTHING"
        );
    }
}
