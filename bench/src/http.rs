//! A minimal HTTP/1.1 client: one keep-alive connection, one request at a time.
//!
//! Requests are pre-built byte strings (a benchmark sends the same one many times); answers
//! are read until their `Content-Length` is complete. Chunked bodies are refused: neither keel
//! nor r-nacos sends them for the endpoints measured here.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The parts of an `http://host:port/path?query` URL a request needs.
#[derive(Debug, Clone)]
pub struct Url {
    /// Where to connect.
    pub addr: SocketAddr,
    /// `host:port`, for the `Host` header.
    pub authority: String,
    /// Path and query.
    pub path: String,
}

impl Url {
    /// Parses `http://IP:PORT/path`; names are not resolved (benchmarks stay on loopback).
    pub fn parse(url: &str) -> io::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| invalid(format!("{url}: only http:// URLs are supported")))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr = authority
            .parse()
            .map_err(|e| invalid(format!("{url}: the host must be IP:PORT ({e})")))?;
        Ok(Url {
            addr,
            authority: authority.to_owned(),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
        })
    }

    /// The same server, another path.
    pub fn with_path(&self, path: &str) -> Url {
        Url {
            path: path.to_owned(),
            ..self.clone()
        }
    }

    /// A `GET` of this URL.
    pub fn get(&self) -> Vec<u8> {
        self.request("GET", &[], None, b"")
    }

    /// A `POST` of a JSON body.
    pub fn post_json(&self, body: &serde_json::Value) -> Vec<u8> {
        self.request(
            "POST",
            &[],
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    }

    /// A `POST` of a form body (`a=1&b=2`, already encoded).
    pub fn post_form(&self, headers: &[(&str, &str)], form: &str) -> Vec<u8> {
        self.request(
            "POST",
            headers,
            Some("application/x-www-form-urlencoded"),
            form.as_bytes(),
        )
    }

    /// Any request to this URL.
    pub fn request(
        &self,
        method: &str,
        headers: &[(&str, &str)],
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<u8> {
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\n",
            self.path, self.authority
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(content_type) = content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if !body.is_empty() || method == "POST" || method == "PUT" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        request
    }
}

/// An answer: the status and the body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The body (empty for 304).
    pub body: Vec<u8>,
    /// The `Content-MD5` header, if any (r-nacos sends it with a config).
    pub content_md5: Option<String>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> io::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            invalid(format!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            ))
        })
    }
}

/// One keep-alive connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    addr: SocketAddr,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects to `addr`, from `source` (an IP of the loopback net, port chosen by the
    /// kernel) when given: spreading many connections over source IPs avoids running out of
    /// ephemeral ports.
    pub async fn connect(addr: &SocketAddr, source: Option<IpAddr>) -> io::Result<Self> {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(*addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            addr: *addr,
            buf: Vec::with_capacity(4096),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> &SocketAddr {
        &self.addr
    }

    /// Writes the whole request without waiting for an answer.
    pub async fn write(&mut self, request: &[u8]) -> io::Result<()> {
        self.stream.write_all(request).await
    }

    /// Sends `request` and reads its answer.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<Answer> {
        self.write(request).await?;
        self.read_answer().await
    }

    /// Reads the next answer on the connection.
    pub async fn read_answer(&mut self) -> io::Result<Answer> {
        loop {
            if let Some((head_len, status, body_len, content_md5)) = parse_head(&self.buf)? {
                let total = head_len + body_len;
                while self.buf.len() < total {
                    self.fill().await?;
                }
                let body = self.buf[head_len..total].to_vec();
                self.buf.drain(..total);
                return Ok(Answer {
                    status,
                    body,
                    content_md5,
                });
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        let read = self.stream.read_buf(&mut self.buf).await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        Ok(())
    }
}

/// Head length, status, body length and `Content-MD5` once the head is complete.
type Head = (usize, u16, usize, Option<String>);

fn parse_head(buf: &[u8]) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(invalid(format!("bad HTTP answer: {e}"))),
    };
    let status = response.code.unwrap_or(0);
    let mut body_len = 0;
    let mut content_md5 = None;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            body_len = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| invalid("bad Content-Length".into()))?;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid("chunked answers are not supported".into()));
        } else if header.name.eq_ignore_ascii_case("content-md5") {
            content_md5 = Some(String::from_utf8_lossy(header.value).into_owned());
        }
    }
    Ok(Some((head_len, status, body_len, content_md5)))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(byte as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_heads_parse() {
        let url = Url::parse("http://127.0.0.1:8848/a/b?c=1").unwrap();
        assert_eq!(url.path, "/a/b?c=1");
        assert_eq!(url.authority, "127.0.0.1:8848");
        assert!(Url::parse("https://x").is_err());
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-MD5: ab\r\n\r\nhi";
        let (len, status, body, md5) = parse_head(head).unwrap().unwrap();
        assert_eq!(
            (len + body, status, md5.as_deref()),
            (head.len(), 200, Some("ab"))
        );
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
        assert_eq!(form_encode("a b\u{2}/"), "a+b%02%2F");
    }
}
