//! Looking a setting up through the layers, the first that has it wins: a flag, its
//! environment variable, a worker's own table (for the settings a worker may set), our file's
//! top level, then the caller's fallback (Temporal's profile) or the default. The value keeps
//! its source ([`Sourced`], as cargo's `Value<T>` does), so that any later error, one between
//! two settings included, can name where each came from; every resolved value is also
//! recorded for the `config` report, secrets redacted.

use std::collections::HashMap;

use crate::config::file::ConfigFile;
use crate::config::kinds::Kind;
use crate::config::profile::ProfileLayer;
pub use crate::config::source::{Source, Sourced};
use crate::config::table::{Def, Key};
use crate::config::{ConfigError, Env, Result};

/// One line of the `config` report.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub name: String,
    pub value: String,
    pub source: Source,
}

/// The flags as typed, by setting key (a list's values joined with commas).
pub type Flags = HashMap<&'static str, String>;

/// Resolves settings through the layers, recording each for the report.
pub struct Resolver<'a> {
    flags: Flags,
    env: &'a Env,
    /// Our file, the layer under the environment.
    pub(crate) file: Option<ConfigFile>,
    /// Temporal's profile, once read: the layer under our file for the settings it holds.
    pub(crate) profile: Option<ProfileLayer>,
    /// Every setting resolved, for the `config` report: written through [`Resolver::record`].
    report: Vec<Setting>,
}

impl<'a> Resolver<'a> {
    pub fn new(flags: Flags, env: &'a Env) -> Resolver<'a> {
        Resolver {
            flags,
            env,
            file: None,
            profile: None,
            report: Vec::new(),
        }
    }

    pub fn into_report(self) -> Vec<Setting> {
        self.report
    }

    /// The name of a setting in the report: `key`, or `workers.NAME.key` for a worker.
    fn name(def: &Def, worker: Option<&str>) -> String {
        match worker.zip(def.worker_key) {
            Some((w, key)) => format!("workers.{w}.{key}"),
            None => def.key.to_string(),
        }
    }

    /// A key of our file as a source: `key` in `worker`'s table, else at the top level.
    pub fn at_file(&self, worker: Option<&str>, key: &str) -> Source {
        let path = match &self.file {
            Some(file) => file.path.clone(),
            None => Default::default(),
        };
        let key = worker.map_or_else(|| key.to_string(), |w| format!("workers.{w}.{key}"));
        Source::File { path, key }
    }

    /// The raw text of a setting from flag, environment, `worker`'s table, our file or
    /// Temporal's profile, with its source.
    pub fn raw(&self, def: &Def, worker: Option<&str>) -> Option<(String, Source)> {
        if let Some(value) = self.flags.get(def.key) {
            return Some((value.clone(), Source::Flag(def.flag())));
        }
        if let Some(value) = self.env.get(def.env).filter(|v| !v.is_empty()) {
            return Some((value.clone(), Source::Env(def.env.to_string())));
        }
        self.in_file(def, worker).or_else(|| {
            let (p, get) = self.profile.as_ref().zip(def.profile)?;
            Some((get(&p.profile)?, p.source.clone()))
        })
    }

    /// The text of a setting in `worker`'s table (which holds only settings a worker may set),
    /// else our file's top level (which holds only settings of the file).
    fn in_file(&self, def: &Def, worker: Option<&str>) -> Option<(String, Source)> {
        let file = self.file.as_ref()?;
        let in_worker = worker.and_then(|w| file.workers.get(w)?.settings.get(def.key));
        match in_worker {
            Some(text) => Some((text.clone(), self.at_file(worker, def.worker_key?))),
            None => Some((
                file.top.settings.get(def.key)?.clone(),
                self.at_file(None, def.key),
            )),
        }
    }

    /// A setting from the layers, else its default, parsed by its kind and recorded; `None`
    /// only for a setting that is unset unless given.
    pub fn get_opt<K: Kind>(
        &mut self,
        key: Key<K>,
        worker: Option<&str>,
    ) -> Result<Option<Sourced<K::Value>>> {
        let def = key.def;
        let found = self.find(key, worker)?;
        let shown = match &found {
            Some(_) if def.secret => "<redacted>".to_string(),
            Some(s) => K::show(&s.value),
            None => format!("({})", def.unset),
        };
        let source = found.as_ref().map_or(Source::Default, |s| s.source.clone());
        self.record(&Self::name(def, worker), shown, source);
        Ok(found)
    }

    /// A setting with a default, parsed by its kind and recorded.
    pub fn get<K: Kind>(&mut self, key: Key<K>, worker: Option<&str>) -> Result<Sourced<K::Value>> {
        let found = self.get_opt(key, worker)?;
        Ok(found.expect("get is for settings with a default"))
    }

    /// [`get`](Self::get)'s value.
    pub fn value<K: Kind>(&mut self, key: Key<K>, w: Option<&str>) -> Result<K::Value> {
        Ok(self.get(key, w)?.value)
    }

    /// [`get_opt`](Self::get_opt)'s value.
    pub fn maybe<K: Kind>(&mut self, key: Key<K>, w: Option<&str>) -> Result<Option<K::Value>> {
        Ok(self.get_opt(key, w)?.map(|s| s.value))
    }

    /// [`maybe`](Self::maybe), else the value type's default (no names for a list).
    pub fn or_empty<K: Kind<Value: Default>>(
        &mut self,
        key: Key<K>,
        w: Option<&str>,
    ) -> Result<K::Value> {
        Ok(self.maybe(key, w)?.unwrap_or_default())
    }

    /// The setting's text from the layers, else its default, parsed by its kind, not
    /// recorded; a bad value names its source, redacted.
    pub fn find<K: Kind>(
        &self,
        key: Key<K>,
        worker: Option<&str>,
    ) -> Result<Option<Sourced<K::Value>>> {
        let def = key.def;
        let default = def.default.map(|d| (d.to_string(), Source::Default));
        let Some((text, source)) = self.raw(def, worker).or(default) else {
            return Ok(None);
        };
        let refusal = match K::parse(&text) {
            Ok(value) => return Ok(Some(Sourced { value, source })),
            Err(refusal) => refusal.unwrap_or_else(|| format!("expected {}", def.takes())),
        };
        let shown = match def.secret {
            true => "<redacted>".into(),
            false => K::redact(&text),
        };
        // The shape of every bad-value error.
        let problem = format!("invalid value '{shown}': {refusal}");
        Err(ConfigError::at(source, problem))
    }

    /// Adds a line to the report, unless the setting has one (a setting read by two sections
    /// is one setting).
    pub fn record(&mut self, name: &str, value: String, source: Source) {
        if self.report.iter().any(|s| s.name == name) {
            return;
        }
        self.report.push(Setting {
            name: name.to_string(),
            value,
            source,
        });
    }
}

/// Renders the `config` report: one aligned line per setting.
pub fn render_report(report: &[Setting]) -> String {
    let width = |len: fn(&Setting) -> usize| report.iter().map(len).max().unwrap_or(0);
    let (name_width, value_width) = (width(|s| s.name.len()), width(|s| s.value.len()).min(40));
    report
        .iter()
        .map(|s| {
            format!(
                "{:name_width$} = {:value_width$}  ({})\n",
                s.name, s.value, s.source
            )
        })
        .collect()
}
