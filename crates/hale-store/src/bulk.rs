//! Statements as data: SQL text with its bound values, built by pure code (projections, the
//! batch plan) and run by either executor — sqlx for PostgreSQL and reads, rusqlite for the
//! SQLite writer. Multi-row `INSERT`s let a whole batch of rows cost one statement: as
//! `VALUES (…), (…)` with one placeholder per value on SQLite (and for a rebuild), and on the
//! PostgreSQL writer as `SELECT * FROM UNNEST($1::text[], …)` with one array per column, whose
//! text is the same for any number of rows, so the server parses and plans it once per
//! connection.

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
    OptionalBlob(Option<Vec<u8>>),
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
    /// The statement with one placeholder per bound value (for a multi-row insert, its
    /// `VALUES` form).
    pub sql: String,
    pub binds: Vec<Bind>,
    pub on_conflict: &'static str,
    /// Set for a multi-row insert: its shape, from which [`Rows::unnest_sql`] and
    /// [`Rows::columns`] give the array form of the same rows.
    pub rows: Option<Rows>,
}

/// The shape of a multi-row insert: `binds` hold `width` values per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rows {
    head: &'static str,
    width: usize,
    upsert: &'static str,
    /// The first value of each row is a tenant's id, stored as its key (`tenant_keyed`).
    tenant_keyed: bool,
}

/// A tenant's key from its id, the text after which follows the id's placeholder and `)`.
/// The tables that grow with every submission are keyed by this small integer (the tenant's
/// place in the platform chain, `tenants.tenant_key`) instead of the id's 36 characters; a
/// tenant without a `tenants` row has no key, and a row for it fails its `NOT NULL`.
const TENANT_KEY_OF_START: &str = "(SELECT tenant_key FROM tenants WHERE id = ";

/// One column's values across the rows of a multi-row insert, for a PostgreSQL array.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Column {
    Text(Vec<Option<String>>),
    Integer(Vec<Option<i64>>),
    Real(Vec<f64>),
    Blob(Vec<Option<Vec<u8>>>),
}

impl Column {
    fn for_value(value: &Bind, rows: usize) -> Self {
        match value {
            Bind::Text(_) | Bind::OptionalText(_) => Column::Text(Vec::with_capacity(rows)),
            Bind::Integer(_) | Bind::OptionalInteger(_) => {
                Column::Integer(Vec::with_capacity(rows))
            }
            Bind::Real(_) => Column::Real(Vec::with_capacity(rows)),
            Bind::Blob(_) | Bind::OptionalBlob(_) => Column::Blob(Vec::with_capacity(rows)),
        }
    }

    /// Adds a row's value; `false` if it is not of this column's type.
    fn push(&mut self, value: &Bind) -> bool {
        match (self, value) {
            (Column::Text(values), Bind::Text(text)) => values.push(Some(text.clone())),
            (Column::Text(values), Bind::OptionalText(text)) => values.push(text.clone()),
            (Column::Integer(values), Bind::Integer(number)) => values.push(Some(*number)),
            (Column::Integer(values), Bind::OptionalInteger(number)) => values.push(*number),
            (Column::Real(values), Bind::Real(number)) => values.push(*number),
            (Column::Blob(values), Bind::Blob(bytes)) => values.push(Some(bytes.clone())),
            (Column::Blob(values), Bind::OptionalBlob(bytes)) => values.push(bytes.clone()),
            _ => return false,
        }
        true
    }

    fn array_type(&self) -> &'static str {
        match self {
            Column::Text(_) => "text[]",
            Column::Integer(_) => "int8[]",
            Column::Real(_) => "float8[]",
            Column::Blob(_) => "bytea[]",
        }
    }
}

impl Rows {
    /// The rows of `binds` as one array per column, or `None` when a column's values are not
    /// all of one type (then the `VALUES` form is used).
    pub(crate) fn columns(&self, binds: &[Bind]) -> Option<Vec<Column>> {
        let rows = binds.len() / self.width;
        let first = binds.get(..self.width)?;
        let mut columns: Vec<Column> = first
            .iter()
            .map(|value| Column::for_value(value, rows))
            .collect();
        for row in binds.chunks(self.width) {
            for (column, value) in columns.iter_mut().zip(row) {
                if !column.push(value) {
                    return None;
                }
            }
        }
        Some(columns)
    }

    /// `head SELECT * FROM UNNEST($1::type[], …) upsert`: the same text for any number of rows.
    pub(crate) fn unnest_sql(&self, columns: &[Column]) -> String {
        let arrays: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(index, column)| format!("${}::{}", index + 1, column.array_type()))
            .collect();
        let mut sql = if self.tenant_keyed {
            let names: Vec<String> = (1..=columns.len()).map(|n| format!("c{n}")).collect();
            format!(
                "{} SELECT {TENANT_KEY_OF_START}u.c1), u.{} FROM UNNEST({}) AS u({})",
                self.head,
                names[1..].join(", u."),
                arrays.join(", "),
                names.join(", ")
            )
        } else {
            format!("{} SELECT * FROM UNNEST({})", self.head, arrays.join(", "))
        };
        if !self.upsert.is_empty() {
            sql.push(' ');
            sql.push_str(self.upsert);
        }
        sql
    }
}

pub(crate) const RECORD_EXISTS: &str = "a record with the same key already exists";
pub(crate) const STREAM_CHANGED: &str = "the stream was changed by another request";

impl Statement {
    pub(crate) fn new(sql: impl Into<String>, binds: Vec<Bind>) -> Self {
        Self {
            sql: sql.into(),
            binds,
            on_conflict: RECORD_EXISTS,
            rows: None,
        }
    }
}

/// Binds `binds`, in order, to a sqlx query's `$1…$n`, through `sqlx::Any` or a typed driver.
pub(crate) fn bind_all<'q, DB>(
    mut query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q [u8]>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::OptionalText(text) => query.bind(text.as_deref()),
            Bind::Integer(number) => query.bind(*number),
            Bind::OptionalInteger(number) => query.bind(*number),
            Bind::Real(number) => query.bind(*number),
            Bind::Blob(bytes) => query.bind(bytes.as_slice()),
            Bind::OptionalBlob(bytes) => query.bind(bytes.as_deref()),
        };
    }
    query
}

/// `($first, $first+1, …)` for one row of `width` values.
pub(crate) fn placeholders(first: usize, width: usize) -> String {
    format!("({})", numbered(first, width).join(", "))
}

/// `$first`, `$first+1`, … for `width` values.
fn numbered(first: usize, width: usize) -> Vec<String> {
    (first..first + width).map(|n| format!("${n}")).collect()
}

/// Rows for multi-row `INSERT INTO table (columns) VALUES (…), (…)`.
pub(crate) struct BulkInsert {
    head: &'static str,
    width: usize,
    values: Vec<Bind>,
    on_conflict: &'static str,
    /// `ON CONFLICT … DO UPDATE …` after the rows, for an upsert; empty otherwise.
    upsert: &'static str,
    tenant_keyed: bool,
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
            tenant_keyed: false,
        }
    }

    /// The first column is the tenant's key: each row binds the tenant's id there, and the
    /// statement looks its key up.
    pub(crate) fn tenant_keyed(mut self) -> Self {
        self.tenant_keyed = true;
        self
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
                .map(|row| {
                    let first = row * self.width + 1;
                    let mut values = numbered(first, self.width);
                    if let Some(tenant) = values.first_mut().filter(|_| self.tenant_keyed) {
                        *tenant = format!("{TENANT_KEY_OF_START}{tenant})");
                    }
                    format!("({})", values.join(", "))
                })
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
                rows: Some(Rows {
                    head: self.head,
                    width: self.width,
                    upsert: self.upsert,
                    tenant_keyed: self.tenant_keyed,
                }),
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

    #[test]
    fn a_multi_row_insert_becomes_one_array_per_column_with_one_text_for_any_size() {
        let mut insert = BulkInsert::new("INSERT INTO t (a, b, c, d, e)", 5)
            .upsert("ON CONFLICT (a) DO NOTHING");
        insert.row([
            Bind::Text("x".into()),
            Bind::Integer(1),
            Bind::Real(0.5),
            Bind::Blob(vec![1, 2]),
            Bind::OptionalText(None),
        ]);
        insert.row([
            Bind::Text("y".into()),
            Bind::OptionalInteger(None),
            Bind::Real(1.5),
            Bind::Blob(vec![3]),
            Bind::OptionalText(Some("z".into())),
        ]);
        let mut statements = Vec::new();
        insert.drain_into(&mut statements);
        let [statement] = statements.as_slice() else {
            panic!("one statement for two rows");
        };
        let rows = statement.rows.expect("a multi-row insert keeps its shape");
        let columns = rows
            .columns(&statement.binds)
            .expect("each column is of one type");
        assert_eq!(
            columns,
            [
                Column::Text(vec![Some("x".into()), Some("y".into())]),
                Column::Integer(vec![Some(1), None]),
                Column::Real(vec![0.5, 1.5]),
                Column::Blob(vec![Some(vec![1, 2]), Some(vec![3])]),
                Column::Text(vec![None, Some("z".into())]),
            ]
        );
        assert_eq!(
            rows.unnest_sql(&columns),
            "INSERT INTO t (a, b, c, d, e) SELECT * FROM UNNEST($1::text[], $2::int8[], \
             $3::float8[], $4::bytea[], $5::text[]) ON CONFLICT (a) DO NOTHING"
        );
        let mut one = BulkInsert::new("INSERT INTO t (a, b, c, d, e)", 5)
            .upsert("ON CONFLICT (a) DO NOTHING");
        one.row(statement.binds[..5].iter().cloned());
        let mut single = Vec::new();
        one.drain_into(&mut single);
        let shape = single[0].rows.expect("shape");
        assert_eq!(
            shape.unnest_sql(&shape.columns(&single[0].binds).expect("columns")),
            rows.unnest_sql(&columns),
            "one row and two rows are the same statement"
        );
    }

    #[test]
    fn a_tenant_keyed_insert_looks_the_key_up_in_both_forms() {
        let mut insert = BulkInsert::new("INSERT INTO t (tenant_key, b, c)", 3).tenant_keyed();
        for n in 0..2 {
            insert.row([
                Bind::Text(format!("tenant-{n}")),
                Bind::Integer(n),
                Bind::Blob(vec![1]),
            ]);
        }
        let mut statements = Vec::new();
        insert.drain_into(&mut statements);
        assert_eq!(
            statements[0].sql,
            "INSERT INTO t (tenant_key, b, c) VALUES \
             ((SELECT tenant_key FROM tenants WHERE id = $1), $2, $3), \
             ((SELECT tenant_key FROM tenants WHERE id = $4), $5, $6)"
        );
        let rows = statements[0].rows.expect("shape");
        let columns = rows.columns(&statements[0].binds).expect("columns");
        assert_eq!(
            rows.unnest_sql(&columns),
            "INSERT INTO t (tenant_key, b, c) SELECT \
             (SELECT tenant_key FROM tenants WHERE id = u.c1), u.c2, u.c3 \
             FROM UNNEST($1::text[], $2::int8[], $3::bytea[]) AS u(c1, c2, c3)"
        );
    }

    #[test]
    fn optional_bytes_make_one_column_with_their_nulls() {
        let mut insert = BulkInsert::new("INSERT INTO t (a)", 1);
        insert.row([Bind::OptionalBlob(Some(vec![7]))]);
        insert.row([Bind::OptionalBlob(None)]);
        insert.row([Bind::Blob(vec![8])]);
        let mut statements = Vec::new();
        insert.drain_into(&mut statements);
        let rows = statements[0].rows.expect("shape");
        assert_eq!(
            rows.columns(&statements[0].binds),
            Some(vec![Column::Blob(vec![Some(vec![7]), None, Some(vec![8])])])
        );
        let mut keyed = BulkInsert::new("INSERT INTO t (tenant_key)", 1).tenant_keyed();
        keyed.row([Bind::Text("tenant".into())]);
        keyed.drain_into(&mut statements);
        assert_eq!(
            statements[1].sql,
            "INSERT INTO t (tenant_key) VALUES ((SELECT tenant_key FROM tenants WHERE id = $1))"
        );
    }

    #[test]
    fn a_column_of_mixed_types_has_no_array_form() {
        let mut insert = BulkInsert::new("INSERT INTO t (a)", 1);
        insert.row([Bind::Text("x".into())]);
        insert.row([Bind::Integer(1)]);
        let mut statements = Vec::new();
        insert.drain_into(&mut statements);
        let rows = statements[0].rows.expect("shape");
        assert_eq!(rows.columns(&statements[0].binds), None);
        assert!(Statement::new("SELECT 1", Vec::new()).rows.is_none());
    }
}
