//! The file operations the disk queue needs, behind a trait: [`StdFs`] is the real file
//! system; [`MemFs`] is an in-memory fake that models what survives a crash, for tests.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The file system operations of the disk queue. Paths are whole paths; `list` returns the
/// file names in a directory.
pub trait Fs {
    /// A file open for appending.
    type Writer: FileWriter;
    /// A file open for reading at offsets.
    type Reader: FileReader;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates an empty file (truncating one that exists) open for appending.
    fn create(&self, path: &Path) -> io::Result<Self::Writer>;
    /// Opens an existing file for appending at its end.
    fn open_append(&self, path: &Path) -> io::Result<Self::Writer>;
    fn open_read(&self, path: &Path) -> io::Result<Self::Reader>;
    /// The whole content of a (small) file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Cuts a file to `len` bytes, durably (the file is synced).
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Renames a file; durable only after [`Fs::sync_dir`] of its directory.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file; durable only after [`Fs::sync_dir`] of its directory.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// A file open for appending.
pub trait FileWriter {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable (fdatasync).
    fn sync(&mut self) -> io::Result<()>;
}

/// A file open for reading.
pub trait FileReader {
    /// The file's length in bytes.
    fn size(&mut self) -> io::Result<u64>;
    /// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the file.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

/// The real file system (`std::fs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

impl FileWriter for std::fs::File {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        Write::write_all(self, buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

impl FileReader for std::fs::File {
    fn size(&mut self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.seek(SeekFrom::Start(offset))?;
        let mut filled = 0;
        while filled < buf.len() {
            match self.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

impl Fs for StdFs {
    type Writer = std::fs::File;
    type Reader = std::fs::File;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn create(&self, path: &Path) -> io::Result<Self::Writer> {
        // Append mode (so writes after a `truncate` land at the end); emptied by hand since
        // `append` and `truncate` cannot be combined.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.set_len(0)?;
        Ok(file)
    }

    fn open_append(&self, path: &Path) -> io::Result<Self::Writer> {
        std::fs::OpenOptions::new().append(true).open(path)
    }

    fn open_read(&self, path: &Path) -> io::Result<Self::Reader> {
        std::fs::File::open(path)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            std::fs::File::open(dir)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            let _ = dir;
            Ok(())
        }
    }
}

/// An in-memory file system that models a crash ([`MemFs::crash`]).
///
/// - File data written since the file's last sync may be lost or torn: on a crash each file
///   keeps a random prefix of its unsynced bytes; sometimes one of the kept bytes is flipped,
///   or the kept bytes read as zeros (the size reached the disk, the data did not).
/// - Directory entries (creations, renames, removals) survive a crash only if the directory
///   was synced after them; a file whose entry is lost is gone.
///
/// Clones share the same files. Deterministic for a given seed.
#[derive(Debug, Clone)]
pub struct MemFs {
    state: Arc<Mutex<MemState>>,
}

#[derive(Debug, Default)]
struct MemState {
    inodes: HashMap<u64, Inode>,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    next_inode: u64,
    rng: u64,
    /// Changes allowed before every operation fails (a dying machine), if set.
    fail_after: Option<u64>,
}

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    synced_len: usize,
}

impl MemState {
    fn random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Counts a change; fails once the budget set by [`MemFs::fail_after`] is used.
    fn change(&mut self) -> io::Result<()> {
        match &mut self.fail_after {
            None => Ok(()),
            Some(0) => Err(io::Error::other("injected failure")),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
        }
    }

    fn inode_of(&self, path: &Path) -> io::Result<u64> {
        self.names.get(path).copied().ok_or_else(|| not_found(path))
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl MemFs {
    pub fn new(seed: u64) -> Self {
        let state = MemState {
            rng: seed | 1,
            ..MemState::default()
        };
        MemFs {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Simulates a power loss: unsynced file data is lost or torn and unsynced directory
    /// entries are forgotten. Open handles must not be used afterwards.
    pub fn crash(&self) {
        let mut st = self.lock();
        st.names = st.durable_names.clone();
        let live: std::collections::HashSet<u64> = st.names.values().copied().collect();
        st.inodes.retain(|id, _| live.contains(id));
        let mut ids: Vec<u64> = st.inodes.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let (synced, len) = {
                let inode = &st.inodes[&id];
                (inode.synced_len, inode.data.len())
            };
            let unsynced = len - synced;
            let keep = if unsynced == 0 {
                0
            } else {
                (st.random() % (unsynced as u64 + 1)) as usize
            };
            let flip = keep > 0 && st.random().is_multiple_of(3);
            let flip_at = if flip {
                synced + (st.random() % keep as u64) as usize
            } else {
                0
            };
            let zero = !flip && keep > 0 && st.random().is_multiple_of(4);
            let bit = 1u8 << (st.random() % 8);
            let inode = st.inodes.get_mut(&id).expect("inode exists");
            inode.data.truncate(synced + keep);
            if flip {
                inode.data[flip_at] ^= bit;
            }
            if zero {
                inode.data[synced..].fill(0);
            }
            inode.synced_len = inode.data.len();
        }
    }

    /// After `changes` more changes (create, write, sync, truncate, rename, remove, directory
    /// sync) every change fails; a failing write may write part of its bytes first.
    pub fn fail_after(&self, changes: u64) {
        self.lock().fail_after = Some(changes);
    }

    /// Ends [`MemFs::fail_after`].
    pub fn stop_failing(&self) {
        self.lock().fail_after = None;
    }

    /// The names of the files that exist now (for tests).
    pub fn file_names(&self) -> Vec<PathBuf> {
        self.lock().names.keys().cloned().collect()
    }

    /// Overwrites one byte of a file (for tests of corrupt files); the change is durable.
    pub fn corrupt(&self, path: &Path, offset: usize) {
        let mut st = self.lock();
        if let Some(id) = st.names.get(path).copied()
            && let Some(inode) = st.inodes.get_mut(&id)
            && offset < inode.data.len()
        {
            inode.data[offset] ^= 0x5a;
        }
    }

    /// Appends bytes to a file, durably (for tests of torn files).
    pub fn append_durable(&self, path: &Path, bytes: &[u8]) {
        let mut st = self.lock();
        if let Some(id) = st.names.get(path).copied()
            && let Some(inode) = st.inodes.get_mut(&id)
        {
            inode.data.extend_from_slice(bytes);
            inode.synced_len = inode.data.len();
        }
    }

    /// The current length of a file, if it exists.
    pub fn file_len(&self, path: &Path) -> Option<usize> {
        let st = self.lock();
        let id = st.names.get(path)?;
        st.inodes.get(id).map(|i| i.data.len())
    }
}

/// A handle on a [`MemFs`] file.
#[derive(Debug)]
pub struct MemFile {
    fs: MemFs,
    inode: u64,
}

impl FileWriter for MemFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut st = self.fs.lock();
        if let Err(e) = st.change() {
            let part = (st.random() % (buf.len() as u64 + 1)) as usize;
            if let Some(inode) = st.inodes.get_mut(&self.inode) {
                inode.data.extend_from_slice(&buf[..part]);
            }
            return Err(e);
        }
        let inode = st
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| io::Error::other("stale handle"))?;
        inode.data.extend_from_slice(buf);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut st = self.fs.lock();
        st.change()?;
        let inode = st
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| io::Error::other("stale handle"))?;
        inode.synced_len = inode.data.len();
        Ok(())
    }
}

impl FileReader for MemFile {
    fn size(&mut self) -> io::Result<u64> {
        let st = self.fs.lock();
        let inode = st
            .inodes
            .get(&self.inode)
            .ok_or_else(|| io::Error::other("stale handle"))?;
        Ok(inode.data.len() as u64)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let st = self.fs.lock();
        let inode = st
            .inodes
            .get(&self.inode)
            .ok_or_else(|| io::Error::other("stale handle"))?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(inode.data.len());
        let n = buf.len().min(inode.data.len() - start);
        buf[..n].copy_from_slice(&inode.data[start..start + n]);
        Ok(n)
    }
}

impl Fs for MemFs {
    type Writer = MemFile;
    type Reader = MemFile;

    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.lock();
        Ok(st
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn create(&self, path: &Path) -> io::Result<Self::Writer> {
        let mut st = self.lock();
        st.change()?;
        let id = st.next_inode;
        st.next_inode += 1;
        st.inodes.insert(id, Inode::default());
        st.names.insert(path.to_path_buf(), id);
        Ok(MemFile {
            fs: self.clone(),
            inode: id,
        })
    }

    fn open_append(&self, path: &Path) -> io::Result<Self::Writer> {
        let id = self.lock().inode_of(path)?;
        Ok(MemFile {
            fs: self.clone(),
            inode: id,
        })
    }

    fn open_read(&self, path: &Path) -> io::Result<Self::Reader> {
        self.open_append(path)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let st = self.lock();
        let id = st.inode_of(path)?;
        Ok(st.inodes[&id].data.clone())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut st = self.lock();
        st.change()?;
        let id = st.inode_of(path)?;
        let inode = st.inodes.get_mut(&id).expect("named inode exists");
        inode
            .data
            .truncate(usize::try_from(len).unwrap_or(usize::MAX));
        inode.synced_len = inode.data.len();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.change()?;
        let id = st.names.remove(from).ok_or_else(|| not_found(from))?;
        st.names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.change()?;
        st.names.remove(path).ok_or_else(|| not_found(path))?;
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.change()?;
        let current: Vec<(PathBuf, u64)> = st
            .names
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        st.durable_names.retain(|p, _| p.parent() != Some(dir));
        st.durable_names.extend(current);
        Ok(())
    }
}
