//! Gzip (RFC 1952) response bodies, inflated as their chunks arrive straight into the body
//! buffer, bounded by `body_size_limit`. Members are read one after another, as Go's
//! `gzip.Reader` (multistream) reads them for Prometheus; anything after a member that is not
//! another member fails the scrape, as there.

use flate2::{Crc, Decompress, FlushDecompress, Status};

/// Output room per inflate step (less when the limit is nearer); a pooled body buffer has it.
const INFLATE_STEP: usize = 64 << 10;

/// A header longer than this (file name, comment, extra field) is refused.
const LONGEST_HEADER: usize = 1 << 20;

const MAGIC: [u8; 2] = [0x1f, 0x8b];
const METHOD_DEFLATE: u8 = 8;
const FLAG_HCRC: u8 = 1 << 1;
const FLAG_EXTRA: u8 = 1 << 2;
const FLAG_NAME: u8 = 1 << 3;
const FLAG_COMMENT: u8 = 1 << 4;
const FLAGS_RESERVED: u8 = 0xe0;
const TRAILER_LEN: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GzipError {
    /// The decompressed body reached the limit (bytes).
    #[error("body size limit exceeded (limit: {0} bytes)")]
    BodyTooLarge(u64),
    #[error("invalid gzip header: {0}")]
    Header(&'static str),
    #[error("corrupt deflate data: {0}")]
    Deflate(String),
    #[error("gzip checksum mismatch (CRC-32 {found:#010x}, trailer says {expected:#010x})")]
    Checksum { found: u32, expected: u32 },
    #[error("gzip length mismatch ({found} bytes mod 2^32, trailer says {expected})")]
    Length { found: u32, expected: u32 },
    #[error("body ended inside a gzip member")]
    Truncated,
    #[error("empty gzip body")]
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Header,
    Deflate,
    Trailer,
}

/// A decoder for one body at a time; [`GzipDecoder::start`] readies it for the next.
pub struct GzipDecoder {
    inflate: Decompress,
    crc: Crc,
    part: Part,
    /// Header or trailer bytes of the current member seen so far, when they came split
    /// across chunks.
    pending: Vec<u8>,
    members: u32,
    limit: u64,
}

impl Default for GzipDecoder {
    fn default() -> Self {
        GzipDecoder {
            inflate: Decompress::new(false),
            crc: Crc::new(),
            part: Part::Header,
            pending: Vec::new(),
            members: 0,
            limit: 0,
        }
    }
}

impl GzipDecoder {
    /// Ready for a new body; `limit` bounds the decompressed bytes (0: no limit), failing at
    /// `>= limit` as Prometheus does.
    pub fn start(&mut self, limit: u64) {
        self.inflate.reset(false);
        self.crc.reset();
        self.part = Part::Header;
        self.pending.clear();
        self.members = 0;
        self.limit = limit;
    }

    /// Decodes the next `chunk` of the body onto the end of `body`.
    pub fn write(&mut self, mut chunk: &[u8], body: &mut Vec<u8>) -> Result<(), GzipError> {
        while !chunk.is_empty() {
            chunk = match self.part {
                Part::Header => self.header(chunk)?,
                Part::Deflate => self.deflate(chunk, body)?,
                Part::Trailer => self.trailer(chunk)?,
            };
        }
        Ok(())
    }

    /// Checks that the body ended where a member did.
    pub fn finish(&self) -> Result<(), GzipError> {
        match (self.part, self.pending.is_empty(), self.members) {
            (Part::Header, true, 0) => Err(GzipError::Empty),
            (Part::Header, true, _) => Ok(()),
            _ => Err(GzipError::Truncated),
        }
    }

    /// Reads a member's header from `chunk` (after any part of it kept from earlier chunks);
    /// returns what follows it.
    fn header<'c>(&mut self, chunk: &'c [u8]) -> Result<&'c [u8], GzipError> {
        let kept = self.pending.len();
        let parsed = if kept == 0 {
            header_len(chunk)?
        } else {
            self.pending.extend_from_slice(chunk);
            header_len(&self.pending)?
        };
        let Some(len) = parsed else {
            if kept == 0 {
                self.pending.extend_from_slice(chunk);
            }
            if self.pending.len() > LONGEST_HEADER {
                return Err(GzipError::Header("longer than 1 MiB"));
            }
            return Ok(&[]);
        };
        self.pending.clear();
        self.part = Part::Deflate;
        Ok(&chunk[len - kept..])
    }

    fn deflate<'c>(&mut self, chunk: &'c [u8], body: &mut Vec<u8>) -> Result<&'c [u8], GzipError> {
        let room = if self.limit == 0 {
            INFLATE_STEP
        } else {
            // Never more than the limit is inflated, whatever the ratio.
            let left = self.limit.saturating_sub(body.len() as u64);
            if left == 0 {
                return Err(GzipError::BodyTooLarge(self.limit));
            }
            INFLATE_STEP.min(usize::try_from(left).unwrap_or(usize::MAX))
        };
        body.reserve(room);
        let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
        let len = body.len();
        let status = self
            .inflate
            .decompress_uninit(
                chunk,
                &mut body.spare_capacity_mut()[..room],
                FlushDecompress::None,
            )
            .map_err(|e| GzipError::Deflate(e.to_string()))?;
        let written = (self.inflate.total_out() - out_before) as usize;
        debug_assert!(written <= room);
        // SAFETY: inflate initialised the first `written` bytes of the spare capacity (its
        // output count), which `room` bounds.
        unsafe { body.set_len(len + written) };
        self.crc.update(&body[len..]);
        let used = (self.inflate.total_in() - in_before) as usize;
        if self.limit > 0 && body.len() as u64 >= self.limit {
            return Err(GzipError::BodyTooLarge(self.limit));
        }
        if status == Status::StreamEnd {
            self.part = Part::Trailer;
        } else if used == 0 && written == 0 {
            // zlib asks for more room only when it has none; it always had some here.
            return Err(GzipError::Deflate("no progress".into()));
        }
        Ok(&chunk[used..])
    }

    fn trailer<'c>(&mut self, chunk: &'c [u8]) -> Result<&'c [u8], GzipError> {
        let take = (TRAILER_LEN - self.pending.len()).min(chunk.len());
        self.pending.extend_from_slice(&chunk[..take]);
        if self.pending.len() < TRAILER_LEN {
            return Ok(&[]);
        }
        let word = |at: usize| {
            u32::from_le_bytes([
                self.pending[at],
                self.pending[at + 1],
                self.pending[at + 2],
                self.pending[at + 3],
            ])
        };
        let (crc, size) = (word(0), word(4));
        if crc != self.crc.sum() {
            return Err(GzipError::Checksum {
                found: self.crc.sum(),
                expected: crc,
            });
        }
        if size != self.crc.amount() {
            return Err(GzipError::Length {
                found: self.crc.amount(),
                expected: size,
            });
        }
        self.members += 1;
        self.pending.clear();
        self.crc.reset();
        self.inflate.reset(false);
        self.part = Part::Header;
        Ok(&chunk[take..])
    }
}

/// The length of the member header at the start of `buf`; `None` when `buf` ends inside it.
fn header_len(buf: &[u8]) -> Result<Option<usize>, GzipError> {
    let byte = |at: usize| buf.get(at).copied();
    for (at, want) in MAGIC.iter().enumerate() {
        match byte(at) {
            None => return Ok(None),
            Some(b) if b != *want => return Err(GzipError::Header("not gzip (bad magic number)")),
            Some(_) => {}
        }
    }
    let Some(method) = byte(2) else {
        return Ok(None);
    };
    if method != METHOD_DEFLATE {
        return Err(GzipError::Header("compression method is not deflate"));
    }
    let Some(flags) = byte(3) else {
        return Ok(None);
    };
    if flags & FLAGS_RESERVED != 0 {
        return Err(GzipError::Header("reserved flag bits set"));
    }
    // Flags, modification time, extra flags, OS.
    let mut len = 10;
    if flags & FLAG_EXTRA != 0 {
        let (Some(lo), Some(hi)) = (byte(len), byte(len + 1)) else {
            return Ok(None);
        };
        len += 2 + u16::from_le_bytes([lo, hi]) as usize;
    }
    for flag in [FLAG_NAME, FLAG_COMMENT] {
        if flags & flag != 0 {
            match buf.get(len..).and_then(|rest| memchr::memchr(0, rest)) {
                Some(nul) => len += nul + 1,
                None => return Ok(None),
            }
        }
    }
    if flags & FLAG_HCRC != 0 {
        let (Some(lo), Some(hi)) = (byte(len), byte(len + 1)) else {
            return Ok(None);
        };
        let mut crc = Crc::new();
        crc.update(&buf[..len]);
        if crc.sum() as u16 != u16::from_le_bytes([lo, hi]) {
            return Err(GzipError::Header("header checksum mismatch"));
        }
        len += 2;
    }
    Ok((buf.len() >= len).then_some(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use proptest::prelude::*;
    use std::io::{Read, Write};

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// Decodes `body` fed in pieces cut at `cuts` (offsets, any order).
    fn decode_in_pieces(body: &[u8], cuts: &[usize], limit: u64) -> Result<Vec<u8>, GzipError> {
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(body.len())).collect();
        cuts.sort_unstable();
        let mut decoder = GzipDecoder::default();
        decoder.start(limit);
        let mut out = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([body.len()]) {
            decoder.write(&body[from..cut], &mut out)?;
            from = cut;
        }
        decoder.finish()?;
        Ok(out)
    }

    fn decode(body: &[u8]) -> Result<Vec<u8>, GzipError> {
        decode_in_pieces(body, &[], 0)
    }

    /// A member with every optional header field, built by hand: flate2's encoder writes
    /// none of them.
    fn member_with_all_fields(data: &[u8]) -> Vec<u8> {
        let plain = gzip(data);
        let mut header = vec![
            0x1f,
            0x8b,
            8,
            FLAG_EXTRA | FLAG_NAME | FLAG_COMMENT | FLAG_HCRC,
        ];
        header.extend_from_slice(&[1, 2, 3, 4, 0, 3]);
        header.extend_from_slice(&5u16.to_le_bytes());
        header.extend_from_slice(b"AB\x02\x00z");
        header.extend_from_slice(b"metrics.txt\0a comment\0");
        let mut crc = Crc::new();
        crc.update(&header);
        header.extend_from_slice(&(crc.sum() as u16).to_le_bytes());
        header.extend_from_slice(&plain[10..]);
        header
    }

    #[test]
    fn a_member_with_every_header_field_decodes_however_it_is_split() {
        let data = b"# TYPE up gauge\nup{job=\"a\"} 1\n".repeat(50);
        let body = member_with_all_fields(&data);
        for cut in 0..body.len() {
            assert_eq!(
                decode_in_pieces(&body, &[cut], 0).unwrap(),
                data,
                "cut at {cut}"
            );
        }
        let every_byte: Vec<usize> = (0..body.len()).collect();
        assert_eq!(decode_in_pieces(&body, &every_byte, 0).unwrap(), data);
    }

    #[test]
    fn members_one_after_another_are_one_body_as_in_go() {
        let mut body = gzip(b"a 1\n");
        body.extend(member_with_all_fields(b"b 2\n"));
        body.extend(gzip(b""));
        body.extend(gzip(b"c 3\n"));
        assert_eq!(decode(&body).unwrap(), b"a 1\nb 2\nc 3\n");
        let mut reference = String::new();
        flate2::read::MultiGzDecoder::new(&body[..])
            .read_to_string(&mut reference)
            .unwrap();
        assert_eq!(reference, "a 1\nb 2\nc 3\n");
    }

    #[test]
    fn damaged_bodies_fail_with_what_is_wrong() {
        let good = gzip(b"metric 1\n");
        let n = good.len();
        let with = |at: usize, byte: u8| {
            let mut b = good.clone();
            b[at] = byte;
            b
        };
        assert_eq!(
            decode(b"metric 1\n"),
            Err(GzipError::Header("not gzip (bad magic number)"))
        );
        assert_eq!(
            decode(&with(2, 7)),
            Err(GzipError::Header("compression method is not deflate"))
        );
        assert_eq!(
            decode(&with(3, 0x80)),
            Err(GzipError::Header("reserved flag bits set"))
        );
        let crc = u32::from_le_bytes(good[n - 8..n - 4].try_into().unwrap());
        assert_eq!(
            decode(&with(n - 8, good[n - 8] ^ 1)),
            Err(GzipError::Checksum {
                found: crc,
                expected: crc ^ 1
            })
        );
        assert_eq!(
            decode(&with(n - 4, 10)),
            Err(GzipError::Length {
                found: 9,
                expected: 10
            })
        );
        assert!(matches!(
            decode(&with(12, 0xff)),
            Err(GzipError::Deflate(_))
        ));
        for end in [1, 5, 11, n - 5, n - 1] {
            assert_eq!(
                decode(&good[..end]),
                Err(GzipError::Truncated),
                "cut at {end}"
            );
        }
        assert_eq!(decode(b""), Err(GzipError::Empty));
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"\n\n");
        assert_eq!(
            decode(&trailing),
            Err(GzipError::Header("not gzip (bad magic number)"))
        );
        let mut bad_hcrc = member_with_all_fields(b"x 1\n");
        let at = bad_hcrc.iter().position(|&b| b == b'z').unwrap() + 1 + 22;
        bad_hcrc[at] ^= 0xff;
        assert_eq!(
            decode(&bad_hcrc),
            Err(GzipError::Header("header checksum mismatch"))
        );
    }

    #[test]
    fn a_compression_bomb_stops_at_the_limit_without_inflating_the_rest() {
        let bomb = gzip(&vec![0u8; 256 << 20]);
        assert!(bomb.len() < 300 << 10, "{}", bomb.len());
        let limit = 1 << 20;
        let mut decoder = GzipDecoder::default();
        decoder.start(limit);
        let mut body = Vec::new();
        let result = bomb
            .chunks(16 << 10)
            .try_for_each(|chunk| decoder.write(chunk, &mut body));
        assert_eq!(result, Err(GzipError::BodyTooLarge(limit)));
        assert_eq!(body.len() as u64, limit);
        assert!(body.capacity() < 2 << 20, "{}", body.capacity());
    }

    #[test]
    fn the_limit_fails_a_body_of_exactly_its_size_as_prometheus() {
        let data = vec![b'x'; 1000];
        let body = gzip(&data);
        assert_eq!(decode_in_pieces(&body, &[], 1001).unwrap(), data);
        assert_eq!(
            decode_in_pieces(&body, &[], 1000),
            Err(GzipError::BodyTooLarge(1000))
        );
    }

    #[test]
    fn a_pooled_decoder_started_again_forgets_a_failed_body() {
        let mut decoder = GzipDecoder::default();
        decoder.start(0);
        let mut out = Vec::new();
        let good = gzip(b"a 1\n");
        decoder.write(&good[..good.len() - 3], &mut out).unwrap();
        decoder.start(0);
        out.clear();
        decoder.write(&good, &mut out).unwrap();
        decoder.finish().unwrap();
        assert_eq!(out, b"a 1\n");
    }

    proptest! {
        #[test]
        fn decodes_what_flate2_decodes(
            members in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 1..4),
            cuts in prop::collection::vec(0usize..20_000, 0..6),
        ) {
            let body: Vec<u8> = members.iter().flat_map(|m| gzip(m)).collect();
            let mut reference = Vec::new();
            flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut reference).unwrap();
            prop_assert_eq!(decode_in_pieces(&body, &cuts, 0).unwrap(), reference);
        }
    }
}
