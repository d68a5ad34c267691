//! Shields the protocol loop from malformed input. tower-lsp-server stops
//! reading after the first message it cannot decode, which would end the
//! session over one bad byte; this copies stdin to the server message by
//! message and leaves out (with a warning in the log) any message without a
//! usable `Content-Length` or whose body is not JSON.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest message body accepted; a larger `Content-Length` is a corrupt
/// header, not a document.
const MAX_BODY_BYTES: usize = 1 << 30;

/// Copies well-formed messages from `input` to `output` until `input` ends.
pub async fn forward_well_formed(input: impl AsyncRead + Unpin, mut output: impl AsyncWrite + Unpin) -> std::io::Result<()> {
    let mut reader = BufReader::new(input);
    loop {
        let mut length: Option<usize> = None;
        let mut in_header = false;
        loop {
            let mut line = Vec::new();
            if reader.read_until(b'\n', &mut line).await? == 0 {
                return Ok(());
            }
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if in_header {
                    break;
                }
                continue;
            }
            in_header = true;
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().ok().filter(|&n| n <= MAX_BODY_BYTES);
                }
            }
        }
        let Some(length) = length else {
            tracing::warn!("skipped a message without a valid Content-Length header");
            continue;
        };
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
            tracing::warn!("skipped a message whose body is not JSON: {error}");
            continue;
        }
        output.write_all(format!("Content-Length: {length}\r\n\r\n").as_bytes()).await?;
        output.write_all(&body).await?;
        output.flush().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_messages_are_left_out_and_good_ones_pass() {
        let input = b"Content-Length: 2\r\n\r\n{}\
            Content-Length: 5\r\n\r\n{\"a\":\
            X-Nonsense\r\n\r\n\
            Content-Length: 99999999999\r\n\r\n\
            Content-Length: 4\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n[1,2]"
            .to_vec();
        let mut output = Vec::new();
        forward_well_formed(&input[..], &mut output).await.unwrap();
        assert_eq!(String::from_utf8(output).unwrap(), "Content-Length: 2\r\n\r\n{}");
        let input = b"Content-Length: 5\r\n\r\n[1,2]".to_vec();
        let mut output = Vec::new();
        forward_well_formed(&input[..], &mut output).await.unwrap();
        assert_eq!(String::from_utf8(output).unwrap(), "Content-Length: 5\r\n\r\n[1,2]");
    }
}
