#!/usr/bin/env python3
"""Reduces the machine-readable output of sslscan, testssl.sh and sslyze to one view per scanner
(protocols offered, accepted suites under their OpenSSL names, server order, renegotiation, client
certificate requirement), writes it to --observed-out and compares it field by field with the
committed expectation. Values a scanner reports in its own words are mapped to plain ones only
when they are the known words; anything else is kept verbatim, so a diff shows what the scanner
actually said. Exit status 1 on any difference, with a unified diff of the two views.

Standard library only: run with Debian's python3."""

import argparse
import difflib
import json
import sys
import xml.etree.ElementTree as ET

PROTOCOLS = ["SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]


def sslscan_view(path):
    root = ET.parse(path).getroot()
    test = root.find("ssltest")
    if test is None:
        # sslscan exits 0 when it cannot connect; the reason is in <error>.
        return {"error": root.findtext("error") or "no <ssltest> element"}
    offered = []
    for p in test.findall("protocol"):
        name = ("SSLv" if p.get("type") == "ssl" else "TLSv") + p.get("version")
        if p.get("enabled") == "1":
            offered.append(name)
    suites = {}
    preferred = {}
    for c in test.findall("cipher"):
        if c.get("status") not in ("accepted", "preferred"):
            continue
        suites.setdefault(c.get("sslversion"), []).append(c.get("cipher"))
        if c.get("status") == "preferred":
            preferred[c.get("sslversion")] = c.get("cipher")
    # sslscan 2.0.7 tests renegotiation over a TLS 1.0-only method (TLSv1_client_method), which
    # a TLS 1.2-only server refuses, so its <renegotiation> element says nothing about this
    # server and is not part of the view.
    return {
        "protocols_offered": offered,
        # In the order sslscan found them: each probe offers the remaining suites and the server
        # picks one, so with server order this is the server's preference list.
        "accepted_suites_in_order_found": suites,
        "preferred_suite": preferred,
    }


def testssl_findings(path):
    findings = {}
    for entry in json.load(open(path)):
        findings.setdefault(entry["id"], entry["finding"])
    return findings


def testssl_protocol(finding):
    if finding is None:
        return "missing"
    if finding.startswith("not offered"):
        return False
    if finding.startswith("offered"):  # e.g. "offered with final" for TLS 1.3
        return True
    return finding


def testssl_view(path):
    f = testssl_findings(path)
    ids = {"SSLv2": "SSLv2", "SSLv3": "SSLv3", "TLSv1.0": "TLS1", "TLSv1.1": "TLS1_1", "TLSv1.2": "TLS1_2", "TLSv1.3": "TLS1_3"}
    protocols = {name: testssl_protocol(f.get(ids[name])) for name in PROTOCOLS}
    # cipher_x<hex> findings: "<hexcode> <OpenSSL name> <kx> ... <IANA name>"
    suites = sorted(v.split()[1] for k, v in f.items() if k.startswith("cipher_x"))
    service = f.get("service")
    return {
        "protocols_offered": [p for p in PROTOCOLS if protocols[p] is True],
        "protocol_answers_not_understood": {p: v for p, v in protocols.items() if not isinstance(v, bool)},
        "accepted_suites": suites,
        "cipher_order": f.get("cipher_order", "missing"),
        "cipher_order_tls1_2": (f.get("cipherorder_TLSv1_2") or "missing").split(),
        # testssl.sh's service detection: a handshake that ends in a demand for a client
        # certificate is reported as "certificate-based authentication".
        "client_certificate_required":
            True if service == "certificate-based authentication => skipping all HTTP checks" else service,
    }


def testssl_mtls_view(path):
    f = testssl_findings(path)
    service = f.get("service")
    return {
        # With the client certificate the handshake completes and the HTTP answer is seen: proof
        # that the renegotiation test below ran on an established session.
        "handshake_completed_with_client_certificate": True if service == "HTTP" else service,
        "secure_renegotiation_indication_rfc5746": f.get("secure_renego", "missing"),
        "client_initiated_renegotiation": f.get("secure_client_renego", "missing"),
    }


SSLYZE_PROTOCOLS = {
    "SSLv2": "ssl_2_0_cipher_suites", "SSLv3": "ssl_3_0_cipher_suites", "TLSv1.0": "tls_1_0_cipher_suites",
    "TLSv1.1": "tls_1_1_cipher_suites", "TLSv1.2": "tls_1_2_cipher_suites", "TLSv1.3": "tls_1_3_cipher_suites",
}


def sslyze_server(path):
    results = json.load(open(path))["server_scan_results"]
    if len(results) != 1:
        raise SystemExit(f"{path}: expected one server result, found {len(results)}")
    return results[0]


def sslyze_command(scan, name):
    cmd = (scan.get("scan_result") or {}).get(name) or {}
    if cmd.get("status") != "COMPLETED":
        return None, f"{cmd.get('status', 'missing')}: {cmd.get('error_reason')}"
    return cmd["result"], None


def sslyze_view(path):
    s = sslyze_server(path)
    if s["connectivity_status"] != "COMPLETED":
        return {"connectivity": s["connectivity_status"], "error": s.get("connectivity_error_trace")}
    offered, suites, errors = [], {}, {}
    for proto, cmd in SSLYZE_PROTOCOLS.items():
        result, error = sslyze_command(s, cmd)
        if error:
            errors[proto] = error
            continue
        if result["is_tls_version_supported"]:
            offered.append(proto)
            suites[proto] = sorted(c["cipher_suite"]["openssl_name"] for c in result["accepted_cipher_suites"])
    reneg, reneg_error = sslyze_command(s, "session_renegotiation")
    if reneg_error:
        client_reneg, indication = reneg_error, reneg_error
    else:
        indication = reneg["supports_secure_renegotiation"]
        refused = not reneg["is_vulnerable_to_client_renegotiation_dos"] and reneg["client_renegotiations_success_count"] == 0
        client_reneg = "refused" if refused else reneg
    return {
        "protocols_offered": offered,
        "scan_errors": errors,
        "accepted_suites": suites,
        "secure_renegotiation_indication_rfc5746": indication,
        "client_initiated_renegotiation": client_reneg,
        # Probed with the certificate given, so sslyze sees no requirement; see sslyze-nocert.
        "client_auth_requirement_seen_with_certificate": s["connectivity_result"]["client_auth_requirement"],
    }


def sslyze_nocert_view(path):
    s = sslyze_server(path)
    if s["connectivity_status"] != "COMPLETED":
        return {"connectivity": s["connectivity_status"], "error": s.get("connectivity_error_trace")}
    result, error = sslyze_command(s, "tls_1_2_cipher_suites")
    return {
        "client_auth_requirement": s["connectivity_result"]["client_auth_requirement"],
        # Suites enumerated without a certificate: the server's choice is visible in its
        # ServerHello, before it asks for the certificate.
        "accepted_suites_TLSv1.2": error or sorted(c["cipher_suite"]["openssl_name"] for c in result["accepted_cipher_suites"]),
    }


def leaves(value, prefix=""):
    if isinstance(value, dict) and value:
        for k in sorted(value):
            yield from leaves(value[k], f"{prefix}.{k}" if prefix else k)
    else:
        yield prefix, value


def strip_notes(value):
    if isinstance(value, dict):
        return {k: strip_notes(v) for k, v in value.items() if not k.startswith("_")}
    return value


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("expected", "observed-out", "sslscan", "testssl", "testssl-mtls", "sslyze", "sslyze-nocert"):
        ap.add_argument("--" + name, required=True)
    a = ap.parse_args()
    observed = {
        "sslscan": sslscan_view(a.sslscan),
        "testssl": testssl_view(a.testssl),
        "testssl_with_client_certificate": testssl_mtls_view(a.testssl_mtls),
        "sslyze": sslyze_view(a.sslyze),
        "sslyze_without_client_certificate": sslyze_nocert_view(a.sslyze_nocert),
    }
    with open(a.observed_out, "w") as out:
        json.dump(observed, out, indent=2, sort_keys=True)
        out.write("\n")
    expected = strip_notes(json.load(open(a.expected)))

    exp_leaves, obs_leaves = dict(leaves(expected)), dict(leaves(observed))
    passed = sum(1 for k, v in exp_leaves.items() if k in obs_leaves and obs_leaves[k] == v)
    failed = len(set(exp_leaves) | set(obs_leaves)) - passed
    if failed:
        exp_text = json.dumps(expected, indent=2, sort_keys=True).splitlines()
        obs_text = json.dumps(observed, indent=2, sort_keys=True).splitlines()
        sys.stderr.write("scan: the scanners saw something other than c-tests/scan/expected.json says:\n")
        sys.stderr.write("\n".join(difflib.unified_diff(exp_text, obs_text, "expected.json", "observed.json", lineterm="")) + "\n")
        for k in sorted(set(exp_leaves) | set(obs_leaves)):
            if exp_leaves.get(k, "<absent>") != obs_leaves.get(k, "<absent>"):
                sys.stderr.write(f"  differs: {k}: expected {exp_leaves.get(k, '<absent>')!r}, observed {obs_leaves.get(k, '<absent>')!r}\n")
    print(f"scan: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
