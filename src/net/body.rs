//! Request body framing: a Content-Length reader and an incremental chunked-coding decoder.
//! Both consume raw bytes from the connection buffer as they arrive (any split), append the
//! payload to the body, and stop exactly at the end of the message so pipelined bytes stay
//! in the buffer — or where the body has no more room (the caller grows it, or waits for the
//! body budget, and feeds the rest later).

use super::Reject;

/// Longest chunk-size line extension we accept (bytes after the hex digits).
const MAX_CHUNK_EXT: usize = 4096;

#[derive(Debug)]
pub(crate) enum Chunk {
    /// Hex digits of a chunk size.
    Size {
        value: u64,
        digits: usize,
    },
    /// Chunk extension (ignored) until the line end.
    Ext {
        value: u64,
        len: usize,
    },
    /// Saw CR after the size line, expecting LF.
    SizeLf {
        value: u64,
    },
    /// Chunk payload bytes still to come.
    Data(u64),
    /// CRLF after the payload.
    DataCr,
    DataLf,
    /// Trailer section (discarded): bytes in the current line, total bytes.
    Trailer {
        line: usize,
        total: usize,
    },
    TrailerLf {
        line: usize,
        total: usize,
    },
    Done,
}

/// How the body of the current request is delimited.
#[derive(Debug)]
pub(crate) enum BodyReader {
    Length { remaining: usize },
    Chunked(Chunk),
}

impl BodyReader {
    pub fn length(n: usize) -> Self {
        BodyReader::Length { remaining: n }
    }

    pub fn chunked() -> Self {
        BodyReader::Chunked(Chunk::Size { value: 0, digits: 0 })
    }

    /// Consumes bytes from `input`, appending at most `room` payload bytes to `body`. Returns
    /// how many bytes were consumed and whether the body is complete; input left over while
    /// the body is incomplete means `room` ran out. `limit` caps the decoded body,
    /// `max_trailer` the trailer section.
    pub fn feed(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        room: usize,
        limit: usize,
        max_trailer: usize,
    ) -> Result<(usize, bool), Reject> {
        match self {
            BodyReader::Length { remaining } => {
                let n = (*remaining).min(input.len()).min(room);
                body.extend_from_slice(&input[..n]);
                *remaining -= n;
                Ok((n, *remaining == 0))
            }
            BodyReader::Chunked(state) => decode_chunked(state, input, body, room, limit, max_trailer),
        }
    }

    /// Payload bytes still expected for a Content-Length body (None for chunked).
    pub fn remaining(&self) -> Option<usize> {
        match self {
            BodyReader::Length { remaining } => Some(*remaining),
            BodyReader::Chunked(_) => None,
        }
    }
}

fn hex_val(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

/// Called at the end of a chunk-size line.
fn size_line_done(value: u64, body: &[u8], limit: usize) -> Result<Chunk, Reject> {
    if value == 0 {
        return Ok(Chunk::Trailer { line: 0, total: 0 });
    }
    if (body.len() as u64).saturating_add(value) > limit as u64 {
        return Err(Reject::PayloadTooLarge);
    }
    Ok(Chunk::Data(value))
}

fn decode_chunked(
    state: &mut Chunk,
    input: &[u8],
    body: &mut Vec<u8>,
    room: usize,
    limit: usize,
    max_trailer: usize,
) -> Result<(usize, bool), Reject> {
    let mut i = 0;
    let mut room = room;
    while i < input.len() {
        if let Chunk::Data(rem) = *state {
            let n = usize::try_from(rem).unwrap_or(usize::MAX).min(input.len() - i).min(room);
            if n == 0 {
                return Ok((i, false)); // out of room: the rest waits in the input
            }
            room -= n;
            body.extend_from_slice(&input[i..i + n]);
            i += n;
            let rem = rem - n as u64;
            *state = if rem == 0 { Chunk::DataCr } else { Chunk::Data(rem) };
            continue;
        }
        let b = input[i];
        i += 1;
        *state = match *state {
            Chunk::Size { value, digits } => match (b, hex_val(b)) {
                (_, Some(d)) => {
                    if digits >= 15 {
                        return Err(Reject::PayloadTooLarge);
                    }
                    Chunk::Size { value: value * 16 + d, digits: digits + 1 }
                }
                _ if digits == 0 => return Err(Reject::BadRequest),
                (b';' | b' ' | b'\t', _) => Chunk::Ext { value, len: 1 },
                (b'\r', _) => Chunk::SizeLf { value },
                (b'\n', _) => size_line_done(value, body, limit)?,
                _ => return Err(Reject::BadRequest),
            },
            Chunk::Ext { value, len } => match b {
                b'\r' => Chunk::SizeLf { value },
                b'\n' => size_line_done(value, body, limit)?,
                b'\t' | 0x20..=0x7e | 0x80..=0xff if len < MAX_CHUNK_EXT => Chunk::Ext { value, len: len + 1 },
                _ => return Err(Reject::BadRequest),
            },
            Chunk::SizeLf { value } => match b {
                b'\n' => size_line_done(value, body, limit)?,
                _ => return Err(Reject::BadRequest),
            },
            Chunk::DataCr => match b {
                b'\r' => Chunk::DataLf,
                b'\n' => Chunk::Size { value: 0, digits: 0 },
                _ => return Err(Reject::BadRequest),
            },
            Chunk::DataLf => match b {
                b'\n' => Chunk::Size { value: 0, digits: 0 },
                _ => return Err(Reject::BadRequest),
            },
            Chunk::Trailer { line, total } | Chunk::TrailerLf { line, total } if b == b'\n' => {
                if line == 0 {
                    *state = Chunk::Done;
                    return Ok((i, true));
                }
                Chunk::Trailer { line: 0, total }
            }
            Chunk::TrailerLf { .. } => return Err(Reject::BadRequest),
            Chunk::Trailer { line, total } => {
                if total + 1 > max_trailer {
                    return Err(Reject::HeaderTooLarge);
                }
                match b {
                    b'\r' => Chunk::TrailerLf { line, total },
                    b'\t' | 0x20..=0x7e | 0x80..=0xff => Chunk::Trailer { line: line + 1, total: total + 1 },
                    _ => return Err(Reject::BadRequest),
                }
            }
            Chunk::Done => return Ok((i - 1, true)),
            // Payload is copied in bulk before the byte is taken; never reached.
            Chunk::Data(rem) => {
                i -= 1;
                Chunk::Data(rem)
            }
        };
    }
    Ok((i, matches!(state, Chunk::Done)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_split(raw: &[u8], step: usize) -> Result<(Vec<u8>, usize), Reject> {
        let mut r = BodyReader::chunked();
        let mut body = Vec::new();
        let mut pos = 0;
        while pos < raw.len() {
            let end = (pos + step).min(raw.len());
            let (n, done) = r.feed(&raw[pos..end], &mut body, usize::MAX, 100, 100)?;
            pos += n;
            if done {
                return Ok((body, pos));
            }
            assert_eq!(pos, end);
        }
        Err(Reject::RequestTimeout)
    }

    #[test]
    fn chunked_any_split() {
        let raw = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for step in 1..raw.len() {
            let (body, used) = decode_split(raw, step).unwrap();
            assert_eq!(body, b"hello world");
            assert_eq!(&raw[used..], b"NEXT");
        }
    }

    /// Random and mutated inputs never panic and never exceed the limit.
    #[test]
    fn chunked_random_inputs_do_not_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let base = b"5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nT: x\r\n\r\n";
        for _ in 0..20_000 {
            let mut input = base.to_vec();
            for _ in 0..rnd() % 4 {
                let pos = (rnd() as usize) % input.len();
                input[pos] = rnd() as u8;
            }
            let mut r = BodyReader::chunked();
            let mut body = Vec::new();
            let step = 1 + (rnd() as usize) % 8;
            for piece in input.chunks(step) {
                match r.feed(piece, &mut body, usize::MAX, 100, 100) {
                    Ok((_, true)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            assert!(body.len() <= 100);
        }
    }

    /// Out of room, decoding stops before the payload and resumes where it stopped.
    #[test]
    fn chunked_stops_at_room_and_resumes() {
        let raw = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT";
        for room in 0..11 {
            let mut r = BodyReader::chunked();
            let mut body = Vec::new();
            let (used, done) = r.feed(raw, &mut body, room, 100, 100).unwrap();
            assert!(!done && body.len() == room, "room {room}: {used} bytes, {body:?}");
            let (more, done) = r.feed(&raw[used..], &mut body, usize::MAX, 100, 100).unwrap();
            assert!(done);
            assert_eq!(body, b"hello world");
            assert_eq!(&raw[used + more..], b"NEXT");
        }
        let mut r = BodyReader::length(5);
        let mut body = Vec::new();
        assert_eq!(r.feed(b"hello", &mut body, 2, 100, 100).unwrap(), (2, false));
        assert_eq!(r.remaining(), Some(3));
    }

    #[test]
    fn chunked_errors() {
        assert_eq!(decode_split(b"65\r\n", 3).unwrap_err(), Reject::PayloadTooLarge);
        assert_eq!(decode_split(b"x\r\n", 3).unwrap_err(), Reject::BadRequest);
        assert_eq!(decode_split(b"1\r\nab\r\n", 3).unwrap_err(), Reject::BadRequest);
        assert_eq!(decode_split(b"fffffffffffffffff\r\n", 3).unwrap_err(), Reject::PayloadTooLarge);
    }
}
