//! Segment files: names and the record format `[u32 LE len][u32 LE crc32c(payload)][payload]`.

use super::fs::FileReader;
use std::io;

/// Bytes before each payload: length and checksum.
pub const HEADER_LEN: u64 = 8;
/// Suffix of segment file names.
pub const SEGMENT_SUFFIX: &str = ".seg";

/// The name of the segment whose first record is `first_id`: 20 digits, so names sort in id
/// order.
pub fn segment_name(first_id: u64) -> String {
    format!("{first_id:020}{SEGMENT_SUFFIX}")
}

/// The first record id of a segment file name, or `None` if it is not one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The header of a record with this payload.
pub fn record_header(payload: &[u8]) -> [u8; HEADER_LEN as usize] {
    let mut header = [0u8; HEADER_LEN as usize];
    header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4..].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    header
}

/// What is at an offset of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// A whole record with a good checksum; its payload is in the buffer. `next` is the
    /// offset after it.
    Record { next: u64 },
    /// The end of the file, exactly.
    End,
    /// Fewer bytes than a header, or than the header's length says.
    Short,
    /// The checksum does not match the payload.
    BadCrc,
    /// A zero length: never written (payloads are not empty), so this is a zero-filled tail
    /// (the checksum of an empty payload is 0, so zeros would pass the checksum).
    Empty,
}

/// Reads the record at `offset` of a file `file_len` bytes long into `payload`.
pub fn read_record<R: FileReader>(
    reader: &mut R,
    file_len: u64,
    offset: u64,
    payload: &mut Vec<u8>,
) -> io::Result<ReadOutcome> {
    if offset >= file_len {
        return Ok(ReadOutcome::End);
    }
    if file_len - offset < HEADER_LEN {
        return Ok(ReadOutcome::Short);
    }
    let mut header = [0u8; HEADER_LEN as usize];
    if reader.read_at(offset, &mut header)? < header.len() {
        return Ok(ReadOutcome::Short);
    }
    let len = u64::from(u32::from_le_bytes(header[..4].try_into().expect("4 bytes")));
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    if len == 0 {
        return Ok(ReadOutcome::Empty);
    }
    // Checked against the file length before allocating, so a garbage length cannot make us
    // allocate gigabytes.
    if len > file_len - offset - HEADER_LEN {
        return Ok(ReadOutcome::Short);
    }
    payload.clear();
    payload.resize(len as usize, 0);
    if reader.read_at(offset + HEADER_LEN, payload)? < payload.len() {
        return Ok(ReadOutcome::Short);
    }
    if crc32c::crc32c(payload) != crc {
        return Ok(ReadOutcome::BadCrc);
    }
    Ok(ReadOutcome::Record {
        next: offset + HEADER_LEN + len,
    })
}
