//! A directory laid out as the kubelet lays out a Secret volume, and updated the same way: the
//! files live in a timestamped directory, `..data` points at it, and each file name is a
//! symlink through `..data`. An update writes a new timestamped directory, points a temporary
//! symlink at it and renames that over `..data`: one atomic step in which every file changes
//! at once; the files themselves never change in place.

use std::os::unix::fs::symlink;
use std::path::PathBuf;

use super::Scratch;

pub struct SecretVolume {
    dir: PathBuf,
    version: u32,
    _scratch: Scratch,
}

impl SecretVolume {
    pub fn new(files: &[(&str, &[u8])]) -> SecretVolume {
        let scratch = Scratch::new("secret-volume");
        let mut volume = SecretVolume {
            dir: scratch.0.clone(),
            version: 0,
            _scratch: scratch,
        };
        volume.update(files);
        volume
    }

    /// The path a container reads a key at.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Replaces every file at once, as the kubelet does when the Secret changes.
    pub fn update(&mut self, files: &[(&str, &[u8])]) {
        self.version += 1;
        let version = format!(
            "..2026_12_02_00_00_{:02}.{:09}",
            self.version % 60,
            self.version
        );
        let fresh = self.dir.join(&version);
        std::fs::create_dir(&fresh).unwrap();
        for (name, data) in files {
            std::fs::write(fresh.join(name), data).unwrap();
        }
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        let tmp = self.dir.join("..data_tmp");
        symlink(&version, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        for (name, _) in files {
            let link = self.dir.join(name);
            if std::fs::symlink_metadata(&link).is_err() {
                symlink(format!("..data/{name}"), &link).unwrap();
            }
        }
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}
