//! The kinds of request failure, as result files name them (`samples[].error_kind`).

use serde::{Deserialize, Serialize};

/// What kind of failure a failed request had (`samples[].error_kind`, written as the
/// snake_case name). A name this build does not know reads as `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No TCP connection.
    Connect,
    /// The request could not be sent or its headers not read.
    Send,
    /// No headers, or no more of the body, before the deadline.
    Timeout,
    /// A non-success HTTP status.
    Http,
    /// The connection broke mid-body.
    Broken,
    /// The body ended without the stream's done marker.
    Truncated,
    /// A frame was not the JSON the API defines.
    Malformed,
    /// The answer was not a stream the backend reads.
    NotAStream,
    /// The server reported an error inside the stream.
    Server,
    /// A limit of the harness was reached.
    Limit,
    /// The target's configuration cannot make the request.
    Config,
    /// The in-process engine failed or is not running.
    Engine,
    /// The harness itself failed (a request task ended abnormally).
    Internal,
    /// A kind written by another version.
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_keep_their_names_in_files() {
        let names: Vec<String> = [ErrorKind::Connect, ErrorKind::Timeout, ErrorKind::NotAStream, ErrorKind::Internal]
            .iter()
            .map(|k| serde_json::to_string(k).unwrap())
            .collect();
        assert_eq!(names, ["\"connect\"", "\"timeout\"", "\"not_a_stream\"", "\"internal\""]);
        // a kind another version wrote still reads
        assert_eq!(serde_json::from_str::<ErrorKind>("\"gpu_melted\"").unwrap(), ErrorKind::Other);
        assert_eq!(serde_json::from_str::<ErrorKind>("\"truncated\"").unwrap(), ErrorKind::Truncated);
    }
}
