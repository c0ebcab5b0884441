//! Settings of the process itself, made once at start.

/// Blocks of at least this many bytes are mapped on their own and unmapped when freed.
/// glibc's threshold otherwise moves up (to 32 MiB at most) each time such a block is freed,
/// after which a scrape's megabyte buffers are carved out of the heap and, freed, leave their
/// pages resident between the blocks still in use. Measured on the cAdvisor-like benchmark
/// (BENCHMARKS.md): 68 → 53 MiB steady RSS for about 0.015 µs more system time per sample.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 256 * 1024;

/// Fixes the allocator's mapping threshold (see [`MMAP_THRESHOLD`]); call before the
/// runtime starts. Does nothing where the allocator is not glibc's.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator setting; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// The open-files limit before and after [`raise_fd_limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdLimit {
    pub soft_before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Soft limit set when the hard one is unlimited: Linux' default `fs.nr_open`.
const UNLIMITED_FDS: u64 = 1 << 20;

/// Raises the soft limit on open files to the hard one. Every target's connection, every
/// peer's and every discovery watch is a file: 10,000 targets do not fit the usual soft limit
/// of 1,024, and a scrape failing with "too many open files" is a gap no operator expects.
pub fn raise_fd_limit() -> std::io::Result<FdLimit> {
    let mut limit = nofile_limit()?;
    let (soft_before, hard) = (fd_count(limit.rlim_cur), fd_count(limit.rlim_max));
    if soft_before >= hard {
        return Ok(FdLimit {
            soft_before,
            soft: soft_before,
            hard,
        });
    }
    limit.rlim_cur = hard as libc::rlim_t;
    // SAFETY: setrlimit reads the struct it is given; a soft limit up to the hard one is
    // always allowed.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(FdLimit {
        soft_before,
        soft: hard,
        hard,
    })
}

/// The current soft limit on open files.
pub fn max_fds() -> Option<u64> {
    nofile_limit().ok().map(|limit| fd_count(limit.rlim_cur))
}

fn nofile_limit() -> std::io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(limit)
}

/// A limit as a number of files ([`UNLIMITED_FDS`] for "unlimited").
fn fd_count(limit: libc::rlim_t) -> u64 {
    if limit == libc::RLIM_INFINITY {
        UNLIMITED_FDS
    } else {
        limit
    }
}

/// Files this process has open.
pub fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// What `/proc/self/stat` says of this process: CPU seconds, resident and virtual bytes,
/// start time (seconds since the epoch).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcStat {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub start_time_seconds: f64,
}

/// Reads [`ProcStat`] of this process; `None` where there is no `/proc`.
pub fn proc_stat() -> Option<ProcStat> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, in parentheses, may hold spaces: fields are counted after it.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // Field numbers of proc(5), less the three before and including the name.
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    // SAFETY: sysconf only reads a setting.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())?;
    Some(ProcStat {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page,
        start_time_seconds: boot as f64 + field(22)? as f64 / ticks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_reads_this_process() {
        let busy = std::time::Instant::now();
        let mut spin = 0u64;
        while busy.elapsed() < std::time::Duration::from_millis(100) {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let stat = proc_stat().expect("/proc/self/stat");
        assert!(stat.cpu_seconds >= 0.05, "{stat:?}");
        assert!(stat.resident_bytes > 1 << 20, "{stat:?}");
        assert!(stat.virtual_bytes >= stat.resident_bytes, "{stat:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            stat.start_time_seconds <= now + 1.0 && stat.start_time_seconds > now - 86_400.0,
            "{stat:?}"
        );
    }
}
