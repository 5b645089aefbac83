//! `gpcguard_config`: a configuration being built. Boxed: the caller owns it and frees it with
//! `gpcguard_config_free`; building a guard only borrows it.

use std::ffi::c_char;
use std::path::Path;

use super::{clear_out, fail_with, ffi_boundary, gpcguard_result, require_non_null, str_arg, write_out};
use crate::config::Config;

/// A configuration being built (opaque).
pub struct gpcguard_config {
    pub(crate) inner: Config,
}

/// Makes an empty configuration (every key at its default, required keys unset) in `*out`.
/// The caller frees it with `gpcguard_config_free`.
/// Errors: `GPCGUARD_NULL_PARAMETER`.
#[no_mangle]
pub extern "C" fn gpcguard_config_new(out: *mut *mut gpcguard_config) -> gpcguard_result {
    ffi_boundary!({
        require_non_null!(out);
        unsafe {
            *out = std::ptr::null_mut();
            write_out(out, gpcguard_config { inner: Config::new() })
        }
    })
}

/// Reads a TOML configuration file (NUL-terminated UTF-8 path) into a new configuration in `*out`.
/// Relative file paths inside it are taken relative to the file's folder. The files it names are
/// read when a guard is built, not here. The caller frees the result with `gpcguard_config_free`.
/// Errors: `GPCGUARD_NULL_PARAMETER`, `GPCGUARD_INVALID_ARGUMENT` (path not UTF-8),
/// `GPCGUARD_FILE_UNREADABLE`, `GPCGUARD_CONFIG_SYNTAX`, `GPCGUARD_CONFIG_UNKNOWN_KEY`,
/// `GPCGUARD_CONFIG_INVALID_VALUE`; `gpcguard_last_error` names the file and key.
#[no_mangle]
pub extern "C" fn gpcguard_config_from_file(path: *const c_char, out: *mut *mut gpcguard_config) -> gpcguard_result {
    ffi_boundary!({
        clear_out!(out);
        require_non_null!(path);
        let path = match unsafe { str_arg(path, "path") } {
            Ok(p) => p,
            Err(r) => return r,
        };
        match Config::from_file(Path::new(path)) {
            Ok(inner) => unsafe { write_out(out, gpcguard_config { inner }) },
            Err(e) => fail_with(e),
        }
    })
}

/// Sets one key (NUL-terminated UTF-8 `key` and `value`, the same keys as the TOML file; booleans
/// as `true`/`false`, numbers in decimal). List keys (`ssp_fqdn`, `trust_anchor`, `intermediate`,
/// `crl`, `service_root`) append. On error the configuration is unchanged.
/// Errors: `GPCGUARD_NULL_PARAMETER`, `GPCGUARD_INVALID_ARGUMENT`, `GPCGUARD_CONFIG_UNKNOWN_KEY`,
/// `GPCGUARD_CONFIG_INVALID_VALUE`; `gpcguard_last_error` names the key.
#[no_mangle]
pub extern "C" fn gpcguard_config_set(cfg: *mut gpcguard_config, key: *const c_char, value: *const c_char) -> gpcguard_result {
    ffi_boundary!({
        require_non_null!(cfg, key, value);
        let (key, value) = match unsafe { (str_arg(key, "key"), str_arg(value, "value")) } {
            (Ok(k), Ok(v)) => (k, v),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        #[cfg(feature = "test-panic")]
        if key == "test_panic" {
            panic!("test-panic feature: deliberate panic in gpcguard_config_set");
        }
        let cfg = unsafe { &mut (*cfg).inner };
        let mut next = cfg.clone();
        match next.set(key, value) {
            Ok(()) => {
                *cfg = next;
                gpcguard_result::GPCGUARD_OK
            }
            Err(e) => fail_with(e),
        }
    })
}

/// Frees a configuration. NULL is a no-op.
#[no_mangle]
pub extern "C" fn gpcguard_config_free(cfg: *mut gpcguard_config) {
    ffi_boundary!((), {
        if !cfg.is_null() {
            drop(unsafe { Box::from_raw(cfg) });
        }
    })
}
