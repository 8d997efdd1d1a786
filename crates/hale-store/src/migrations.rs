//! The migrations as each engine runs them. Both engines run the files of `migrations/` as
//! written, except lines marked for one engine: a line that starts with `--sqlite:` or
//! `--postgres:` is a comment to the other engine and, with the marker removed, a statement
//! line to its own. That is how one file says `WITHOUT ROWID` (SQLite) or moves data with each
//! engine's own functions, while everything else stays one text for both.

use std::borrow::Cow;

use sqlx::migrate::{Migration, Migrator};

use crate::Backend;

/// The marker that opens a line meant for `backend` only.
const fn marker(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "--sqlite:",
        Backend::Postgres => "--postgres:",
    }
}

/// `sql` as `backend` runs it: its own marked lines unmarked, everything else unchanged. A
/// text without markers for `backend` comes back as it was, so migrations written before
/// markers existed keep their checksums.
pub(crate) fn for_engine(sql: &str, backend: Backend) -> Cow<'_, str> {
    let marker = marker(backend);
    if !sql
        .lines()
        .any(|line| line.trim_start().starts_with(marker))
    {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    for line in sql.split_inclusive('\n') {
        let trimmed = line.trim_start();
        match trimmed.strip_prefix(marker) {
            Some(rest) => out.push_str(rest),
            None => out.push_str(line),
        }
    }
    Cow::Owned(out)
}

/// The migrator for `backend`: every migration of `migrations/`, each as that engine runs it.
pub(crate) fn migrator(backend: Backend) -> Migrator {
    let migrations: Vec<Migration> = crate::MIGRATOR
        .iter()
        .map(|migration| match for_engine(&migration.sql, backend) {
            Cow::Borrowed(_) => migration.clone(),
            Cow::Owned(sql) => Migration::new(
                migration.version,
                migration.description.clone(),
                migration.migration_type,
                Cow::Owned(sql),
                migration.no_tx,
            ),
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn marked_lines_belong_to_their_engine() {
        let sql = "CREATE TABLE t (a BIGINT)\n--sqlite: WITHOUT ROWID\n;\n\
                   --postgres: SELECT decode('00', 'hex');\n  --sqlite: SELECT unhex('00');\n";
        assert_eq!(
            for_engine(sql, Backend::Sqlite),
            "CREATE TABLE t (a BIGINT)\n WITHOUT ROWID\n;\n\
             --postgres: SELECT decode('00', 'hex');\n SELECT unhex('00');\n"
        );
        assert_eq!(
            for_engine(sql, Backend::Postgres),
            "CREATE TABLE t (a BIGINT)\n--sqlite: WITHOUT ROWID\n;\n \
             SELECT decode('00', 'hex');\n  --sqlite: SELECT unhex('00');\n"
        );
    }

    #[test]
    fn every_shipped_migration_parses_for_both_engines_and_old_ones_keep_their_checksums() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let migrator = migrator(backend);
            assert_eq!(migrator.iter().count(), crate::MIGRATOR.iter().count());
            for (ours, shipped) in migrator.iter().zip(crate::MIGRATOR.iter()) {
                assert_eq!(ours.version, shipped.version);
                let marked = shipped.sql.contains(marker(backend));
                assert_eq!(
                    ours.checksum != shipped.checksum,
                    marked,
                    "{}",
                    ours.version
                );
            }
        }
    }

    proptest! {
        /// Text with no marker for an engine is never changed for it; the other engine's lines
        /// pass through too.
        #[test]
        fn unmarked_text_is_left_alone(lines in proptest::collection::vec("[ -~]{0,40}", 0..12)) {
            let sql = lines.join("\n");
            for backend in [Backend::Sqlite, Backend::Postgres] {
                if !sql.lines().any(|line| line.trim_start().starts_with(marker(backend))) {
                    prop_assert_eq!(for_engine(&sql, backend), sql.as_str());
                }
            }
        }

        /// Unmarking removes exactly the marker: the text's length drops by the marker's length
        /// times the number of marked lines, and no line of the other engine is touched.
        #[test]
        fn unmarking_removes_only_markers(
            lines in proptest::collection::vec(("[a-z0-9 ;(),']{0,30}", 0u8..3), 0..12)
        ) {
            let sql: String = lines
                .iter()
                .map(|(text, kind)| match kind {
                    0 => format!("--sqlite:{text}\n"),
                    1 => format!("--postgres:{text}\n"),
                    _ => format!("x{text}\n"),
                })
                .collect();
            let sqlite_lines = lines.iter().filter(|(_, kind)| *kind == 0).count();
            let unmarked = for_engine(&sql, Backend::Sqlite);
            prop_assert_eq!(unmarked.len(), sql.len() - sqlite_lines * "--sqlite:".len());
            let postgres_kept = unmarked.lines().filter(|line| line.starts_with("--postgres:")).count();
            prop_assert_eq!(postgres_kept, lines.iter().filter(|(_, kind)| *kind == 1).count());
        }
    }
}
