//! `conkit::queue` against its peers and CPython (in progress).

use core_affinity::CoreId;

use super::Make;

/// The benchmarks of this module.
pub fn all(_items: u64, _core: Option<CoreId>) -> Vec<(&'static str, Make)> {
    Vec::new()
}
