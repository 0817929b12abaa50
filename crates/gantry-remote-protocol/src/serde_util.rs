//! Small serde helpers for fields epack's Go types send as zero values.

use serde::{Deserialize, Deserializer};

/// An optional string where `""` (Go's zero value, e.g. `"digest": ""` in epack's pull
/// example) means absent.
pub(crate) fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    Ok(s.filter(|s| !s.is_empty()))
}

/// A string where `null` (what some encoders write for an absent string) means `""`.
pub(crate) fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// `false` is the default of booleans epack omits (`omitempty`).
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}
