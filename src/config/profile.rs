//! Temporal's own profile file (`temporal.toml`): the layer under ours for connection
//! settings. We find and read the file ([`read`], through the bounded reader, with the
//! environment we were given); the Temporal client's envconfig loader parses the data.

use std::path::{Path, PathBuf};

use temporalio_client::envconfig::{
    ClientConfigProfile, DataSource, LoadClientConfigProfileOptions,
};
use temporalio_common::envconfig::load_client_config_profile;

use crate::config::source::{Source, Sourced};
use crate::config::{ConfigError, Env, Result};
use crate::files::{self, ReadError};

/// The variable that names the profile file.
pub const CONFIG_FILE_ENV: &str = "TEMPORAL_CONFIG_FILE";

/// Temporal's profile file as read: where it is, and its bytes (`None` when absent, which is
/// no error: most setups have none).
#[derive(Debug, Clone)]
pub struct ProfileFile {
    pub path: String,
    pub data: Option<Vec<u8>>,
}

/// Temporal's profile file through the client's envconfig loader, without its environment
/// overrides (those are one layer up, in ours).
pub struct ProfileLayer {
    pub profile: ClientConfigProfile,
    pub source: Source,
}

/// Finds and reads the profile file: `TEMPORAL_CONFIG_FILE`, else
/// `$XDG_CONFIG_HOME/temporalio/temporal.toml`, else `$HOME/.config/temporalio/temporal.toml`
/// (the loader's own order), from the environment we were given.
pub fn read(env: &Env) -> Result<Option<ProfileFile>> {
    let (path, from) = match env.get(CONFIG_FILE_ENV).filter(|p| !p.is_empty()) {
        Some(path) => (path.clone(), Source::Env(CONFIG_FILE_ENV.into())),
        None => match default_path(env) {
            Some(path) => (path, Source::Default),
            None => return Ok(None),
        },
    };
    let data = match files::read(Path::new(&path), files::PROFILE_FILE) {
        Ok(data) => Some(data),
        Err(ReadError::NotFound) => None,
        Err(e) => {
            let problem = format!("Temporal profile file {path} (from {from}): {e}");
            return Err(ConfigError(problem));
        }
    };
    Ok(Some(ProfileFile { path, data }))
}

/// The profile `chosen` (`--profile`, `TEMPORAL_PROFILE`, else `default`, as the resolver
/// found it) from the file's data.
pub fn load(chosen: Sourced<String>, file: Option<&ProfileFile>) -> Result<ProfileLayer> {
    let file_path = file.map_or_else(|| "(no profile file)".into(), |f| f.path.clone());
    let data = file.and_then(|f| f.data.clone()).unwrap_or_default();
    let options = LoadClientConfigProfileOptions::builder()
        .config_source(DataSource::Data(data))
        // Naming the default profile is the same as naming none: no error when it is absent.
        .maybe_config_file_profile(Some(chosen.value.clone()).filter(|name| name != "default"))
        .disable_env(true)
        .build();
    let profile = load_client_config_profile(options, Some(&Default::default())).map_err(|e| {
        use temporalio_client::envconfig::ConfigError as E;
        ConfigError(match e {
            E::ProfileNotFound(name) => format!(
                "Temporal profile '{name}' (from {}) not found in {file_path}",
                chosen.source
            ),
            other => format!("Temporal profile file {file_path}: {other}"),
        })
    })?;
    Ok(ProfileLayer {
        profile,
        source: Source::Profile {
            path: file_path,
            profile: chosen.value,
        },
    })
}

/// Where Temporal's loader looks by default (the `dirs` crate's config directory on Linux:
/// `XDG_CONFIG_HOME` when it is an absolute path, else `HOME/.config`).
fn default_path(env: &Env) -> Option<String> {
    let xdg = env
        .get("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let home = || Some(Path::new(env.get("HOME").filter(|h| !h.is_empty())?).join(".config"));
    let path = xdg.or_else(home)?.join("temporalio").join("temporal.toml");
    Some(path.to_string_lossy().into_owned())
}
