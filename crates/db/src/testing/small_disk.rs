//! A file system of a few MiB that a test fills up, to see what a full disk does to each
//! write: a tmpfs mounted on a temp dir (SQLite's file alone on it), or a throw-away
//! PostgreSQL cluster whose data directory sits alone on one (`scripts/pg-small-disk`).
//! Mounting needs root (or `CAP_SYS_ADMIN`); without it the test skips (see `require`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

#[cfg(feature = "sqlite")]
/// How big the SQLite disk is: room for the schema, a WAL and a few hundred users, and quick
/// to fill.
pub(super) const SQLITE_DISK_BYTES: u64 = 2 * 1024 * 1024;

#[cfg(feature = "postgres")]
/// How big the PostgreSQL data directory's disk is: a fresh cluster's files take about 40 MiB
/// (its WAL lives elsewhere, so that a full disk refuses writes with `53100` rather than
/// stopping the server).
pub(super) const POSTGRES_DISK_BYTES: u64 = 64 * 1024 * 1024;

/// A tmpfs mounted at `mount_point`, unmounted when dropped (and the cluster on it stopped).
pub(super) struct SmallDisk {
    pub(super) mount_point: PathBuf,
    /// The folder `scripts/pg-small-disk` works in, for a PostgreSQL cluster.
    cluster: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

/// The workspace's `scripts/` folder.
pub(super) fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(name)
}

impl SmallDisk {
    /// A tmpfs of `bytes` on a fresh temp dir; `Err` says why it cannot be had.
    #[cfg(feature = "sqlite")]
    pub(super) fn mount(bytes: u64) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("no temp dir: {e}"))?;
        let mount_point = dir.path().to_path_buf();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes}"))
            .arg("tmpfs")
            .arg(&mount_point)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Ok(SmallDisk {
                mount_point,
                cluster: None,
                _dir: dir,
            }),
            Ok(out) => Err(format!(
                "mount -t tmpfs failed (run as root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!("cannot run mount: {e}")),
        }
    }

    /// A throw-away PostgreSQL cluster with its data directory on a tmpfs of
    /// [`POSTGRES_DISK_BYTES`]; answers it and the URL of its `postgres` database.
    #[cfg(feature = "postgres")]
    pub(super) fn postgres_cluster() -> Result<(Self, String), String> {
        let dir = tempfile::tempdir().map_err(|e| format!("no temp dir: {e}"))?;
        let out = Command::new(script("pg-small-disk"))
            .arg("start")
            .arg(dir.path())
            .arg(POSTGRES_DISK_BYTES.to_string())
            .output()
            .map_err(|e| format!("cannot run scripts/pg-small-disk: {e}"))?;
        let disk = SmallDisk {
            mount_point: dir.path().join("disk"),
            cluster: Some(dir.path().to_path_buf()),
            _dir: dir,
        };
        if !out.status.success() {
            return Err(format!(
                "scripts/pg-small-disk start failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Ok((disk, url))
    }

    fn filler(&self) -> PathBuf {
        self.mount_point.join("filler")
    }

    /// Writes a filler file until the file system refuses another byte.
    pub(super) fn fill(&self) {
        let mut filler = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .expect("create the filler file");
        // Large chunks first, then single bytes: tmpfs allocates whole pages, so the last
        // partial page is taken too and nothing is left for the database.
        for chunk in [64 * 1024, 4096, 1] {
            let bytes = vec![0u8; chunk];
            while filler.write_all(&bytes).is_ok() {}
        }
        let full = disk_free_bytes(&self.mount_point);
        assert_eq!(full, Some(0), "the small disk should be full");
    }

    /// Removes the filler file.
    pub(super) fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler file");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if let Some(cluster) = &self.cluster {
            // Stops the server and unmounts.
            let _ = Command::new(script("pg-small-disk"))
                .arg("stop")
                .arg(cluster)
                .output();
            return;
        }
        // Lazy: a pool that outlives the test database may still hold the file open.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
    }
}

/// Free bytes on the file system at `path`, from `df` (no libc binding needed for a test).
fn disk_free_bytes(path: &Path) -> Option<u64> {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}
