//! Writing snapshots to disk so that a crash never leaves a torn file: used by
//! the control plane's store and the data plane's snapshot cache.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `dir/name` via a temp file, fsync and rename, then
/// fsyncs the directory: readers see the old file or the new one, whole.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_whole_files() {
        let dir = std::env::temp_dir().join(format!("tollgate-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        super::write_atomic(&dir, "f", b"one").expect("write");
        super::write_atomic(&dir, "f", b"two two").expect("rewrite");
        assert_eq!(std::fs::read(dir.join("f")).expect("read"), b"two two");
        assert!(!dir.join(".f.tmp").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
