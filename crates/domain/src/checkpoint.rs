//! Audit checkpoints: the chain's head written down outside the database, and the lines of a
//! file that keeps them (`TIME SEQ:HASH`, one a line).

use jiff::Timestamp;

/// What is wrong with a checkpoint or with a line that keeps one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Not `SEQ:HASH`.
    #[error("a checkpoint looks like SEQ:HASH (a position, a colon, 64 hex digits)")]
    NotSeqHash,
    /// The position is not a whole number from 0 up.
    #[error("the position before the colon must be a whole number from 0 up")]
    BadSeq,
    /// The hash is not 64 hex digits.
    #[error("the hash after the colon must be 64 hex digits")]
    BadHash,
    /// Not `TIME SEQ:HASH`.
    #[error(
        "a kept checkpoint looks like TIME SEQ:HASH, e.g. 2026-12-03T07:00:00Z 1234:<64 hex digits>"
    )]
    NotTimeAndCheckpoint,
    /// The time is not an RFC 3339 time with an offset.
    #[error("the time must be an RFC 3339 time such as 2026-12-03T07:00:00Z")]
    BadTime,
}

/// A position in the audit chain and the hash of the event there: whoever keeps it can later
/// tell whether the chain still holds that event unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The event's position (0 for the empty chain).
    pub seq: i64,
    /// The event's hash, 64 lowercase hex digits.
    pub hash: String,
}

impl std::str::FromStr for Checkpoint {
    type Err = CheckpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (seq, hash) = s.split_once(':').ok_or(CheckpointError::NotSeqHash)?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CheckpointError::BadSeq);
        }
        let seq = seq.parse().map_err(|_| CheckpointError::BadSeq)?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CheckpointError::BadHash);
        }
        Ok(Checkpoint {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// A checkpoint with the time it was kept: one line of a checkpoint file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptCheckpoint {
    /// When it was taken, to whole seconds.
    pub at: Timestamp,
    /// The chain's head at that time.
    pub checkpoint: Checkpoint,
}

impl KeptCheckpoint {
    /// `checkpoint` kept at `at`; the time is cut to whole seconds, as the line writes it.
    pub fn new(at: Timestamp, checkpoint: Checkpoint) -> Self {
        let at = Timestamp::from_second(at.as_second()).unwrap_or(at);
        KeptCheckpoint { at, checkpoint }
    }

    /// The time as the line writes it: RFC 3339 in UTC, e.g. `2026-12-03T07:00:00Z`.
    pub fn time(&self) -> String {
        self.at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

impl std::str::FromStr for KeptCheckpoint {
    type Err = CheckpointError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let mut words = line.split_whitespace();
        let (Some(time), Some(checkpoint), None) = (words.next(), words.next(), words.next())
        else {
            return Err(CheckpointError::NotTimeAndCheckpoint);
        };
        let at: Timestamp = time.parse().map_err(|_| CheckpointError::BadTime)?;
        Ok(KeptCheckpoint::new(at, checkpoint.parse()?))
    }
}

impl std::fmt::Display for KeptCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.time(), self.checkpoint)
    }
}

/// A line of a checkpoint file that is not a kept checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct BadLine {
    /// The line's number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub problem: CheckpointError,
}

/// Every checkpoint a file keeps, with its line number (from 1), in the file's order; blank
/// lines are skipped, any other line that is not `TIME SEQ:HASH` is refused.
pub fn parse_kept(text: &str) -> Result<Vec<(usize, KeptCheckpoint)>, BadLine> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let kept = line.parse().map_err(|problem| BadLine {
                line: index + 1,
                problem,
            })?;
            Ok((index + 1, kept))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_kept_line_reads_back_as_written() {
        let kept = KeptCheckpoint::new(
            "2026-12-03T07:00:00.75Z".parse().expect("time"),
            Checkpoint {
                seq: 1234,
                hash: HASH.into(),
            },
        );
        let line = kept.to_string();
        assert_eq!(line, format!("2026-12-03T07:00:00Z 1234:{HASH}"));
        assert_eq!(line.parse::<KeptCheckpoint>(), Ok(kept));
    }

    #[test]
    fn a_checkpoint_takes_any_case_of_hex_and_keeps_it_lowercase() {
        let checkpoint: Checkpoint = format!("7:{}", HASH.to_ascii_uppercase())
            .parse()
            .expect("checkpoint");
        assert_eq!(checkpoint.seq, 7);
        assert_eq!(checkpoint.hash, HASH);
    }

    #[test]
    fn a_time_with_an_offset_is_the_same_instant_in_utc() {
        let kept: KeptCheckpoint = format!("2026-12-03T08:00:00+01:00 5:{HASH}")
            .parse()
            .expect("line");
        assert_eq!(kept.time(), "2026-12-03T07:00:00Z");
    }

    #[test]
    fn malformed_checkpoints_say_what_is_wrong() {
        let cases = [
            (HASH.to_string(), CheckpointError::NotSeqHash),
            (format!(":{HASH}"), CheckpointError::BadSeq),
            (format!("-1:{HASH}"), CheckpointError::BadSeq),
            (format!("+1:{HASH}"), CheckpointError::BadSeq),
            (
                format!("99999999999999999999:{HASH}"),
                CheckpointError::BadSeq,
            ),
            ("12:abc".to_string(), CheckpointError::BadHash),
            (format!("12:{}g", &HASH[1..]), CheckpointError::BadHash),
            (format!("12:{HASH}0"), CheckpointError::BadHash),
        ];
        for (text, problem) in cases {
            assert_eq!(text.parse::<Checkpoint>(), Err(problem), "{text}");
        }
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        let cases = [
            (format!("12:{HASH}"), CheckpointError::NotTimeAndCheckpoint),
            (
                format!("2026-12-03T07:00:00Z 12:{HASH} extra"),
                CheckpointError::NotTimeAndCheckpoint,
            ),
            (format!("yesterday 12:{HASH}"), CheckpointError::BadTime),
            (
                format!("2026-12-03T07:00:00 12:{HASH}"),
                CheckpointError::BadTime,
            ),
            (
                "2026-12-03T07:00:00Z 12:abc".to_string(),
                CheckpointError::BadHash,
            ),
        ];
        for (line, problem) in cases {
            assert_eq!(line.parse::<KeptCheckpoint>(), Err(problem), "{line}");
        }
    }

    #[test]
    fn a_file_is_read_in_order_with_line_numbers_and_blank_lines_skipped() {
        let text =
            format!("2026-12-03T07:00:00Z 3:{HASH}\n\n2026-12-03T08:00:00Z 9:{HASH}\r\n   \n");
        let kept = parse_kept(&text).expect("file");
        let seen: Vec<(usize, i64)> = kept
            .iter()
            .map(|(line, k)| (*line, k.checkpoint.seq))
            .collect();
        assert_eq!(seen, [(1, 3), (3, 9)]);
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let text = format!("2026-12-03T07:00:00Z 3:{HASH}\n\n2026-12-03T08:00:00Z 9:{HASH}x\n");
        let err = parse_kept(&text).expect_err("bad line");
        assert_eq!(
            err,
            BadLine {
                line: 3,
                problem: CheckpointError::BadHash
            }
        );
        assert!(err.to_string().starts_with("line 3: "), "{err}");
    }
}
