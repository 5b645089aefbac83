"""Peer: PyJWT judging the GP Connect audit token with the checks every peer makes.

PyJWT will not verify alg none, so the signature check is off and exp/iat/aud are verified by
PyJWT's own claim checks; then exp - iat == 300, reason, scope, ODS code, SDS user id, name.
    pyjwt_peer.py TOKEN_FILE loop N | time RUNS
"""
import statistics
import sys
import time

import jwt

ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
SDS_USER = "https://fhir.nhs.uk/Id/sds-user-id"
OPTIONS = {"verify_signature": False, "verify_exp": True, "verify_iat": True, "verify_aud": True,
           "require": ["exp", "iat", "aud"]}


def has(resource, system):
    return any(i.get("system") == system and i.get("value") for i in resource.get("identifier", []))


def judge(token):
    try:
        c = jwt.decode(token, options=OPTIONS, algorithms=["none"], audience="https://authorize.fhir.nhs.net/token")
    except jwt.PyJWTError:
        return False
    org, prac = c.get("requesting_organization", {}), c.get("requesting_practitioner", {})
    return (c["exp"] - c["iat"] == 300 and c.get("reason_for_request") == "directcare"
            and c.get("requested_scope") == "patient/*.read" and has(org, ODS) and bool(org.get("name"))
            and has(prac, SDS_USER) and bool(prac.get("name")))


def main():
    token = open(sys.argv[1]).read().strip()
    mode, count = sys.argv[2], int(sys.argv[3])
    if not judge(token):
        sys.exit("pyjwt_peer: the token was not accepted")
    if mode == "loop":
        ok = sum(judge(token) for _ in range(count))
        print(f"RESULT loop pyjwt {ok}")
        sys.exit(0 if ok == count else 1)
    iters, samples = 2000, []
    for _ in range(count):
        t0 = time.perf_counter_ns()
        for _ in range(iters):
            judge(token)
        samples.append((time.perf_counter_ns() - t0) / iters)
    print(f"RESULT time pyjwt {statistics.median(samples):.1f} runs={count} iters={iters}")


main()
