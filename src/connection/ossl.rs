//! OpenSSL 3.0 functions and constants that `openssl-sys` does not declare. They live in the
//! system libssl/libcrypto that `openssl-sys` already links.

#![allow(non_camel_case_types)]

use libc::{c_int, c_uchar, c_void, size_t};
use openssl_sys::{SSL, SSL_CTX, SSL_SESSION, X509, X509_CRL, X509_STORE, X509_STORE_CTX, X509_VERIFY_PARAM};

pub(crate) type SSL_TICKET_STATUS = c_int;
pub(crate) type SSL_TICKET_RETURN = c_int;

pub(crate) const SSL_TICKET_FATAL: SSL_TICKET_STATUS = 0;
pub(crate) const SSL_TICKET_SUCCESS: SSL_TICKET_STATUS = 4;
pub(crate) const SSL_TICKET_SUCCESS_RENEW: SSL_TICKET_STATUS = 5;

pub(crate) const SSL_TICKET_RETURN_ABORT: SSL_TICKET_RETURN = 0;
pub(crate) const SSL_TICKET_RETURN_IGNORE_RENEW: SSL_TICKET_RETURN = 2;
pub(crate) const SSL_TICKET_RETURN_USE: SSL_TICKET_RETURN = 3;
pub(crate) const SSL_TICKET_RETURN_USE_RENEW: SSL_TICKET_RETURN = 4;

pub(crate) type CertVerifyCallback = unsafe extern "C" fn(*mut X509_STORE_CTX, *mut c_void) -> c_int;
pub(crate) type GenTicketCallback = unsafe extern "C" fn(*mut SSL, *mut c_void) -> c_int;
pub(crate) type DecryptTicketCallback = unsafe extern "C" fn(
    *mut SSL,
    *mut SSL_SESSION,
    *const c_uchar,
    size_t,
    SSL_TICKET_STATUS,
    *mut c_void,
) -> SSL_TICKET_RETURN;
pub(crate) type VerifyCallback = unsafe extern "C" fn(c_int, *mut X509_STORE_CTX) -> c_int;

extern "C" {
    pub(crate) fn SSL_get1_supported_ciphers(ssl: *mut SSL) -> *mut openssl_sys::stack_st_SSL_CIPHER;
    pub(crate) fn SSL_CTX_set_cert_verify_callback(ctx: *mut SSL_CTX, cb: Option<CertVerifyCallback>, arg: *mut c_void);
    pub(crate) fn SSL_CTX_set_session_ticket_cb(
        ctx: *mut SSL_CTX,
        gen_cb: Option<GenTicketCallback>,
        dec_cb: Option<DecryptTicketCallback>,
        arg: *mut c_void,
    ) -> c_int;
    pub(crate) fn SSL_SESSION_get0_peer(s: *mut SSL_SESSION) -> *mut X509;
    pub(crate) fn X509_STORE_CTX_get0_cert(ctx: *const X509_STORE_CTX) -> *mut X509;
    pub(crate) fn X509_STORE_CTX_get0_untrusted(ctx: *const X509_STORE_CTX) -> *mut openssl_sys::stack_st_X509;
    pub(crate) fn X509_STORE_CTX_get0_param(ctx: *const X509_STORE_CTX) -> *mut X509_VERIFY_PARAM;
    pub(crate) fn X509_STORE_add_crl(store: *mut X509_STORE, crl: *mut X509_CRL) -> c_int;
    pub(crate) fn X509_STORE_set_verify_cb(store: *mut X509_STORE, cb: Option<VerifyCallback>);
    pub(crate) fn X509_STORE_CTX_get_error(ctx: *const X509_STORE_CTX) -> c_int;
    pub(crate) fn SSL_SESSION_set1_ticket_appdata(ss: *mut SSL_SESSION, data: *const c_void, len: size_t) -> c_int;
    pub(crate) fn SSL_SESSION_get0_ticket_appdata(ss: *mut SSL_SESSION, data: *mut *mut c_void, len: *mut size_t) -> c_int;
}

/// `SSL_CTX_set_info_callback`'s callback: (ssl, where, ret).
pub(crate) type InfoCallback = unsafe extern "C" fn(*const SSL, c_int, c_int);
/// `SSL_CB_ACCEPT_LOOP` (ssl.h): a server handshake moves to its next state.
pub(crate) const SSL_CB_ACCEPT_LOOP: c_int = 0x2001;
/// `TLS_ST_SR_CLNT_HELLO` of `OSSL_HANDSHAKE_STATE` (ssl.h): the ClientHello has been processed.
pub(crate) const TLS_ST_SR_CLNT_HELLO: c_int = 20;

extern "C" {
    pub(crate) fn SSL_CTX_set_info_callback(ctx: *mut SSL_CTX, cb: Option<InfoCallback>);
    pub(crate) fn SSL_CTX_get_info_callback(ctx: *mut SSL_CTX) -> Option<InfoCallback>;
    /// Returns `OSSL_HANDSHAKE_STATE`, a C enum (int-sized).
    pub(crate) fn SSL_get_state(ssl: *const SSL) -> c_int;
    pub(crate) fn SSL_set_verify_result(ssl: *mut SSL, v: libc::c_long);
    pub(crate) fn SSL_SESSION_set1_master_key(sess: *mut SSL_SESSION, key: *const c_uchar, len: size_t) -> c_int;
    pub(crate) fn OPENSSL_cleanse(ptr: *mut c_void, len: size_t);
}

/// `NAME_CONSTRAINTS` as x509v3.h declares it (a public struct in OpenSSL 3.0): stacks of
/// `GENERAL_SUBTREE`, either may be NULL.
#[repr(C)]
pub(crate) struct NAME_CONSTRAINTS {
    pub(crate) permitted_subtrees: *mut openssl_sys::OPENSSL_STACK,
    pub(crate) excluded_subtrees: *mut openssl_sys::OPENSSL_STACK,
}

/// `GENERAL_SUBTREE` as x509v3.h declares it.
#[repr(C)]
pub(crate) struct GENERAL_SUBTREE {
    pub(crate) base: *mut openssl_sys::GENERAL_NAME,
    pub(crate) minimum: *mut openssl_sys::ASN1_INTEGER,
    pub(crate) maximum: *mut openssl_sys::ASN1_INTEGER,
}

/// keyUsage bit `cRLSign` as `X509_get_key_usage` reports it.
pub(crate) const KU_CRL_SIGN: u32 = 0x0002;
/// OpenSSL 3.0 `X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER` (x509_vfy.h).
pub(crate) const X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER: c_int = 85;

extern "C" {
    pub(crate) fn X509_get0_pubkey(x: *const X509) -> *mut openssl_sys::EVP_PKEY;
    pub(crate) fn X509_check_akid(issuer: *const X509, akid: *const openssl_sys::AUTHORITY_KEYID) -> c_int;
    pub(crate) fn X509_get_signature_info(x: *mut X509, mdnid: *mut c_int, pknid: *mut c_int, secbits: *mut c_int, flags: *mut u32) -> c_int;
    pub(crate) fn X509_VERIFY_PARAM_get_time(param: *const X509_VERIFY_PARAM) -> libc::time_t;
}

/// `CRL_REASON_REMOVE_FROM_CRL` (x509v3.h): the reasonCode value `removeFromCRL`.
pub(crate) const CRL_REASON_REMOVE_FROM_CRL: i64 = 8;

extern "C" {
    pub(crate) fn NAME_CONSTRAINTS_free(nc: *mut NAME_CONSTRAINTS);
}
