//! Configuration loading: embedded defaults, then a TOML file, then the
//! environment.
//!
//! Every daemon has a configuration struct that implements `Default` (the
//! embedded defaults a devnet runs on), `Serialize` and `Deserialize`. An
//! environment variable `PREFIX_SECTION__KEY=value` overrides `[section] key`
//! of the file; a double underscore separates nesting levels, so
//! `LAMBDA_DB_STORAGE__SYNC_WRITES=false` sets `storage.sync_writes`.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file named on the command line does not exist.
    #[error("configuration file {path} does not exist")]
    Missing {
        /// The path that was given.
        path: PathBuf,
    },
    /// The file or an environment override does not fit the schema.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Loads a configuration: `T::default()`, overlaid by the TOML file at `file`
/// (if given), overlaid by environment variables starting with `env_prefix`.
///
/// Unknown keys in the file are an error when `T` denies them
/// (`#[serde(deny_unknown_fields)]`), so a typo is reported instead of being
/// silently ignored.
pub fn load<T>(file: Option<&Path>, env_prefix: &str) -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::Missing {
                path: path.to_path_buf(),
            });
        }
        figment = figment.merge(Toml::file(path));
    }
    figment = figment.merge(Env::prefixed(env_prefix).split("__"));
    figment
        .extract()
        .map_err(|e| ConfigError::Invalid(e.to_string()))
}

/// Renders a configuration as TOML, for `print-config` commands and for
/// writing generated configuration files.
pub fn to_toml<T: Serialize>(config: &T) -> Result<String, ConfigError> {
    toml::to_string_pretty(config).map_err(|e| ConfigError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        depth: u32,
        name: String,
    }

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Conf {
        port: u16,
        inner: Inner,
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn file_then_env_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "port = 7\n[inner]\nname = \"file\"\n").unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("TESTCONF_INNER__DEPTH", "9");
            let c: Conf = load(Some(&path), "TESTCONF_").unwrap();
            assert_eq!(c.port, 7);
            assert_eq!(c.inner.name, "file");
            assert_eq!(c.inner.depth, 9);
            Ok(())
        });
    }

    #[test]
    fn missing_file_and_unknown_key_are_errors() {
        let err = load::<Conf>(Some(Path::new("/nonexistent/x.toml")), "X_").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.toml"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "prot = 7\n").unwrap();
        let err = load::<Conf>(Some(&path), "X_").unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
    }
}
