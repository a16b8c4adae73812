//! The ledger's migrations, embedded in the binary.
//!
//! `sqlx::migrate!` does the same at compile time, but it needs sqlx's `macros` feature, which
//! builds a second copy of sqlx-sqlite, sqlx-postgres and SQLite's C source for the compiler
//! (about a fifth of a clean release build). The files are listed here instead; a test checks
//! the list against `migrations/` so a new file cannot be forgotten. Versions, descriptions and
//! checksums are derived as sqlx derives them from file names and contents, so ledgers made by
//! earlier builds (with the macro) are recognised as ours.

use std::borrow::Cow;

use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// A database's migrations: (file name, SQL).
#[derive(Debug, Clone, Copy)]
pub(super) struct Embedded(&'static [(&'static str, &'static str)]);

macro_rules! embedded {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        Embedded(&[$(($file, include_str!(concat!("../../migrations/", $dir, "/", $file)))),+])
    };
}

pub(super) const SQLITE: Embedded = embedded!("sqlite":
    "20260501000000_mint_records.sql",
    "20261125000000_leases.sql",
    "20261130000000_finished.sql",
    "20261130000001_refresher.sql",
);

pub(super) const POSTGRES: Embedded = embedded!("postgres":
    "20260501000000_mint_records.sql",
    "20261125000000_leases.sql",
    "20261130000000_finished.sql",
    "20261130000001_refresher.sql",
);

impl Embedded {
    /// The migrator of these migrations.
    pub(super) fn migrator(self) -> Migrator {
        Migrator::new(self)
            .now_or_never()
            .expect("embedded migrations resolve without waiting")
            .expect("embedded migration file names are `<version>_<description>.sql`")
    }

    fn migrations(self) -> Result<Vec<Migration>, BoxDynError> {
        let mut migrations = self
            .0
            .iter()
            .map(|&(file, sql)| {
                // As sqlx's own source does: `<version>_<description>.sql`, `_` shown as ` `,
                // and a first line `-- no-transaction` opts out of the transaction.
                let (version, rest) = file
                    .split_once('_')
                    .ok_or_else(|| format!("{file}: no `_` after the version"))?;
                let version: i64 = version
                    .parse()
                    .map_err(|_| format!("{file}: the version is not a number"))?;
                let kind = MigrationType::from_filename(rest);
                let description = rest.trim_end_matches(kind.suffix()).replace('_', " ");
                Ok(Migration::new(
                    version,
                    Cow::Owned(description),
                    kind,
                    Cow::Borrowed(sql),
                    sql.starts_with("-- no-transaction"),
                ))
            })
            .collect::<Result<Vec<_>, BoxDynError>>()?;
        migrations.sort_by_key(|m| m.version);
        Ok(migrations)
    }
}

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(std::future::ready(self.migrations()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded list is the directory, file for file, byte for byte.
    #[test]
    fn every_migration_file_is_embedded() {
        for (dir, embedded) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    let name = e.file_name().into_string().unwrap();
                    (name, std::fs::read_to_string(e.path()).unwrap())
                })
                .collect();
            on_disk.sort();
            let listed: Vec<(String, String)> = embedded
                .0
                .iter()
                .map(|&(f, s)| (f.to_owned(), s.to_owned()))
                .collect();
            assert_eq!(listed, on_disk, "migrations/{dir}");
        }
    }

    /// What sqlx's directory source makes of the same files: versions, descriptions, checksums.
    #[tokio::test]
    async fn the_embedded_migrator_is_the_directory_migrator() {
        for (dir, embedded) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let from_dir = Migrator::new(path.as_path()).await.unwrap();
            let ours = embedded.migrator();
            let facts = |m: &Migrator| -> Vec<_> {
                m.iter()
                    .map(|m| {
                        (
                            m.version,
                            m.description.to_string(),
                            m.checksum.to_vec(),
                            m.no_tx,
                            m.migration_type.suffix(),
                        )
                    })
                    .collect()
            };
            assert_eq!(facts(&ours), facts(&from_dir), "migrations/{dir}");
            assert_eq!(ours.iter().count(), 4, "migrations/{dir}");
        }
    }
}
