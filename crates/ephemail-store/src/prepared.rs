//! Raw SQL that is prepared once per connection. diesel prepares `sql_query`, `UPDATE`s and
//! multi-row inserts again on every run (their text may change from run to run), which costs a
//! round trip and a parse and plan in PostgreSQL each time. The ingest writer's statements
//! never change their text (rows go in as arrays), so they run as [`Prepared`]: diesel-async
//! keeps them in its statement cache, keyed by that text, and each run is one round trip. A text
//! made at run time (one of a few forms) is cached the same way, once per form.

use std::borrow::Cow;

use diesel::{
    expression::AsExpression,
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::Untyped,
    QueryResult,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// A statement with `$1`, `$2`, ... placeholders and its values, bound in that order.
pub struct Prepared<'a> {
    sql: Cow<'static, str>,
    values: Vec<Box<dyn QueryFragment<Pg> + Send + 'a>>,
}

impl<'a> Prepared<'a> {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            values: Vec::new(),
        }
    }

    /// Binds the next placeholder to `value` as SQL type `ST`.
    pub fn bind<ST, T>(mut self, value: T) -> Self
    where
        T: AsExpression<ST>,
        T::Expression: QueryFragment<Pg> + Send + 'a,
        ST: diesel::sql_types::SqlType + diesel::expression::TypedExpressionType,
    {
        self.values.push(Box::new(value.as_expression()));
        self
    }
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Each `$n` of the text becomes the n-th value (diesel numbers binds in the order they
        // are pushed, so a value used twice is sent twice).
        let mut rest = &*self.sql;
        while let Some(dollar) = rest.find('$') {
            let after = &rest[dollar + 1..];
            let digits = after
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len());
            if digits == 0 {
                out.push_sql(&rest[..=dollar]);
                rest = after;
                continue;
            }
            out.push_sql(&rest[..dollar]);
            let value = after[..digits]
                .parse::<usize>()
                .ok()
                .and_then(|number| number.checked_sub(1))
                .and_then(|index| self.values.get(index))
                .ok_or_else(|| unknown_placeholder(&self.sql))?;
            value.walk_ast(out.reborrow())?;
            rest = &after[digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

/// One column of `rows`, for binding as an array (`unnest($n::type[])` in the statement).
pub fn column<'r, R, T>(rows: &'r [R], value: impl FnMut(&'r R) -> T) -> Vec<T> {
    rows.iter().map(value).collect()
}

/// A list of texts as one PostgreSQL array literal (`rows_column::text[]` turns it back): text
/// arrays of different lengths cannot be the rows of one SQL array.
pub fn text_array<T: AsRef<str>>(values: &[T]) -> String {
    let mut literal = String::from("{");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            literal.push(',');
        }
        // Every element quoted, so that none reads as NULL, and `"` and `\` escaped inside.
        literal.push('"');
        for c in value.as_ref().chars() {
            if matches!(c, '"' | '\\') {
                literal.push('\\');
            }
            literal.push(c);
        }
        literal.push('"');
    }
    literal.push('}');
    literal
}

/// Transaction control as prepared statements, so that `BEGIN` and `COMMIT` can be pipelined
/// with the statements they enclose (diesel's `transaction` spends a round trip on each).
/// Statements pipelined on one connection run in the order they are first polled: diesel-async
/// prepares them one at a time under its statement-cache lock, so an uncached statement cannot
/// be overtaken by a cached one polled after it.
pub async fn begin(mut conn: &AsyncPgConnection) -> QueryResult<()> {
    Prepared::new("BEGIN").execute(&mut conn).await.map(drop)
}

/// Commits; run after a failed statement it rolls back instead (and succeeds), so callers must
/// see that statement's error, as `try_join!` over the pipeline does.
pub async fn commit(mut conn: &AsyncPgConnection) -> QueryResult<()> {
    Prepared::new("COMMIT").execute(&mut conn).await.map(drop)
}

/// Ends a transaction left open by a failed pipeline (a no-op outside one).
pub async fn rollback(mut conn: &AsyncPgConnection) -> QueryResult<()> {
    Prepared::new("ROLLBACK").execute(&mut conn).await.map(drop)
}

fn unknown_placeholder(sql: &str) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(
        format!("a placeholder without a bound value in: {sql}").into(),
    )
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl QueryId for Prepared<'_> {
    // Not static: diesel-async then caches the statement by its SQL text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::{Integer, Text};

    use super::*;

    #[test]
    fn placeholders_become_the_values_in_order() {
        let statement = Prepared::new("SELECT $2::text, $1 + $1, '$'")
            .bind::<Integer, _>(7)
            .bind::<Text, _>("x");
        let sql = diesel::debug_query::<Pg, _>(&statement).to_string();
        assert_eq!(sql, "SELECT $1::text, $2 + $3, '$' -- binds: [\"x\", 7, 7]");
    }

    #[test]
    fn a_value_the_text_does_not_name_is_not_sent() {
        let statement = Prepared::new(String::from("SELECT $3"))
            .bind::<Integer, _>(1)
            .bind::<Integer, _>(2)
            .bind::<Text, _>("third");
        let sql = diesel::debug_query::<Pg, _>(&statement).to_string();
        assert_eq!(sql, "SELECT $1 -- binds: [\"third\"]");
    }

    #[test]
    fn texts_become_an_array_literal_with_every_element_quoted() {
        assert_eq!(text_array::<&str>(&[]), "{}");
        assert_eq!(
            text_array(&["a", "NULL", r#"q"u\o,te{}"#]),
            r#"{"a","NULL","q\"u\\o,te{}"}"#
        );
    }

    #[test]
    fn a_placeholder_without_a_value_is_an_error() {
        let statement = Prepared::new("SELECT $2").bind::<Integer, _>(7);
        let mut builder = <Pg as diesel::backend::Backend>::QueryBuilder::default();
        assert!(statement.to_sql(&mut builder, &Pg).is_err());
    }
}
