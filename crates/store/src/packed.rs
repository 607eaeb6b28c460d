//! JSON kept packed: each resource's original JSON and each clinical item's mapped details are
//! stored as a zstd frame compressed with a dictionary trained on FHIR R4 JSON (the files in
//! `data/`), which makes a one-kilobyte resource five to six times smaller, where compressing it
//! alone would halve it. Rows written before packing hold the JSON as text and read as before.
//!
//! A dictionary is named by the id written in every frame that uses it. A shipped dictionary
//! never changes and is never removed: a better one is added under a new id, used for new
//! writes, and the old one still reads what it packed. (To train one: `zstd --train` on a few
//! thousand stored values, with `--maxdict=65536 --dictID=N` and an unused N ≥ 32768.)

use crate::{Error, Result};
use std::cell::RefCell;
use std::sync::LazyLock;
use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// What a value is, which picks the dictionary it is packed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    /// A FHIR resource's JSON as it came in.
    Resource,
    /// A clinical item's mapped details (JSON of `portal_fhir::Mapped`).
    Details,
}

const RESOURCE_DICT_ID: u32 = 1_000_001;
const RESOURCE_DICT: &[u8] = include_bytes!("../data/resource-json-1000001.zdict");
const DETAILS_DICT_ID: u32 = 1_000_002;
const DETAILS_DICT: &[u8] = include_bytes!("../data/details-json-1000002.zdict");

/// zstd's fastest level: with a dictionary, within a few percent of level 3's size at half
/// the time, so an import is not held up by packing.
const LEVEL: i32 = 1;

/// The largest value unpacked: far above any resource an import accepts, so a damaged frame
/// that claims more is refused rather than allocated.
const MAX_UNPACKED: u64 = 256 * 1024 * 1024;

/// The first four bytes of every zstd frame; JSON text never starts with them.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

static RESOURCE_ENCODER: LazyLock<EncoderDictionary<'static>> =
    LazyLock::new(|| EncoderDictionary::copy(RESOURCE_DICT, LEVEL));
static DETAILS_ENCODER: LazyLock<EncoderDictionary<'static>> =
    LazyLock::new(|| EncoderDictionary::copy(DETAILS_DICT, LEVEL));
static RESOURCE_DECODER: LazyLock<DecoderDictionary<'static>> =
    LazyLock::new(|| DecoderDictionary::copy(RESOURCE_DICT));
static DETAILS_DECODER: LazyLock<DecoderDictionary<'static>> =
    LazyLock::new(|| DecoderDictionary::copy(DETAILS_DICT));

/// Compression and decompression contexts, one set per thread, made on first use.
#[derive(Default)]
struct Contexts {
    resource: Option<Compressor<'static>>,
    details: Option<Compressor<'static>>,
    unpack: Vec<(u32, Decompressor<'static>)>,
}

thread_local! {
    static CONTEXTS: RefCell<Contexts> = RefCell::new(Contexts::default());
}

fn zstd_error(what: &str, e: std::io::Error) -> Error {
    Error::Corrupt(format!("{what}: {e}"))
}

/// Packs `json` for storing.
pub fn pack(packing: Packing, json: &str) -> Vec<u8> {
    CONTEXTS.with_borrow_mut(|contexts| {
        let (slot, dictionary) = match packing {
            Packing::Resource => (&mut contexts.resource, &*RESOURCE_ENCODER),
            Packing::Details => (&mut contexts.details, &*DETAILS_ENCODER),
        };
        let packed = match slot {
            Some(compressor) => compressor.compress(json.as_bytes()),
            None => Compressor::with_prepared_dictionary(dictionary).and_then(|mut compressor| {
                let packed = compressor.compress(json.as_bytes());
                *slot = Some(compressor);
                packed
            }),
        };
        // Compressing into a growable buffer fails only when memory does; keep the text
        // rather than lose the value (it reads back either way).
        packed.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "packing failed; stored as text");
            json.as_bytes().to_vec()
        })
    })
}

/// The JSON of a stored value: unpacked from a frame, or text as stored before packing.
pub fn unpack(stored: &[u8]) -> Result<String> {
    if !stored.starts_with(&ZSTD_MAGIC) {
        return String::from_utf8(stored.to_vec())
            .map_err(|_| Error::Corrupt("stored JSON is not UTF-8".into()));
    }
    let dict_id = zstd::zstd_safe::get_dict_id_from_frame(stored).map(u32::from);
    let size = match zstd::zstd_safe::get_frame_content_size(stored) {
        Ok(Some(size)) if size <= MAX_UNPACKED => size,
        _ => {
            return Err(Error::Corrupt(
                "packed JSON of unknown or excessive size".into(),
            ));
        }
    };
    let bytes = CONTEXTS.with_borrow_mut(|contexts| {
        let id = dict_id.unwrap_or(0);
        let at = match contexts.unpack.iter().position(|(known, _)| *known == id) {
            Some(at) => at,
            None => {
                let decompressor = match dict_id {
                    Some(RESOURCE_DICT_ID) => {
                        Decompressor::with_prepared_dictionary(&RESOURCE_DECODER)
                    }
                    Some(DETAILS_DICT_ID) => {
                        Decompressor::with_prepared_dictionary(&DETAILS_DECODER)
                    }
                    Some(other) => {
                        return Err(Error::Corrupt(format!(
                            "packed with dictionary {other}, which this version does not have"
                        )));
                    }
                    None => Decompressor::new(),
                }
                .map_err(|e| zstd_error("unpacking", e))?;
                contexts.unpack.push((id, decompressor));
                contexts.unpack.len() - 1
            }
        };
        // `size` is at most MAX_UNPACKED, which fits in usize.
        let capacity = usize::try_from(size).unwrap_or(usize::MAX);
        contexts.unpack[at]
            .1
            .decompress(stored, capacity)
            .map_err(|e| zstd_error("unpacking", e))
    })?;
    String::from_utf8(bytes).map_err(|_| Error::Corrupt("packed JSON is not UTF-8".into()))
}

/// Reads a column that holds packed JSON (or JSON text stored before packing).
pub(crate) fn column(row: &sqlx::any::AnyRow, name: &str) -> Result<String> {
    use sqlx::Row;
    match row.try_get::<Vec<u8>, _>(name) {
        Ok(bytes) => unpack(&bytes),
        Err(sqlx::Error::ColumnDecode { .. }) => Ok(row.try_get::<String, _>(name)?),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBSERVATION: &str = r#"{"resourceType":"Observation","id":"a","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2339-0","display":"Glucose [Mass/volume] in Blood"}]},"valueQuantity":{"value":5.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}"#;

    #[test]
    fn packed_json_reads_back_and_is_smaller() {
        for packing in [Packing::Resource, Packing::Details] {
            let packed = pack(packing, OBSERVATION);
            assert!(packed.starts_with(&ZSTD_MAGIC));
            assert!(
                packed.len() * 2 < OBSERVATION.len(),
                "{} bytes",
                packed.len()
            );
            assert_eq!(unpack(&packed).expect("unpacks"), OBSERVATION);
        }
    }

    #[test]
    fn text_stored_before_packing_reads_as_it_is() {
        assert_eq!(unpack(OBSERVATION.as_bytes()).expect("text"), OBSERVATION);
        assert_eq!(unpack(b"").expect("empty"), "");
    }

    #[test]
    fn empty_and_large_values_round_trip() {
        let large = format!("[{}]", vec![OBSERVATION; 5_000].join(","));
        for json in ["", "{}", large.as_str()] {
            assert_eq!(
                unpack(&pack(Packing::Resource, json)).expect("unpacks"),
                json
            );
        }
    }

    #[test]
    fn damaged_frames_are_refused_not_trusted() {
        let packed = pack(Packing::Details, OBSERVATION);
        let mut cut = packed.clone();
        cut.truncate(packed.len() - 3);
        assert!(unpack(&cut).is_err());
        // A frame header alone, with no size.
        assert!(unpack(&ZSTD_MAGIC).is_err());
        // A frame naming a dictionary nobody shipped: the id follows the frame header
        // descriptor and, unless the frame is a single segment, the window descriptor.
        let mut foreign = packed.clone();
        let at = if foreign[4] & 0x20 != 0 { 5 } else { 6 };
        foreign[at] ^= 0x40;
        assert!(unpack(&foreign).is_err());
        // Invalid UTF-8 stored as text.
        assert!(unpack(&[0xff, 0xfe]).is_err());
    }
}
