//! Temporal's own profile file (`temporal.toml`), read by the Temporal client's envconfig
//! loader: the layer under ours for connection settings.

use std::path::PathBuf;

use temporalio_client::envconfig::{ClientConfigProfile, LoadClientConfigProfileOptions};
use temporalio_common::envconfig::load_client_config_profile;

use crate::config::keys::PROFILE;
use crate::config::layers::{Resolver, Source};
use crate::config::{ConfigError, Env};

/// Temporal's profile file through the client's envconfig loader, without its environment
/// overrides (those are one layer up, in ours).
pub struct ProfileLayer {
    pub profile: ClientConfigProfile,
    pub source: Source,
}

pub fn load(resolver: &mut Resolver<'_>, env: &Env) -> Result<ProfileLayer, ConfigError> {
    let chosen = resolver.raw(&PROFILE)?;
    let file_path = env
        .get("TEMPORAL_CONFIG_FILE")
        .filter(|p| !p.is_empty())
        .cloned()
        .or_else(default_profile_path)
        .unwrap_or_else(|| "temporal.toml".into());
    let (name, name_source) = match &chosen {
        Some((name, source)) => (name.clone(), source.clone()),
        None => ("default".to_string(), Source::Default),
    };
    resolver.record(PROFILE.name, name.clone(), name_source.clone());
    let options = LoadClientConfigProfileOptions::builder()
        // Naming the default profile is the same as naming none: no error when it is absent.
        .maybe_config_file_profile(
            chosen
                .as_ref()
                .map(|(name, _)| name.clone())
                .filter(|name| name != "default"),
        )
        .disable_env(true)
        .build();
    let profile = load_client_config_profile(options, Some(env.vars())).map_err(|e| {
        use temporalio_client::envconfig::ConfigError as E;
        match e {
            E::ProfileNotFound(name) => ConfigError(format!(
                "Temporal profile '{name}' (from {name_source}) not found in {file_path}"
            )),
            other => ConfigError(format!("Temporal profile file {file_path}: {other}")),
        }
    })?;
    Ok(ProfileLayer {
        profile,
        source: Source::Profile {
            path: file_path,
            profile: name,
        },
    })
}

fn default_profile_path() -> Option<String> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(
        base.join("temporalio")
            .join("temporal.toml")
            .to_string_lossy()
            .into_owned(),
    )
}
