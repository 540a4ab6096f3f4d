//! The stdio framing: one JSON-RPC message per line, in both directions.
//!
//! rmcp's own line transport drops a line that is not JSON without a word
//! and answers JSON that is not a message with an error that has no `id`.
//! Someone typing into the server by hand then sees nothing. This one
//! answers every line it cannot take, as JSON-RPC 2.0 says: `-32700 Parse
//! error` for a line that is not JSON, `-32600 Invalid Request` for JSON
//! that is not a message and for a line longer than [`MAX_LINE_BYTES`],
//! each with `"id": null` unless the request's own id could be read. A
//! notification is never answered, whatever its shape. The answer never
//! quotes the line: a human may have pasted a secret into it. Lines rmcp
//! takes are handed to it unchanged.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// The longest line read as one message: the largest request body HTTP
/// takes by default (`MCP_MAX_BODY_BYTES`). The largest value a tool takes
/// is 64 KiB, 384 KiB with every character JSON-escaped, so no call a tool
/// could accept is longer. A longer line is refused and skipped to its end
/// without being kept.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// JSON-RPC 2.0: the line is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC 2.0: the JSON is not a valid request.
pub const INVALID_REQUEST: i64 = -32600;

/// What to do with one line.
enum Verdict {
    /// A message rmcp takes.
    Message(Box<ClientJsonRpcMessage>),
    /// Nothing: a notification rmcp does not know, or a blank line.
    Skip,
    /// Answer with this error line.
    Answer(Vec<u8>),
}

/// Reads JSON-RPC lines from `R`, writes them to `W`.
pub struct LineTransport<R, W> {
    read: BufReader<R>,
    /// The line read so far. `receive` runs inside rmcp's `select!` and can
    /// be cancelled between reads: what was read stays here for the next call.
    line: Vec<u8>,
    /// Skipping the rest of a line already refused as too long.
    discarding: bool,
    max_line: usize,
    write: Arc<Mutex<Option<W>>>,
    /// The answer to a line refused, not yet handed to a writer. Kept here
    /// so that a cancelled `receive` loses none.
    queued: Option<Vec<u8>>,
    /// The answer to the last line refused, being written. One at a time:
    /// a client that sends bad lines and reads nothing stalls its own input.
    answering: Option<JoinHandle<()>>,
}

impl<R, W> LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    pub fn new(read: R, write: W) -> Self {
        LineTransport {
            read: BufReader::new(read),
            line: Vec::new(),
            discarding: false,
            max_line: MAX_LINE_BYTES,
            write: Arc::new(Mutex::new(Some(write))),
            queued: None,
            answering: None,
        }
    }

    /// Reads lines of at most `max` bytes (newline included).
    pub fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    /// Reads up to the end of the next line into `self.line`, never keeping
    /// more than `max_line` bytes. `Ok(true)`: a whole line; `Ok(false)`:
    /// the line is too long (the rest of it is skipped on later reads);
    /// `Err`: end of input or a read error.
    async fn read_line(&mut self) -> Result<bool, ()> {
        loop {
            let available = match self.read.fill_buf().await {
                Ok([]) => return Err(()),
                Err(error) => {
                    tracing::debug!(kind = ?error.kind(), "reading stdin failed");
                    return Err(());
                }
                Ok(available) => available,
            };
            let newline = available.iter().position(|b| *b == b'\n');
            let take = newline.map_or(available.len(), |at| at + 1);
            // Decided and consumed with no await in between: a cancelled
            // call loses nothing.
            let outcome = if self.discarding {
                if newline.is_some() {
                    self.discarding = false;
                }
                None
            } else if self.line.len().saturating_add(take) > self.max_line {
                self.line.clear();
                self.discarding = newline.is_none();
                Some(false)
            } else {
                self.line.extend_from_slice(&available[..take]);
                newline.map(|_| true)
            };
            self.read.consume(take);
            if let Some(whole) = outcome {
                return Ok(whole);
            }
        }
    }

    /// Writes the queued answer in the background, once the one before it
    /// is out. Cancelled at its await, it leaves both where they were.
    async fn send_queued(&mut self) {
        if self.queued.is_none() {
            return;
        }
        if let Some(previous) = self.answering.as_mut() {
            let _ = previous.await;
            self.answering = None;
        }
        if let Some(answer) = self.queued.take() {
            let write = Arc::clone(&self.write);
            self.answering = Some(tokio::spawn(async move {
                if write_line(&write, &answer).await.is_err() {
                    tracing::debug!("an error answer to a refused stdin line could not be written");
                }
            }));
        }
    }
}

async fn write_line<W: AsyncWrite + Unpin>(
    write: &Mutex<Option<W>>,
    line: &[u8],
) -> std::io::Result<()> {
    let mut write = write.lock().await;
    let Some(out) = write.as_mut() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            "stdout is closed",
        ));
    };
    out.write_all(line).await?;
    out.flush().await
}

impl<R, W> Transport<RoleServer> for LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let line = serde_json::to_vec(&item).map(|mut line| {
            line.push(b'\n');
            line
        });
        let write = Arc::clone(&self.write);
        async move { write_line(&write, &line.map_err(std::io::Error::other)?).await }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            // Each refused line's answer is queued, without an await, before
            // the next line is read.
            self.send_queued().await;
            match self.read_line().await {
                Err(()) => return None,
                Ok(false) => {
                    tracing::info!(
                        limit = self.max_line,
                        "a stdin line longer than the limit was refused unread"
                    );
                    self.queued = Some(too_long(self.max_line));
                }
                Ok(true) => {
                    let verdict = judge(&self.line);
                    self.line.clear();
                    match verdict {
                        Verdict::Message(message) => return Some(*message),
                        Verdict::Skip => {}
                        Verdict::Answer(answer) => self.queued = Some(answer),
                    }
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.send_queued().await;
        if let Some(answering) = self.answering.take() {
            let _ = answering.await;
        }
        let mut write = self.write.lock().await;
        if let Some(mut out) = write.take() {
            out.flush().await?;
        }
        Ok(())
    }
}

/// What one whole line (newline included) comes to.
fn judge(line: &[u8]) -> Verdict {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // RFC 8259 lets a parser ignore a leading byte order mark, as rmcp does.
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Verdict::Skip;
    }
    if let Ok(message) = serde_json::from_slice::<ClientJsonRpcMessage>(line) {
        return Verdict::Message(Box::new(message));
    }
    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        tracing::info!("a stdin line that is not JSON was refused");
        return Verdict::Answer(error_line(
            Value::Null,
            PARSE_ERROR,
            "Parse error: the line is not JSON. Send one JSON-RPC message per line, as JSON text in UTF-8.",
        ));
    };
    let object = value.as_object();
    let field = |name: &str| object.and_then(|o| o.get(name));
    let is_v2 = field("jsonrpc").and_then(Value::as_str) == Some("2.0");
    let has_method = field("method").is_some_and(Value::is_string);
    // A notification gets no answer (JSON-RPC 2.0, section 4.1), even one
    // rmcp does not know or cannot read; rmcp ignores unknown ones too.
    if is_v2 && has_method && object.is_some_and(|o| !o.contains_key("id")) {
        tracing::debug!("a stdin notification that is not a known MCP message was skipped");
        return Verdict::Skip;
    }
    // A request whose id can be read gets it back; any other gets null.
    let id = field("id")
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64())
        .filter(|_| has_method)
        .cloned()
        .unwrap_or(Value::Null);
    tracing::info!("a stdin line that is JSON but not a JSON-RPC message was refused");
    Verdict::Answer(error_line(
        id,
        INVALID_REQUEST,
        "Invalid Request: the line is JSON but not a JSON-RPC 2.0 message this server takes. Send one object per \
         line with \"jsonrpc\": \"2.0\", a \"method\" string, \"params\" as an object, and for a request an \"id\" \
         (a string or an integer).",
    ))
}

/// The answer to a line longer than `limit` bytes.
fn too_long(limit: usize) -> Vec<u8> {
    error_line(
        Value::Null,
        INVALID_REQUEST,
        &format!(
            "Invalid Request: the line is longer than {limit} bytes, the most this server reads as one message, \
             so it was skipped unread. Send one JSON-RPC message per line."
        ),
    )
}

fn error_line(id: Value, code: i64, message: &str) -> Vec<u8> {
    let mut line = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message},
    })
    .to_string()
    .into_bytes();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;

    /// A transport on one end of two pipes; the test holds the other ends.
    fn pair(
        max: usize,
    ) -> (
        LineTransport<tokio::io::DuplexStream, tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
        BufReader<tokio::io::DuplexStream>,
    ) {
        let (input, feed) = tokio::io::duplex(1 << 16);
        let (output, answers) = tokio::io::duplex(1 << 16);
        (
            LineTransport::new(input, output).with_max_line(max),
            feed,
            BufReader::new(answers),
        )
    }

    async fn next_answer(answers: &mut BufReader<tokio::io::DuplexStream>) -> Value {
        let mut line = String::new();
        answers.read_line(&mut line).await.unwrap();
        serde_json::from_str(&line).unwrap()
    }

    #[tokio::test]
    async fn each_line_it_cannot_take_is_answered_and_good_lines_pass() {
        let (mut transport, mut feed, mut answers) = pair(200);
        let secret = "sk-live-pasted-by-hand-0f3a";
        let long = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(300));
        feed.write_all(
            format!(
                "{secret}\n\n   \n{{\"foo\":1}}\n[]\n{{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":5}}\n\
                 {{\"id\":8,\"method\":\"ping\"}}\n{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\",\"params\":3}}\n\
                 {long}{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}}\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        // rmcp may take the unknown notification as a custom one; the ping
        // comes after it either way.
        loop {
            let message = transport.receive().await.expect("the ping gets through");
            let message = serde_json::to_value(&message).unwrap();
            if message["id"] == 1 {
                break;
            }
            assert_eq!(message["method"], "notifications/whatever", "{message}");
        }
        let said: Vec<Value> = {
            let mut said = Vec::new();
            for _ in 0..6 {
                said.push(next_answer(&mut answers).await);
            }
            said
        };
        let summary: Vec<(Value, i64)> = said
            .iter()
            .map(|a| (a["id"].clone(), a["error"]["code"].as_i64().unwrap()))
            .collect();
        assert_eq!(
            summary,
            [
                (Value::Null, PARSE_ERROR),
                (Value::Null, INVALID_REQUEST),
                (Value::Null, INVALID_REQUEST),
                (Value::Null, INVALID_REQUEST),
                (json!(8), INVALID_REQUEST),
                (Value::Null, INVALID_REQUEST),
            ]
        );
        assert!(
            said[5]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("longer than 200 bytes"),
            "{}",
            said[5]
        );
        for answer in &said {
            assert_eq!(answer["jsonrpc"], "2.0");
            assert!(!answer.to_string().contains(secret), "{answer}");
        }
        // Nothing more: the blank lines and the notification got no answer.
        drop(feed);
        assert!(transport.receive().await.is_none());
        transport.close().await.unwrap();
        let mut rest = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut answers, &mut rest)
            .await
            .unwrap();
        assert_eq!(rest, "");
    }

    /// A long line is never held whole: what is kept stays under the limit
    /// however the bytes arrive, and the line after it is read as usual.
    #[tokio::test]
    async fn a_long_line_is_skipped_without_being_kept() {
        let (mut transport, mut feed, mut answers) = pair(64);
        let writer = tokio::spawn(async move {
            for _ in 0..100 {
                feed.write_all(&[b'a'; 1000]).await.unwrap();
            }
            feed.write_all(b"\n{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"ping\"}\n")
                .await
                .unwrap();
            feed
        });
        let receiving = tokio::spawn(async move {
            let message = transport.receive().await;
            (transport, message)
        });
        let answer = next_answer(&mut answers).await;
        assert_eq!(answer["error"]["code"], INVALID_REQUEST);
        let (transport, message) = receiving.await.unwrap();
        assert_eq!(serde_json::to_value(message.unwrap()).unwrap()["id"], "x");
        assert!(
            transport.line.capacity() <= 1024,
            "{}",
            transport.line.capacity()
        );
        drop(writer.await.unwrap());
    }

    /// A `receive` cancelled while the answer before is still being
    /// written (nobody reads stdout yet) loses no answer: each refused line
    /// gets its own, in order, once stdout is read.
    #[tokio::test]
    async fn a_cancelled_receive_loses_no_answer() {
        let (input, mut feed) = tokio::io::duplex(1 << 16);
        // Room for less than one answer: the first stays half written.
        let (output, answers) = tokio::io::duplex(64);
        let mut transport = LineTransport::new(input, output);
        feed.write_all(b"one\n[]\n{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}\n")
            .await
            .unwrap();
        for _ in 0..5 {
            let cut =
                tokio::time::timeout(std::time::Duration::from_millis(20), transport.receive())
                    .await;
            assert!(cut.is_err(), "stuck behind the unread answer");
        }
        let mut answers = BufReader::new(answers);
        let reading = tokio::spawn(async move {
            let first = next_answer(&mut answers).await;
            let second = next_answer(&mut answers).await;
            (
                first["error"]["code"].clone(),
                second["error"]["code"].clone(),
            )
        });
        let message = transport.receive().await.unwrap();
        assert_eq!(serde_json::to_value(message).unwrap()["id"], 9);
        let (first, second) = tokio::time::timeout(std::time::Duration::from_secs(10), reading)
            .await
            .expect("both answers arrive")
            .unwrap();
        assert_eq!(
            (first, second),
            (json!(PARSE_ERROR), json!(INVALID_REQUEST))
        );
    }

    /// Answers go out as whole lines beside rmcp's own.
    #[tokio::test]
    async fn send_writes_one_line_per_message() {
        let (mut transport, _feed, mut answers) = pair(200);
        let message: ServerJsonRpcMessage = serde_json::from_value(json!({
            "jsonrpc": "2.0", "id": 3, "result": {}
        }))
        .unwrap();
        transport.send(message).await.unwrap();
        let answer = next_answer(&mut answers).await;
        assert_eq!(answer, json!({"jsonrpc": "2.0", "id": 3, "result": {}}));
    }
}
