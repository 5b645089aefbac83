//! The compact JWS envelope of the GP Connect audit token, unsigned (spec §4.1, §9 "JWT
//! envelope"): `Authorization: Bearer <header>.<payload>.` with strict base64url, the header
//! exactly `{"alg":"none","typ":"JWT"}` and an empty signature.
//!
//! Strictness is the point: every alternative spelling (padding, std-base64 characters,
//! non-canonical trailing bits, `alg` in another case, `kid`/`jku`/`crit` in the header, a
//! signature) is a place where two parsers could disagree about what was sent, so each is refused.

use crate::request::base64url::{base64url_decode, decoded_len};
use crate::config::Limits;
use crate::request::json::{self, Item};
use crate::refusal::{Checked, Refusal};
use crate::verdict::Reason;

/// Decoded headers longer than this cannot be the one header we accept (26 bytes plus a little
/// whitespace); refusing them early keeps the header on the stack.
const MAX_HEADER_JSON_BYTES: usize = 256;

fn malformed(message: impl Into<String>) -> Refusal {
    Refusal::new(Reason::JwtMalformed, message)
}

/// The token of an `Authorization` value (already trimmed of SP/HTAB): `Bearer` in any case,
/// exactly one space, then the token. An empty value is `AuthorizationMissing`.
pub fn bearer_token(value: &[u8]) -> Checked<&[u8]> {
    if value.is_empty() {
        return Err(Refusal::new(Reason::AuthorizationMissing, "the Authorization header is empty"));
    }
    match value.split_at_checked(7) {
        Some((scheme, token)) if scheme[..6].eq_ignore_ascii_case(b"bearer") && scheme[6] == b' ' && !token.is_empty() => Ok(token),
        _ => Err(malformed("the Authorization header is not `Bearer <token>` (one space, then the token)")),
    }
}

/// Checks the unsigned envelope `header.payload.` and returns the decoded payload bytes (its JSON
/// is read by [`crate::request::claims::read`]).
pub fn decode_unsigned(token: &[u8], limits: &Limits) -> Checked<Vec<u8>> {
    // Exactly two dots, the second one last: `header.payload.` with an empty signature. The
    // header is short, so the first dot is found by a forward scan; the payload must then end at
    // the last byte. Dots inside the payload are not base64url, so the payload decode refuses
    // them; `explain_dots` only words that refusal precisely.
    let Some(first) = token.iter().position(|&b| b == b'.') else {
        return Err(malformed("the bearer token is not `header.payload.` (no dot)"));
    };
    let header = &token[..first];
    let rest = &token[first + 1..];
    let Some((&b'.', payload)) = rest.split_last() else {
        return Err(explain_dots(rest));
    };
    if header.is_empty() || payload.is_empty() {
        return Err(malformed("the bearer token has an empty header or payload"));
    }
    for (part, what) in [(header, "header"), (payload, "payload")] {
        match decoded_len(part.len()) {
            None => return Err(malformed(format!("the JWT {what} is not base64url (impossible length)"))),
            Some(n) if n > limits.max_json_bytes => {
                return Err(Refusal::new(
                    Reason::RequestTooLarge,
                    format!("the JWT {what} decodes to {n} bytes, more than max_json_bytes ({})", limits.max_json_bytes),
                ))
            }
            Some(_) => {}
        }
    }
    check_header(header, limits)?;
    let mut out = vec![0u8; decoded_len(payload.len()).unwrap_or(0)];
    base64url_decode(payload, &mut out).map_err(|_| {
        if payload.contains(&b'.') {
            explain_dots(rest)
        } else {
            malformed("the JWT payload is not strict base64url without padding")
        }
    })?;
    Ok(out)
}

/// The refusal for a token whose part after the header is not `payload.`.
fn explain_dots(rest: &[u8]) -> Refusal {
    match rest.iter().filter(|&&b| b == b'.').count() {
        0 => malformed("the bearer token is not `header.payload.` (one dot: the empty signature must be kept)"),
        1 => malformed("the bearer token is signed; GP Connect tokens are unsigned (alg none, empty signature)"),
        _ => malformed("the bearer token has more than three parts"),
    }
}

/// `{"alg":"none","typ":"JWT"}` in both member orders, encoded and decoded.
const CANONICAL_HEADERS: [(&str, &str); 2] = [
    ("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", r#"{"alg":"none","typ":"JWT"}"#),
    ("eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0", r#"{"typ":"JWT","alg":"none"}"#),
];

/// The JOSE header must be exactly `{"alg":"none","typ":"JWT"}` (any member order, JSON
/// whitespace allowed). Any other member (`kid`, `jku`, `jwk`, `crit`, ...) or value is refused:
/// in unsigned mode there is nothing they could legitimately mean.
fn check_header(encoded: &[u8], limits: &Limits) -> Checked<()> {
    // The header every GP Connect consumer sends, in either member order, as it is encoded:
    // base64url decoding is canonical here, so equal text means an equal header.
    if CANONICAL_HEADERS.iter().any(|(text, _)| encoded == text.as_bytes()) {
        return Ok(());
    }
    let mut buf = [0u8; MAX_HEADER_JSON_BYTES];
    let n = decoded_len(encoded.len()).unwrap_or(usize::MAX);
    let out = buf
        .get_mut(..n)
        .ok_or_else(|| malformed("the JWT header is longer than {\"alg\":\"none\",\"typ\":\"JWT\"} can be"))?;
    base64url_decode(encoded, out).map_err(|_| malformed("the JWT header is not strict base64url without padding"))?;
    // Any other spelling: read strictly; a syntax error is reported before a member problem.
    let (mut alg, mut typ, mut problem) = (false, false, None);
    let (is_object, _) = json::read(out, limits.max_json_depth.min(2), |r| {
        let item = r.item(1)?;
        if item != Item::Object {
            r.skip_rest(item, 1)?;
            return Ok(false);
        }
        r.members(|r, name| {
            let item = r.item(2)?;
            let is = |want: &str| matches!(item, Item::String(s) if r.str(s) == want);
            let found = match r.str(name) {
                "alg" if is("none") => Ok(&mut alg),
                "typ" if is("JWT") => Ok(&mut typ),
                "alg" => Err("the JWT header alg is not \"none\" (unsigned tokens only)"),
                "typ" => Err("the JWT header typ is not \"JWT\""),
                _ => Err("the JWT header has a member other than alg and typ"),
            };
            match found {
                Ok(flag) => *flag = true,
                Err(message) => {
                    problem.get_or_insert(message);
                }
            }
            r.skip_rest(item, 2)
        })?;
        Ok(true)
    })
    .map_err(|e| malformed(format!("the JWT header {}", e.describe())))?;
    if !is_object {
        return Err(malformed("the JWT header is not a JSON object"));
    }
    if let Some(message) = problem {
        return Err(malformed(message));
    }
    if !(alg && typ) {
        return Err(malformed("the JWT header must have alg \"none\" and typ \"JWT\""));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testkit::b64url as b64;

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.", b64(header.as_bytes()), b64(payload.as_bytes()))
    }

    const HEADER: &str = r#"{"alg":"none","typ":"JWT"}"#;

    #[test]
    fn canonical_headers_are_what_they_encode() {
        for (encoded, header) in CANONICAL_HEADERS {
            assert_eq!(b64(header.as_bytes()), encoded);
            // The fast path and the strict read agree on them.
            let mut out = vec![0u8; header.len()];
            base64url_decode(encoded.as_bytes(), &mut out).unwrap();
            assert_eq!(out, header.as_bytes());
        }
        // A header spelled another way still goes through the strict read, and passes it.
        assert!(check_header(b64(br#"{ "alg":"none","typ":"JWT"}"#).as_bytes(), &Limits::default()).is_ok());
    }

    fn decode(t: &str) -> Checked<Vec<u8>> {
        decode_unsigned(t.as_bytes(), &Limits::default())
    }

    fn reason(t: &str) -> Reason {
        decode(t).unwrap_err().reason
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_with_one_space() {
        assert_eq!(bearer_token(b"Bearer abc").unwrap(), b"abc");
        assert_eq!(bearer_token(b"bEARER abc").unwrap(), b"abc");
        assert_eq!(bearer_token(b"").unwrap_err().reason, Reason::AuthorizationMissing);
        for bad in [&b"Bearer"[..], b"Bearer ", b"Basic abc", b"Bearerabc", b"Bearer\tabc", b"Token abc", b"Bear"] {
            assert_eq!(bearer_token(bad).unwrap_err().reason, Reason::JwtMalformed, "{bad:?}");
        }
        // Two spaces: the token then starts with a space, which the envelope refuses.
        let t = bearer_token(b"Bearer  abc").unwrap();
        assert_eq!(decode_unsigned(t, &Limits::default()).unwrap_err().reason, Reason::JwtMalformed);
    }

    #[test]
    fn accepts_the_unsigned_envelope_in_any_member_order() {
        assert_eq!(decode(&token(HEADER, r#"{"a":1}"#)).unwrap(), br#"{"a":1}"#);
        assert!(decode(&token(r#"{"typ":"JWT","alg":"none"}"#, "{}")).is_ok());
        assert!(decode(&token(r#" { "typ" : "JWT" , "alg" : "none" } "#, "{}")).is_ok());
        assert!(parse_payload(b"{}", &Limits::default()).is_ok());
        assert!(parse_payload(b" {\"x\" : [1, {\"y\": null}]} ", &Limits::default()).is_ok());
    }

    #[test]
    fn refuses_other_headers() {
        for h in [
            r#"{"alg":"None","typ":"JWT"}"#, r#"{"alg":"NONE","typ":"JWT"}"#, r#"{"alg":"nOnE","typ":"JWT"}"#,
            r#"{"alg":"HS256","typ":"JWT"}"#, r#"{"alg":"none","typ":"jwt"}"#, r#"{"alg":"none"}"#, r#"{"typ":"JWT"}"#,
            r#"{"alg":"none","typ":"JWT","kid":"1"}"#, r#"{"alg":"none","typ":"JWT","jku":"https://x"}"#,
            r#"{"alg":"none","typ":"JWT","crit":["exp"]}"#, r#"{"alg":"none","typ":"JWT","alg":"none"}"#,
            r#"{"alg":null,"typ":"JWT"}"#, r#"["alg","none"]"#, r#"{"alg":"none","typ":"JWT"}x"#, "{}",
            r#"{"alg":"none ","typ":"JWT"}"#, r#"{"alg":"n\u006fne","typ":"JWT","x":1}"#,
        ] {
            assert_eq!(reason(&token(h, "{}")), Reason::JwtMalformed, "{h}");
        }
    }

    #[test]
    fn refuses_other_envelopes() {
        let good = token(HEADER, "{}");
        let (h, p) = (b64(HEADER.as_bytes()), b64(b"{}"));
        for bad in [
            format!("{h}.{p}"), format!("{h}.{p}.sig"), format!("{h}.{p}.."), format!("{h}.{p}.x.y"),
            format!(".{p}."), format!("{h}.."), format!("{h}{p}"), format!("{good}="), format!("{h}=.{p}."),
            format!("{h}.{p}=."), format!("{}.{p}.", h.replace('J', "+")), format!("{}.{p}.", HEADER),
            format!("{HEADER}.{{}}."), format!(" {good}"), format!("{good} "), String::new(),
        ] {
            assert_eq!(reason(&bad), Reason::JwtMalformed, "{bad}");
        }
        // Std-base64 characters in the payload.
        let with_slash = token(HEADER, "{\"a\":\"???\"}");
        assert!(with_slash.contains('_'));
        assert_eq!(reason(&with_slash.replace('_', "/")), Reason::JwtMalformed);
    }

    fn message(t: &str) -> String {
        decode(t).unwrap_err().message
    }

    #[test]
    fn refusals_say_which_rule_of_the_envelope_failed() {
        let (h, p) = (b64(HEADER.as_bytes()), b64(b"{}"));
        let unsigned = "the bearer token is signed; GP Connect tokens are unsigned (alg none, empty signature)";
        for (t, want) in [
            (format!("{h}.{p}"), "the bearer token is not `header.payload.` (one dot: the empty signature must be kept)"),
            (format!("{h}.{p}.c2ln"), unsigned),
            (format!("{h}.{p}.x.y"), "the bearer token has more than three parts"),
            (format!("{h}{p}"), "the bearer token is not `header.payload.` (no dot)"),
            (format!(".{p}."), "the bearer token has an empty header or payload"),
            (format!("{h}.."), "the bearer token has an empty header or payload"),
            (format!("{h}.{p}="), "the bearer token is not `header.payload.` (one dot: the empty signature must be kept)"),
            (format!("{h}.{}.", &p[..p.len() - 1]), "the JWT payload is not strict base64url without padding"),
            (format!("{}.{p}.", "A".repeat(5)), "the JWT header is not base64url (impossible length)"),
        ] {
            assert_eq!(message(&t), want, "{t}");
        }
        for (header, want) in [
            (r#"{"alg":"HS256","typ":"JWT"}"#, r#"the JWT header alg is not "none" (unsigned tokens only)"#),
            (r#"{"alg":"none","typ":"jwt"}"#, r#"the JWT header typ is not "JWT""#),
            (r#"{"alg":"none","typ":"JWT","kid":"1"}"#, "the JWT header has a member other than alg and typ"),
            (r#"{"alg":"none"}"#, r#"the JWT header must have alg "none" and typ "JWT""#),
            (r#"{"typ":"JWT"}"#, r#"the JWT header must have alg "none" and typ "JWT""#),
            (r#"["alg","none"]"#, "the JWT header is not a JSON object"),
            (r#"{"alg":"none","typ":"JWT"}x"#, "the JWT header is not valid JSON"),
        ] {
            assert_eq!(message(&token(header, "{}")), want, "{header}");
        }
    }

    fn parse_payload(payload: &[u8], limits: &Limits) -> Checked<()> {
        crate::request::claims::read(payload, limits, crate::request::claims::FhirElements::standard().unwrap()).map(drop)
    }

    #[test]
    fn payload_must_be_strict_json_object() {
        let l = Limits::default();
        assert_eq!(parse_payload(b"[]", &l).unwrap_err().reason, Reason::JwtMalformed);
        assert_eq!(parse_payload(b"{\"a\":1,\"a\":1}", &l).unwrap_err().reason, Reason::JwtMalformed);
        assert_eq!(parse_payload(b"{\"a\":\"\xc3\x28\"}", &l).unwrap_err().reason, Reason::JwtMalformed);
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(20), "]".repeat(20));
        assert_eq!(parse_payload(deep.as_bytes(), &l).unwrap_err().reason, Reason::JwtMalformed);
        // Depth counts inside the claims the reader looks into, too.
        let deep = format!("{{\"requesting_device\":{{\"identifier\":[{{\"value\":{}{}}}]}}}}", "[".repeat(20), "]".repeat(20));
        assert_eq!(parse_payload(deep.as_bytes(), &l).unwrap_err().reason, Reason::JwtMalformed);
        for bad in ["\"x\"", "1", "null", "{\"a\":1} x", "{\"requesting_practitioner\":{\"identifier\":[{\"system\":1,\"system\":2}]}}"] {
            assert_eq!(parse_payload(bad.as_bytes(), &l).unwrap_err().reason, Reason::JwtMalformed, "{bad}");
        }
    }

    #[test]
    fn sizes_are_bounded_before_decoding() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(9000));
        assert_eq!(reason(&token(HEADER, &big)), Reason::RequestTooLarge);
        let deep = "[".repeat(10_000);
        assert_eq!(reason(&token(HEADER, &deep)), Reason::RequestTooLarge);
        let long_header = format!("{{\"alg\":\"none\",\"typ\":\"JWT\"{}}}", " ".repeat(300));
        assert_eq!(reason(&token(&long_header, "{}")), Reason::JwtMalformed);
    }
}
