//! The committed C header must be the one cbindgen generates from `src/ffi` now: C users and the
//! C tests compile against `include/gpcguard.h`, so a stale copy would hide an ABI change.

use std::path::Path;

#[test]
fn committed_header_matches_generated_header() {
    let generated_path = Path::new(env!("GPCGUARD_GENERATED_HEADER"));
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/gpcguard.h");
    let generated = std::fs::read_to_string(generated_path).unwrap_or_else(|e| {
        panic!("build.rs generated no header at {} ({e}); see the cbindgen warning in the build output", generated_path.display())
    });
    let committed = std::fs::read_to_string(&committed_path)
        .unwrap_or_else(|e| panic!("{} is missing ({e}): run `make header` and commit it", committed_path.display()));
    if committed != generated {
        let first_difference = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| committed.lines().count().min(generated.lines().count()) + 1, |i| i + 1);
        panic!(
            "include/gpcguard.h is stale: it differs from {} from line {first_difference}. \
             Run `make header` and commit include/gpcguard.h.",
            generated_path.display()
        );
    }
}

/// The name functions take an `int`, not an enum by value: a C caller may pass any number, and an
/// out-of-range enum value crossing into Rust would be undefined behaviour.
#[test]
fn name_functions_take_an_int() {
    let header = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/gpcguard.h")).unwrap();
    for prototype in ["const char *gpcguard_result_name(int result);", "const char *gpcguard_reason_name(int reason);"] {
        assert!(header.contains(prototype), "include/gpcguard.h lacks `{prototype}`");
    }
}
