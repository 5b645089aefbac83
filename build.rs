//! Generates the C header from the crate's `ffi` module with cbindgen, into OUT_DIR. `make header`
//! copies it to `include/gpcguard.h` (committed); `tests/header.rs` fails when the two differ.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("gpcguard.h");
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=src/verdict.rs");
    println!("cargo:rerun-if-changed=src/status.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    match cbindgen::generate_with_config(&crate_dir, config) {
        Ok(bindings) => {
            bindings.write_to_file(&out);
        }
        Err(e) => {
            // A header that cannot be generated must not pass as current: leave none behind.
            let _ = std::fs::remove_file(&out);
            println!("cargo:warning=cbindgen could not generate the header: {e}");
        }
    }
    println!("cargo:rustc-env=GPCGUARD_GENERATED_HEADER={}", out.display());
    // The shared library's soname, so hosts link against the ABI version, not the file name.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libgpcguard.so.0");
}
