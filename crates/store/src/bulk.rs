//! Writing many rows in few statements, the way each backend takes them fastest: on SQLite a
//! multi-row `VALUES` list of bound values; on PostgreSQL one bound parameter holding the rows
//! as a JSON array, unpacked on the server by `json_to_recordset`. PostgreSQL spends far longer
//! parsing, planning and binding a statement of thousands of parameters than reading one JSON
//! text, and the client far longer encoding them; the rows stay parameters either way, never
//! SQL text.

use crate::{Conn, Result};
use data_encoding::BASE64;
use std::fmt::Write as _;

/// A column's type, for PostgreSQL's record definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int,
    /// Bytes (sent base64-encoded in the JSON, decoded by the server).
    Bytes,
}

/// One value of a row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cell<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Bytes(&'a [u8]),
}

impl rusqlite::ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match *self {
            Cell::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Cell::Int(Some(v)) => ToSqlOutput::Owned(Value::Integer(v)),
            Cell::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Cell::Text(None) | Cell::Int(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// An `INSERT` of many rows: the table, its columns, and what follows the rows (`ON CONFLICT
/// …`, referring to `excluded`).
pub(crate) struct Insert<'a> {
    pub table: &'a str,
    pub columns: &'a [(&'a str, Kind)],
    pub tail: &'a str,
}

/// Rows per statement on SQLite: well under its limit on bound parameters.
const SQLITE_ROWS: usize = 200;
/// Rows per statement on PostgreSQL: one parameter of a few hundred kilobytes.
const POSTGRES_ROWS: usize = 2_000;

/// On SQLite, the rows in chunks of [`SQLITE_ROWS`], the rest in chunks of powers of two: each
/// number of rows is a statement of its own, and these few (nine a table) stay prepared in each
/// connection's cache, where statements of every size (a batch of the audit writer's is of any)
/// would push the pages' statements out, to be parsed again.
fn sqlite_chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let full = rows.len() / SQLITE_ROWS * SQLITE_ROWS;
    let (whole, mut rest) = rows.split_at(full);
    let tail = std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = 1 << rest.len().ilog2();
        let (chunk, left) = rest.split_at(size);
        rest = left;
        Some(chunk)
    });
    whole.chunks(SQLITE_ROWS).chain(tail)
}

fn is_sqlite(conn: &Conn) -> bool {
    conn.backend_name().eq_ignore_ascii_case("sqlite")
}

impl Insert<'_> {
    /// Writes `rows`, each with one cell per column in order.
    pub(crate) async fn run(&self, conn: &mut Conn, rows: &[Vec<Cell<'_>>]) -> Result<()> {
        if is_sqlite(conn) {
            for chunk in sqlite_chunks(rows) {
                self.values(conn, chunk).await?;
            }
        } else {
            for chunk in rows.chunks(POSTGRES_ROWS) {
                self.recordset(conn, chunk).await?;
            }
        }
        Ok(())
    }

    pub(crate) fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        names.join(", ")
    }

    async fn values(&self, conn: &mut Conn, rows: &[Vec<Cell<'_>>]) -> Result<()> {
        // Plain `?`: SQLite looks named placeholders up by scanning a list, which makes a
        // statement with thousands of `$N` quadratic.
        let row = format!("({})", vec!["?"; self.columns.len()].join(", "));
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {} {}",
            self.table,
            self.column_list(),
            vec![row.as_str(); rows.len()].join(", "),
            self.tail
        );
        // Each number of rows is a statement of its own, kept prepared (see `sqlite_chunks`).
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in rows {
            query = bind_row(query, row);
        }
        query.execute(&mut *conn).await?;
        Ok(())
    }

    /// PostgreSQL: `SELECT` of the columns from the rows in parameter `$param` (a JSON array,
    /// see [`json_rows`]).
    pub(crate) fn select_recordset(&self, param: usize) -> String {
        let selected: Vec<String> = self
            .columns
            .iter()
            .map(|(name, kind)| match kind {
                Kind::Bytes => format!("decode(r.{name}, 'base64')"),
                Kind::Text | Kind::Int => format!("r.{name}"),
            })
            .collect();
        let defined: Vec<String> = self
            .columns
            .iter()
            .map(|(name, kind)| {
                let sql_type = match kind {
                    Kind::Text | Kind::Bytes => "text",
                    Kind::Int => "bigint",
                };
                format!("{name} {sql_type}")
            })
            .collect();
        format!(
            "SELECT {} FROM json_to_recordset(${param}::json) AS r({})",
            selected.join(", "),
            defined.join(", ")
        )
    }

    async fn recordset(&self, conn: &mut Conn, rows: &[Vec<Cell<'_>>]) -> Result<()> {
        let sql = format!(
            "INSERT INTO {} ({}) {} {}",
            self.table,
            self.column_list(),
            self.select_recordset(1),
            self.tail
        );
        let names: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(json_rows(&names, rows))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

/// Binds a row's cells to `query`, in order.
pub(crate) fn bind_row<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    row: &[Cell<'q>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for cell in row {
        query = match *cell {
            Cell::Text(v) => query.bind(v),
            Cell::Int(v) => query.bind(v),
            Cell::Bytes(v) => query.bind(v),
        };
    }
    query
}

/// The rows as a JSON array of objects keyed by the column names, for PostgreSQL's
/// `json_to_recordset`.
pub(crate) fn json_rows(names: &[&str], rows: &[Vec<Cell<'_>>]) -> String {
    let mut out = String::with_capacity(rows.len() * 64 * names.len());
    out.push('[');
    for (r, row) in rows.iter().enumerate() {
        if r > 0 {
            out.push(',');
        }
        out.push('{');
        for (c, (name, cell)) in names.iter().zip(row).enumerate() {
            if c > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
            match *cell {
                Cell::Text(Some(text)) => push_json_string(&mut out, text),
                Cell::Int(Some(n)) => {
                    let _ = write!(out, "{n}");
                }
                Cell::Bytes(bytes) => {
                    out.push('"');
                    out.push_str(&BASE64.encode(bytes));
                    out.push('"');
                }
                Cell::Text(None) | Cell::Int(None) => out.push_str("null"),
            }
        }
        out.push('}');
    }
    out.push(']');
    out
}

/// Appends `text` as a JSON string. (PostgreSQL's `text` cannot hold NUL: a value with one is
/// refused, as it is when bound as a parameter.)
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_rows_go_in_full_chunks_then_powers_of_two() {
        let sizes = |n: usize| -> Vec<usize> {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = sqlite_chunks(&rows).collect();
            let flat: Vec<usize> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(flat, rows, "every row once, in order");
            chunks.iter().map(|c| c.len()).collect()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(11), vec![8, 2, 1]);
        assert_eq!(sizes(256), vec![200, 32, 16, 8]);
        assert_eq!(sizes(400), vec![200, 200]);
        for n in 0..1_000 {
            assert!(
                sizes(n)
                    .iter()
                    .all(|s| *s == SQLITE_ROWS || s.is_power_of_two())
            );
        }
    }

    #[test]
    fn rows_become_a_json_array_postgresql_reads_back() {
        let rows = vec![
            vec![
                Cell::Text(Some("quote \" back \\ line\n\u{1} ü")),
                Cell::Int(Some(-5)),
                Cell::Bytes(&[0, 255, 1]),
            ],
            vec![Cell::Text(None), Cell::Int(None), Cell::Bytes(&[])],
        ];
        let json = json_rows(&["a", "n", "b"], &rows);
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(
            parsed,
            serde_json::json!([
                {"a": "quote \" back \\ line\n\u{1} ü", "n": -5, "b": "AP8B"},
                {"a": null, "n": null, "b": ""}
            ])
        );
    }
}
