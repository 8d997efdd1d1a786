//! Statements assembled at run time: bound values of either engine's column types, and
//! multi-row `INSERT`s, so the writer spends one round trip on a whole batch of rows.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A value bound to a placeholder.
#[derive(Clone, Debug)]
pub(crate) enum Bind {
    Text(String),
    OptionalText(Option<String>),
    Integer(i64),
}

/// Binds `binds`, in order, to `sql`'s `$1…$n`.
pub(crate) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::OptionalText(text) => query.bind(text.as_deref()),
            Bind::Integer(number) => query.bind(*number),
        };
    }
    query
}

/// `$first, $first+1, …` for one row of `width` values, in parentheses.
pub(crate) fn placeholders(first: usize, width: usize) -> String {
    let list: Vec<String> = (first..first + width).map(|n| format!("${n}")).collect();
    format!("({})", list.join(", "))
}

/// Rows for one multi-row `INSERT INTO table (columns) VALUES (…), (…)`.
pub(crate) struct BulkInsert {
    head: &'static str,
    width: usize,
    values: Vec<Bind>,
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
        }
    }

    pub(crate) fn row(&mut self, values: impl IntoIterator<Item = Bind>) {
        let before = self.values.len();
        self.values.extend(values);
        debug_assert_eq!(self.values.len() - before, self.width);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Inserts the rows gathered so far and starts over.
    pub(crate) async fn flush(&mut self, connection: &mut AnyConnection) -> Result<(), StoreError> {
        if !self.is_empty() {
            self.execute(connection).await?;
            self.values.clear();
        }
        Ok(())
    }

    pub(crate) async fn execute(&self, connection: &mut AnyConnection) -> Result<(), StoreError> {
        for chunk in self.values.chunks(self.width * ROWS_PER_STATEMENT) {
            let rows = chunk.len() / self.width;
            let groups: Vec<String> = (0..rows)
                .map(|row| placeholders(row * self.width + 1, self.width))
                .collect();
            let sql = format!("{} VALUES {}", self.head, groups.join(", "));
            bind_all(sqlx::query(&sql), chunk)
                .execute(&mut *connection)
                .await?;
        }
        Ok(())
    }
}
