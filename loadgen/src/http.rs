//! Just enough HTTP/1.1 for a load generator: write a request, read a response head (with
//! `httparse`), then a body by length, by chunks, or until close. Hand-written instead of a
//! client library so that one subscriber costs one socket and a small buffer, and the load
//! generator spends its one core on reading events, not on a client's machinery. The same over
//! TLS: the connection is any byte stream ([`crate::tls::Stream`] in a run, plain or TLS).

use anyhow::{Context as _, bail};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Headers a response may carry; the servers under test send about eight.
const MAX_HEADERS: usize = 32;
/// A response head larger than this is not one of ours.
const MAX_HEAD: usize = 16 * 1024;

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    pub(crate) framing: Framing,
    /// The server will close the connection after this response (`Connection: close`, e.g.
    /// nginx after `keepalive_requests`): the next request needs a new connection.
    pub(crate) close: bool,
}

/// One connection's stream (a bare socket by default) and the bytes read past what was
/// consumed.
#[derive(Debug)]
pub(crate) struct HttpConn<S = TcpStream> {
    pub(crate) stream: S,
    pub(crate) buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> HttpConn<S> {
    pub(crate) fn new(stream: S) -> Self {
        Self {
            stream,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Reads more bytes into `buf`; `false` at end of stream.
    pub(crate) async fn fill(&mut self) -> anyhow::Result<bool> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(4096);
        }
        Ok(self.stream.read_buf(&mut self.buf).await? > 0)
    }

    /// Reads a response head, leaving what follows it in `buf`.
    pub(crate) async fn read_head(&mut self) -> anyhow::Result<ResponseHead> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(len) = response
                .parse(&self.buf)
                .context("the server sent a malformed response head")?
            {
                let status = response.code.unwrap_or(0);
                let framing = framing(response.headers)?;
                let close = response.headers.iter().any(|header| {
                    header.name.eq_ignore_ascii_case("connection")
                        && header.value.eq_ignore_ascii_case(b"close")
                });
                self.buf.drain(..len);
                return Ok(ResponseHead {
                    status,
                    framing,
                    close,
                });
            }
            if self.buf.len() > MAX_HEAD {
                bail!("response head larger than {MAX_HEAD} bytes");
            }
            if !self.fill().await? {
                bail!("the server closed the connection before answering");
            }
        }
    }

    /// Reads and discards a whole body (a publish answer), so the connection can be reused.
    pub(crate) async fn skip_body(&mut self, framing: Framing) -> anyhow::Result<()> {
        match framing {
            Framing::Length(len) => {
                while self.buf.len() < len {
                    if !self.fill().await? {
                        bail!("the server closed the connection inside a body");
                    }
                }
                self.buf.drain(..len);
            }
            Framing::Chunked => {
                let mut decoder = Dechunker::default();
                loop {
                    let used = decoder.feed(&self.buf, &mut |_| {})?;
                    self.buf.drain(..used);
                    if decoder.is_done() {
                        break;
                    }
                    if !self.fill().await? {
                        bail!("the server closed the connection inside a chunked body");
                    }
                }
            }
            Framing::UntilClose => bail!("a publish answer without a length cannot be reused"),
        }
        Ok(())
    }

    /// Sends `bytes` whole. The flush is what makes TLS send the last record (rustls may hold
    /// it when the socket was full); on a bare socket it returns at once.
    pub(crate) async fn write_all(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }
}

fn framing(headers: &[httparse::Header<'_>]) -> anyhow::Result<Framing> {
    let mut framing = Framing::UntilClose;
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            if header.value.eq_ignore_ascii_case(b"chunked") {
                return Ok(Framing::Chunked);
            }
        } else if header.name.eq_ignore_ascii_case("content-length") {
            let len = std::str::from_utf8(header.value)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .context("unreadable Content-Length")?;
            framing = Framing::Length(len);
        }
    }
    Ok(framing)
}

/// An incremental decoder of `Transfer-Encoding: chunked`, fed the bytes as they come.
#[derive(Debug, Default)]
pub(crate) struct Dechunker {
    state: ChunkState,
    /// The chunk-size line read so far (bounded: a size line is short).
    size_line: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk, with this many bytes left.
    Data(usize),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last (empty) chunk: trailer lines until an empty one.
    Trailer,
    Done,
}

impl Dechunker {
    pub(crate) fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes what it can of `input`, passing body bytes to `body`, and returns how many
    /// input bytes it consumed (all, unless the body ended inside `input`).
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        body: &mut impl FnMut(&[u8]),
    ) -> anyhow::Result<usize> {
        let mut at = 0;
        while at < input.len() {
            match self.state {
                ChunkState::Size | ChunkState::Trailer => {
                    let rest = &input[at..];
                    let Some(newline) = rest.iter().position(|&byte| byte == b'\n') else {
                        self.push_line(rest)?;
                        return Ok(input.len());
                    };
                    self.push_line(&rest[..newline])?;
                    at += newline + 1;
                    let line = std::mem::take(&mut self.size_line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    if self.state == ChunkState::Trailer {
                        if line.is_empty() {
                            self.state = ChunkState::Done;
                            return Ok(at);
                        }
                        continue;
                    }
                    // Chunk extensions (`;name=value`) are allowed and ignored.
                    let digits = line.split(|&byte| byte == b';').next().unwrap_or_default();
                    let size = std::str::from_utf8(digits)
                        .ok()
                        .and_then(|text| usize::from_str_radix(text.trim(), 16).ok())
                        .context("malformed chunk size")?;
                    self.state = if size == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    let take = left.min(input.len() - at);
                    body(&input[at..at + take]);
                    at += take;
                    self.state = if take == left {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - take)
                    };
                }
                ChunkState::DataEnd => {
                    // CRLF; a bare LF is tolerated.
                    match input[at] {
                        b'\r' => at += 1,
                        b'\n' => {
                            at += 1;
                            self.state = ChunkState::Size;
                        }
                        _ => bail!("chunk data longer than its size"),
                    }
                }
                ChunkState::Done => return Ok(at),
            }
        }
        Ok(at)
    }

    fn push_line(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        if self.size_line.len() + bytes.len() > 1024 {
            bail!("chunk-size or trailer line too long");
        }
        self.size_line.extend_from_slice(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> (Vec<u8>, bool, usize) {
        let mut decoder = Dechunker::default();
        let mut out = Vec::new();
        let mut consumed = 0;
        for part in input.chunks(piece) {
            consumed += decoder
                .feed(part, &mut |bytes| out.extend_from_slice(bytes))
                .expect("valid chunked input");
            if decoder.is_done() {
                break;
            }
        }
        (out, decoder.is_done(), consumed)
    }

    #[test]
    fn decodes_chunks_split_anywhere() {
        let input = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
        for piece in 1..=input.len() {
            let (out, done, consumed) = decode_in_pieces(input, piece);
            assert_eq!(out, b"hello, world", "pieces of {piece}");
            assert!(done);
            assert_eq!(consumed, input.len());
        }
    }

    #[test]
    fn stops_at_the_end_of_the_body() {
        let mut decoder = Dechunker::default();
        let input = b"2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK";
        let used = decoder.feed(input, &mut |_| {}).expect("valid");
        assert!(decoder.is_done());
        assert_eq!(&input[used..], b"HTTP/1.1 200 OK");
    }

    #[test]
    fn a_stream_that_never_ends_just_flows() {
        let (out, done, _) = decode_in_pieces(b"9\r\ndata: 1\n\n\r\n", 3);
        assert_eq!(out, b"data: 1\n\n");
        assert!(!done);
    }

    #[test]
    fn rejects_garbage() {
        let mut decoder = Dechunker::default();
        assert!(decoder.feed(b"zz\r\n", &mut |_| {}).is_err());
        let mut decoder = Dechunker::default();
        assert!(decoder.feed(b"1\r\nab", &mut |_| {}).is_err());
    }

    #[test]
    fn reads_the_framing_header() {
        let headers = [httparse::Header {
            name: "Content-Length",
            value: b"12",
        }];
        assert_eq!(framing(&headers).expect("valid"), Framing::Length(12));
        let headers = [httparse::Header {
            name: "transfer-encoding",
            value: b"chunked",
        }];
        assert_eq!(framing(&headers).expect("valid"), Framing::Chunked);
        assert_eq!(framing(&[]).expect("valid"), Framing::UntilClose);
    }
}
