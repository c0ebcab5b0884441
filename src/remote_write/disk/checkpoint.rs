//! The reader checkpoint: the id of the first unacknowledged record, as
//! `[u64 LE id][u32 LE crc32c(id bytes)]`, written atomically (temp file, fsync, rename,
//! fsync of the directory).

use super::fs::{FileWriter, Fs};
use std::io;
use std::path::Path;

pub const CHECKPOINT_NAME: &str = "checkpoint";
pub const CHECKPOINT_TMP_NAME: &str = "checkpoint.tmp";
const CHECKPOINT_LEN: usize = 12;

pub fn encode(first_unacked: u64) -> [u8; CHECKPOINT_LEN] {
    let mut out = [0u8; CHECKPOINT_LEN];
    out[..8].copy_from_slice(&first_unacked.to_le_bytes());
    let crc = crc32c::crc32c(&out[..8]);
    out[8..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The id in a checkpoint file's content, or `None` if the content is not a valid checkpoint.
pub fn decode(bytes: &[u8]) -> Option<u64> {
    if bytes.len() != CHECKPOINT_LEN {
        return None;
    }
    let crc = u32::from_le_bytes(bytes[8..].try_into().ok()?);
    if crc32c::crc32c(&bytes[..8]) != crc {
        return None;
    }
    Some(u64::from_le_bytes(bytes[..8].try_into().ok()?))
}

/// Which step of a checkpoint write failed.
#[derive(Debug)]
pub struct WriteError {
    pub op: &'static str,
    pub path: std::path::PathBuf,
    pub source: io::Error,
}

/// Writes the checkpoint atomically: after this returns, a crash leaves either this
/// checkpoint or (had it failed) the previous one.
pub fn write<F: Fs>(fs: &F, dir: &Path, first_unacked: u64) -> Result<(), WriteError> {
    let tmp = dir.join(CHECKPOINT_TMP_NAME);
    let dst = dir.join(CHECKPOINT_NAME);
    let err = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError { op, path, source }
    };
    let mut file = fs.create(&tmp).map_err(err("create", &tmp))?;
    file.write_all(&encode(first_unacked))
        .map_err(err("write", &tmp))?;
    file.sync().map_err(err("fsync", &tmp))?;
    drop(file);
    fs.rename(&tmp, &dst).map_err(err("rename", &tmp))?;
    fs.sync_dir(dir).map_err(err("fsync directory", dir))?;
    Ok(())
}
