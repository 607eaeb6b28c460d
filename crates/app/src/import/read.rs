//! The reading side of an import: a Bundle or NDJSON read, checked, mapped and hashed on a
//! blocking thread, and sent to the writer in parts.

use super::claims::Claims;
use super::{Entry, FeedSender, Item, Key, Piece, rejected};
use crate::{Error, Result, crypto};
use portal_fhir::{ImportError, Limits, Mapped, Reference, collect_references, map_resource};
use portal_store::packed::{self, Packing};
use std::collections::HashMap;

/// The most entries, and about the most bytes of text, one part of a Bundle holds.
const PART_ENTRIES: usize = 1_000;
const PART_BYTES: usize = 1024 * 1024;

/// The longest NDJSON line (one resource) an import reads: room for the longest string the
/// limits allow twice over, and at least the 64 MB a `POST /fhir` body may take.
fn max_line_bytes(limits: &Limits) -> usize {
    limits
        .max_string_bytes
        .saturating_mul(2)
        .max(64 * 1024 * 1024)
}

/// Reads one line (without its `\n` or `\r\n`) into `line`, refusing one longer than `cap`
/// bytes before holding more than that; `None` at the end of the input.
fn read_line_capped(
    reader: &mut impl std::io::BufRead,
    line: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<()>> {
    line.clear();
    let mut read_any = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        read_any = true;
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (at, true),
            None => (available.len(), false),
        };
        if line.len() + take > cap {
            return Err(std::io::Error::other(format!(
                "the line is longer than {cap} bytes, the most one resource may take \
                 (--max-string-bytes raises it)"
            )));
        }
        line.extend_from_slice(&available[..take]);
        reader.consume(if done { take + 1 } else { take });
        if done {
            break;
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(read_any.then_some(()))
}

/// Reads a Bundle (JSON bytes) within `limits` and sends it to `out` in parts. CPU only: run it
/// on a blocking thread.
///
/// Two passes over the text, each holding one entry's tree at a time: the first checks every
/// entry and sends the keys that give each its id; the second checks references, maps and
/// hashes, and sends the items (Patients first, which the others point at) a part at a time.
/// Memory holds the text, the keys and a few parts, not a tree of the whole Bundle.
pub fn read_bundle(bytes: &[u8], limits: &Limits, out: &FeedSender) {
    if let Err(error) = read_bundle_parts(bytes, limits, out) {
        out.fail(error);
    }
}

fn read_bundle_parts(bytes: &[u8], limits: &Limits, out: &FeedSender) -> Result<()> {
    let text = portal_fhir::open_bundle(bytes, limits).map_err(rejected)?;
    let mut full_urls: HashMap<String, usize> = HashMap::new();
    let mut keys = Vec::with_capacity(text.len());
    let mut patients = Vec::new();
    let mut others = Vec::with_capacity(text.len());
    let mut claims = Claims::default();
    for index in 0..text.len() {
        let entry = text.entry(index).map_err(rejected)?;
        if let Some(url) = &entry.full_url
            && let Some(first) = full_urls.insert(url.clone(), index)
        {
            return Err(rejected(portal_fhir::repeated_full_url(&entry, url, first)));
        }
        let key = Key::of(&entry);
        claims.add_entry(&key);
        // Found again with the entry's item below: kept, they would hold memory for the
        // whole Bundle.
        for (_, reference) in collect_references(&entry.resource) {
            claims.add_reference(&reference);
        }
        if key.resource_type == "Patient" {
            patients.push(index);
        } else {
            others.push(index);
        }
        keys.push(key);
    }
    if !out.send(Ok(Piece::Plan(keys, claims.finish()))) {
        return Ok(());
    }
    let mut parts = Parts::new(out);
    for index in patients.into_iter().chain(others) {
        let entry = text.entry(index).map_err(rejected)?;
        let refs = collect_references(&entry.resource);
        portal_fhir::check_entry_references(&entry, &refs, |url| full_urls.contains_key(url))
            .map_err(rejected)?;
        if !parts.push(prepare_entry(entry, refs)?, text.text_len(index)) {
            return Ok(());
        }
    }
    parts.finish();
    Ok(())
}

/// Gathers prepared items into parts, and sends each part once it is full.
struct Parts<'a> {
    out: &'a FeedSender,
    items: Vec<Item>,
    /// The bytes of text the items were read from.
    bytes: usize,
}

impl<'a> Parts<'a> {
    fn new(out: &'a FeedSender) -> Self {
        Self {
            out,
            items: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds an item read from `bytes` of text; `false` once the writer has stopped.
    fn push(&mut self, item: Item, bytes: usize) -> bool {
        self.items.push(item);
        self.bytes += bytes;
        if self.items.len() < PART_ENTRIES && self.bytes < PART_BYTES {
            return true;
        }
        self.bytes = 0;
        self.out
            .send(Ok(Piece::Items(std::mem::take(&mut self.items))))
    }

    /// Sends the last part and the end of the input.
    fn finish(self) {
        if !self.items.is_empty() && !self.out.send(Ok(Piece::Items(self.items))) {
            return;
        }
        self.out.send(Ok(Piece::End));
    }
}

/// Reads NDJSON from `reader` and sends it to `out` a chunk of lines at a time. Blocking: run
/// it on a blocking thread.
pub fn read_ndjson(reader: &mut impl std::io::BufRead, limits: &Limits, out: &FeedSender) {
    if let Err(error) = read_ndjson_parts(reader, limits, out) {
        out.fail(error);
    }
}

fn read_ndjson_parts(
    reader: &mut impl std::io::BufRead,
    limits: &Limits,
    out: &FeedSender,
) -> Result<()> {
    let line_cap = max_line_bytes(limits);
    let mut parts = Parts::new(out);
    let mut bytes = Vec::new();
    for n in 0.. {
        let line = match read_line_capped(reader, &mut bytes, line_cap) {
            Ok(Some(())) => std::str::from_utf8(&bytes)
                .map_err(|_| Error::Rejected(format!("line {}: is not UTF-8 text", n + 1)))?,
            Ok(None) => break,
            Err(e) => {
                return Err(Error::Rejected(format!(
                    "line {}: cannot be read: {e}",
                    n + 1
                )));
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let resource =
            portal_fhir::parse_ndjson_line_limited(line, n + 1, limits).map_err(rejected)?;
        let refs = collect_references(&resource);
        let entry = Entry {
            index: n + 1,
            full_url: None,
            resource,
            request: None,
        };
        let line_bytes = line.len();
        if !parts.push(prepare_entry(entry, refs)?, line_bytes) {
            return Ok(());
        }
    }
    parts.finish();
    Ok(())
}

/// Checks, maps and hashes one entry, with the references [`collect_references`] found in it.
/// Its parsed JSON is freed here, on the thread that built it.
fn prepare_entry(entry: Entry, refs: Vec<(String, Reference)>) -> Result<Item> {
    let mapped = map_resource(&entry.resource, Some(entry.index)).map_err(|e| {
        if entry.full_url.is_none() && entry.request.is_none() {
            rejected(ImportError {
                entry: None,
                line: Some(entry.index),
                ..e
            })
        } else {
            rejected(e)
        }
    })?;
    // Compact, keys in the sender's order.
    let json = portal_fhir::json::to_string(&entry.resource);
    let hash = crypto::content_hash(&json);
    let projected = portal_fhir::projection::of(&mapped, &entry.resource);
    let terms = portal_fhir::search::terms_of(&entry.resource);
    let key = Key::of(&entry);
    // The parsed JSON is not needed any more: freed before the details are written out (a
    // document's text can take megabytes), on the thread that built it.
    drop(entry);
    // Both are stored packed; packing here keeps the work off the writer's thread.
    let json = packed::pack(Packing::Resource, &json);
    let projection = match projected {
        Some(p) => Some((
            p,
            packed::pack(
                Packing::Details,
                &portal_fhir::json::write(&mapped)
                    .map_err(|e| Error::Internal(format!("cannot serialise a resource: {e}")))?,
            ),
        )),
        None => None,
    };
    let directory_name = portal_fhir::compartment::directory_name(&mapped);
    let is_mapped = mapped.is_mapped();
    let patient = match mapped {
        Mapped::Patient(data) => Some(Box::new(data)),
        _ => None,
    };
    Ok(Item {
        key,
        directory_name,
        patient,
        is_mapped,
        refs,
        projection,
        terms,
        json,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[u8], cap: usize) -> Vec<std::io::Result<String>> {
        let mut reader = std::io::BufReader::with_capacity(4, text);
        let mut line = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line_capped(&mut reader, &mut line, cap) {
                Ok(Some(())) => out.push(Ok(String::from_utf8_lossy(&line).into_owned())),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn lines_are_read_whole_across_buffers_and_refused_past_the_cap() {
        let read: Vec<String> = lines(b"first line\r\n\nlast", 64)
            .into_iter()
            .map(|l| l.expect("line"))
            .collect();
        assert_eq!(read, ["first line", "", "last"]);
        let capped = lines(b"short\nmuch too long a line\n", 10);
        assert_eq!(capped[0].as_ref().expect("first"), "short");
        let error = capped[1].as_ref().expect_err("refused").to_string();
        assert!(error.contains("longer than 10 bytes"), "{error}");
    }
}
