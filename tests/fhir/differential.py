"""Differential test of gpcguard's FHIR claim validation against an independent STU3
implementation (PyPI `fhir.resources`, its STU3 pydantic models, test-only).

Valid resources for the three claims are mutated at random places at every depth (unknown
element, array <-> single, another primitive value of any JSON type, a removed member, a second
value[x], null / "" / [] / {}, companions, null array items); each mutated payload is judged by
gpcguard (tests/fhir/claims_judge.rs, the claims check itself) and by the oracle, and the two
must agree: gpcguard answers 422 JWT_INVALID_RESOURCE exactly when the resource is not valid
STU3 (a 400 for missing GP Connect content counts as "valid FHIR").

The oracle's verdict is `fhir.resources` parsing the resource, corrected by named rules where
it is known to be laxer or stricter than STU3 JSON, each counted and reported, never silent:

laxer (the FHIR JSON rules, hl7.org/fhir/STU3/json.html and datatypes.html, restated here from
the oracle's own type information): pydantic converts values ("true" to a boolean, numbers to
strings, 1.0 to an integer) and accepts null, [] and {}; its regexes are matched as prefixes (a
uri with a space, a dateTime without a zone); it does not require Extension.url, a resource's
resourceType, 32-bit integer ranges, an exponent-free STU3 decimal, a div for xhtml, aligned
companion arrays or nulls only as placeholders; it takes `fhir_comments` (DSTU2) and `_div`.
stricter: it requires `extension` in every `_x` companion (STU3 allows `id` alone) and refuses
'/' in base64Binary (FHIR's regex omits it; RFC 4648, which the type cites, has it).
gpcguard's own refusals beyond STU3 (spec §9.1): `contained`, `modifierExtension`,
`implicitRules`.

  python differential.py JUDGE [--cases N] [--seed S]
"""
import argparse
import copy
import datetime
import json
import random
import re
import subprocess
import sys
import typing
from collections import Counter

import pydantic
from fhir.resources.STU3 import get_fhir_model_class

RESOURCE_TYPES = {"requesting_device": "Device", "requesting_organization": "Organization",
                  "requesting_practitioner": "Practitioner"}

BASE = {
    "iss": "http://gpconnect-uat.answerappcloud.com/", "sub": "1", "aud": "https://authorize.fhir.nhs.net/token",
    "exp": 1503995882, "iat": 1503995582, "reason_for_request": "directcare", "requested_scope": "patient/*.read",
}

DIV = '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'
EXT = [{"url": "https://example.org/a", "valueString": "x"},
       {"url": "https://example.org/b", "extension": [{"url": "c", "valueCodeableConcept": {"coding": [{"system": "s", "code": "c", "userSelected": True}]}}]},
       {"url": "https://example.org/d", "valuePeriod": {"start": "2017-01-01", "end": "2018"}},
       {"url": "https://example.org/e", "valueQuantity": {"value": 1.5, "comparator": "<", "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}},
       {"url": "https://example.org/f", "valueInteger": 3}, {"url": "https://example.org/g", "valueBoolean": False}]
META = {"versionId": "1", "lastUpdated": "2017-08-29T08:38:02.123+01:00", "profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Practitioner-1"],
        "security": [{"system": "s", "code": "c"}], "tag": [{"display": "d"}]}

SEEDS = {
    "requesting_device": [
        {"resourceType": "Device", "identifier": [{"system": "GPConnectTestSystem", "value": "Client"}], "model": "v1", "version": "1.1"},
        {"resourceType": "Device", "id": "d1", "meta": META, "text": {"status": "generated", "div": DIV}, "extension": EXT,
         "identifier": [{"use": "official", "system": "GPConnectTestSystem", "value": "Client", "period": {"start": "2017"}, "type": {"text": "t"}}],
         "udi": {"deviceIdentifier": "d", "carrierAIDC": "abcd", "jurisdiction": "http://hl7.org/fhir/NamingSystem/fda-udi", "entryType": "barcode"},
         "status": "active", "type": {"coding": [{"system": "s", "code": "c"}]}, "manufactureDate": "2017-08", "model": "v1", "version": "1.1",
         "_model": {"extension": [{"url": "u", "valueCode": "m"}]}, "owner": {"reference": "Organization/1", "display": "o"},
         "contact": [{"system": "email", "value": "a@example.org", "use": "work", "rank": 1}], "url": "https://example.org/device",
         "note": [{"authorString": "me", "time": "2017-08-29T08:38:02Z", "text": "a note"}], "safety": [{"text": "MR safe"}]},
    ],
    "requesting_organization": [
        {"resourceType": "Organization", "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "GPCA0001"}], "name": "GP Connect Assurance"},
        {"resourceType": "Organization", "id": "o1", "meta": META, "extension": EXT[:3], "active": True, "name": "GP Connect Assurance", "alias": ["GPC", "Assurance"],
         "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "GPCA0001", "assigner": {"display": "NHS Digital"}}],
         "type": [{"coding": [{"system": "s", "code": "prov", "display": "Provider"}]}],
         "telecom": [{"system": "phone", "value": "01234 567890", "period": {"start": "2017-01-01T00:00:00Z"}}],
         "address": [{"use": "work", "line": ["1 Road", "Town"], "_line": [None, {"id": "l2"}], "city": "Leeds", "postalCode": "LS1 1AA", "country": "GBR"}],
         "partOf": {"reference": "Organization/2"}, "endpoint": [{"reference": "Endpoint/1"}],
         "contact": [{"purpose": {"text": "admin"}, "name": {"family": "F", "given": ["G"]}, "telecom": [{"value": "1"}], "address": {"city": "Leeds"}}]},
    ],
    "requesting_practitioner": [
        {"resourceType": "Practitioner", "id": "1",
         "identifier": [{"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "GCASDS0001"},
                        {"system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": "112233445566"},
                        {"system": "https://consumersupplier.com/Id/user-guid", "value": "98ed4f78-814d-4266-8d5b-cde742f3093c"}],
         "name": [{"family": "AssurancePractitioner", "given": ["AssuranceTest"], "prefix": ["Dr."]}]},
        {"resourceType": "Practitioner", "id": "1", "meta": META, "text": {"status": "generated", "div": DIV}, "extension": EXT[3:], "language": "en-GB",
         "identifier": [{"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "UNK", "_value": {"extension": [{"url": "u", "valueCode": "unknown"}]}}],
         "active": True, "gender": "female", "birthDate": "2000-02-29",
         "name": [{"use": "official", "family": "A", "_family": {"id": "f"}, "given": ["B", None], "_given": [None, {"extension": [{"url": "u", "valueString": "x"}]}],
                   "prefix": ["Dr."], "suffix": ["PhD"], "period": {"start": "2017"}}],
         "telecom": [{"system": "phone", "value": "1", "rank": 2147483647}], "address": [{"text": "1 Road", "line": ["1 Road"]}],
         "photo": [{"contentType": "image/png", "data": "iVBORw0K", "size": 0, "creation": "2017", "title": "p"}],
         "qualification": [{"identifier": [{"value": "1"}], "code": {"coding": [{"code": "x"}]}, "period": {"end": "2030"}, "issuer": {"display": "GMC"}}],
         "communication": [{"text": "English"}]},
    ],
}

POOL = ["x", "", " ", "a b", "a_b", "a  b", " a", "a-b.c", "1970-13-01", "1970-02-30", "2000-02-29", "1970", "1970-01",
        "2017-01-01T00:00:00Z", "2017-01-01T00:00:00", "2017-01-01T24:00:00Z", "2017-01-01T10:00:00.5+14:00", "12:00:00",
        "urn:oid:1.2.3", "urn:oid:1.0", "abcd", "ab+=", "abc", DIV, "<p>x</p>", "true", "false", "1", "mon",
        True, False, 0, 1, -1, 7, 2147483647, 2147483648, -2147483649, 1.5, 1e21, None, [], {}, ["x"], [1], [None], {"x": 1}, {"id": "i"}]
EXTENSION_VALUES = {"valueBoolean": True, "valueString": "y", "valueCode": "c", "valueCoding": {"code": "c"}, "valueDecimal": 2.5, "valueUri": "urn:x"}
MEMBER_NAMES = ["pXefix", "zz", "valueString", "value", "_family", "_id", "fhir_comments", "contained", "modifierExtension",
                "implicitRules", "resourceType", "_div", "_url", "id", "extension", "text", "url", "coding", "display"]

STU3 = {
    "code": re.compile(r"[^ \t\r\n]+([ \t\r\n]?[^ \t\r\n]+)*"),
    "id": re.compile(r"[A-Za-z0-9\-.]{1,64}"),
    "uri": re.compile(r"[^ \t\r\n]+"),
    "oid": re.compile(r"urn:oid:[0-2](\.[1-9][0-9]*)+"),
    # FHIR's regex without '/', a known error: RFC 4648 base64 has it.
    "base64Binary": re.compile(r"([ \t\r\n]*([0-9a-zA-Z+/=]){4}[ \t\r\n]*)+"),
    "date": re.compile(r"([0-9]{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?"),
    "time": re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"),
}
ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
STU3["dateTime"] = re.compile(r"([0-9]{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])(T" + STU3["time"].pattern + ZONE + ")?)?)?")
STU3["instant"] = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T" + STU3["time"].pattern + ZONE)


def real_date(text):
    """Dates SHALL be valid dates: the full-date prefix, when there is one, is a calendar date."""
    m = re.match(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?", text)
    year, month, day = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
    try:
        datetime.date(year, month, day)
        return True
    except ValueError:
        return False


def field_type(f):
    t = f.type_
    if typing.get_origin(t) is typing.Union:
        t = [a for a in typing.get_args(t) if a is not type(None)][0]
    return t


def primitive_name(t):
    if t is bool:  # fhir.resources types booleans as Python's bool
        return "boolean"
    return getattr(t, "__visit_name__", None) if hasattr(t, "is_primitive") and t.is_primitive() else None


def primitive_ok(name, v):
    """The STU3 JSON rule for a primitive value (no conversions, full-string regexes)."""
    if name == "boolean":
        return isinstance(v, bool)
    if name in ("integer", "unsignedInt", "positiveInt"):
        lo = {"integer": -2**31, "unsignedInt": 0, "positiveInt": 1}[name]
        return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= 2**31 - 1
    if name == "decimal":
        return isinstance(v, (int, float)) and not isinstance(v, bool) and "e" not in json.dumps(v).lower()
    if not isinstance(v, str) or v == "":
        return False
    if name == "xhtml":
        t = v.strip(" \t\r\n")
        return t.startswith("<div") and (t.endswith("</div>") or t.endswith("/>"))
    if name in ("date", "dateTime", "instant"):
        return bool(STU3[name].fullmatch(v)) and real_date(v)
    rx = STU3.get(name)
    return rx is None or bool(rx.fullmatch(v))


class Judge:
    """What the oracle says, with the named corrections counted in `self.rules`."""

    def __init__(self):
        self.rules = Counter()

    def strict(self, value, cls, path, out, resource=False):
        """The FHIR JSON rules the oracle does not apply, walked with its own model types."""
        if value == {}:
            out.append(f"{path} is an empty object")
            return
        if resource and value.get("resourceType") is None:
            out.append(f"{path} has no resourceType")
        fields = {f.alias: f for f in cls.__fields__.values()}
        for name, f in fields.items():
            extra = f.field_info.extra
            if extra.get("element_required") and name not in value and "_" + name not in value:
                out.append(f"{path} has no {name} (a required primitive)")
        for k, v in value.items():
            f = fields.get(k)
            if f is None:
                continue  # unknown members: the oracle refuses them itself (extra = forbid)
            where = f"{path}.{k}"
            if k == "fhir_comments":
                out.append(f"{where}: fhir_comments is DSTU2 JSON, not STU3")
                continue
            if k == "_div":
                out.append(f"{where}: xhtml has no extensions")
                continue
            t = field_type(f)
            many = f.shape != 1
            if v is None:
                out.append(f"{where} is null")
                continue
            if many and v == []:
                out.append(f"{where} is an empty array")
                continue
            items = v if (many and isinstance(v, list)) else [v]
            if many and isinstance(v, list) and any(i is None for i in v):
                other = value.get(k[1:] if k.startswith("_") else "_" + k)
                if not isinstance(other, list) or len(other) != len(v) or any(a is None and b is None for a, b in zip(v, other)):
                    out.append(f"{where} has a null item that is not a placeholder beside its companion")
            if k.startswith("_") and isinstance(v, list) and isinstance(value.get(k[1:]), list) and len(v) != len(value[k[1:]]):
                out.append(f"{where} does not align with {k[1:]}")
            for i in items:
                if i is None:
                    continue
                p = primitive_name(t)
                if p:
                    if not primitive_ok(p, i):
                        out.append(f"{where} = {json.dumps(i)} is not a STU3 {p}")
                elif isinstance(i, dict):
                    if getattr(t, "__resource_type__", None) == "FHIRPrimitiveExtension":
                        if i == {}:
                            out.append(f"{where} is an empty object")
                        if any(cv is None for cv in i.values()):
                            out.append(f"{where} has a null member")
                        if set(i) - {"id", "extension"}:
                            out.append(f"{where} has a member other than id and extension (a companion)")
                        for ek in ("extension",):
                            if ek in i and i[ek] is not None:
                                for e in (i[ek] if isinstance(i[ek], list) else []):
                                    if isinstance(e, dict):
                                        self.strict(e, get_fhir_model_class("Extension"), f"{where}.extension", out)
                        if "id" in i and not primitive_ok("string", i["id"]):
                            out.append(f"{where}.id is not a STU3 string")
                        if i.get("extension") == []:
                            out.append(f"{where}.extension is an empty array")
                        continue
                    rt = getattr(t, "__resource_type__", None)
                    if rt in (None, "Resource"):
                        continue
                    self.strict(i, get_fhir_model_class(rt), where, out)

    def oracle_errors(self, resource, cls):
        try:
            cls.parse_obj(resource)
            return []
        except pydantic.ValidationError as e:
            kept = []
            for err in e.errors():
                loc, kind = err["loc"], err["type"]
                if kind == "value_error.missing" and loc[-1] == "extension" and any(str(p).startswith("_") for p in loc):
                    self.rules["oracle stricter: a companion with id only"] += 1
                    continue
                if kind == "value_error.str.regex" and "0-9a-zA-Z+=" in err.get("ctx", {}).get("pattern", ""):
                    self.rules["oracle stricter: '/' in base64Binary"] += 1
                    continue
                kept.append(f"{'.'.join(map(str, loc))}: {err['msg']}")
            return kept

    def expected(self, claim, resource):
        """(valid, why): the oracle's verdict corrected by the rules above."""
        if not isinstance(resource, dict):
            return False, "not an object"
        cls = get_fhir_model_class(RESOURCE_TYPES[claim])
        policy = [k for k in ("contained", "modifierExtension", "implicitRules") if k in json.dumps(resource).replace('"', " ").split()]
        strict = []
        self.strict(resource, cls, claim, strict, resource=True)
        oracle = self.oracle_errors(resource, cls)
        if strict and not oracle:
            self.rules["oracle laxer: " + classify(strict[0])] += 1
        if policy and not (strict or oracle):
            self.rules["gpcguard policy: " + policy[0]] += 1
        why = oracle + strict + [f"{p} (gpcguard refuses)" for p in policy]
        return not why, "; ".join(why)


def classify(problem):
    for key in ("is null", "empty array", "empty object", "resourceType", "required primitive", "placeholder", "align",
                "fhir_comments", "xhtml has no extensions", "a companion", "is not a STU3"):
        if key in problem:
            return key if key != "is not a STU3" else "value " + problem.rsplit(" ", 1)[-1]
    return problem


def nodes(value, path=()):
    """Every (path, value) inside a resource."""
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from nodes(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from nodes(v, path + (i,))


def at(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def mutate(rng, resource):
    """One random change at a random place; returns (kind, resource)."""
    r = copy.deepcopy(resource)
    places = list(nodes(r))
    for _ in range(50):
        path, v = rng.choice(places)
        kind = rng.choice(["unknown", "shape", "value", "remove", "second value", "empty", "companion", "null item", "value", "remove"])
        if kind == "unknown" and isinstance(v, dict):
            v[rng.choice(MEMBER_NAMES)] = rng.choice(POOL[:8] + [[{"url": "u", "valueBoolean": True}], {"text": "x"}])
            return kind, r
        if not path:
            continue
        parent, key = at(r, path[:-1]), path[-1]
        if kind == "shape":
            parent[key] = v[0] if isinstance(v, list) and v else [v]
            return kind, r
        if kind == "value" and not isinstance(v, (dict, list)):
            parent[key] = rng.choice(POOL)
            return kind, r
        if kind == "remove":
            parent.pop(key)
            return kind, r
        if kind == "second value" and isinstance(v, dict) and "url" in v:
            name = rng.choice(list(EXTENSION_VALUES))
            v[name] = EXTENSION_VALUES[name]
            return kind, r
        if kind == "empty":
            parent[key] = rng.choice([None, "", [], {}, "true", 1])
            return kind, r
        if kind == "companion" and isinstance(parent, dict) and isinstance(key, str) and not isinstance(v, dict):
            parent["_" + key.lstrip("_")] = rng.choice([{"id": "c"}, {"extension": [{"url": "u", "valueString": "x"}]}, {}, [None, {"id": "c"}],
                                                       [{"id": "c"}], {"foo": 1}, [None]])
            return kind, r
        if kind == "null item" and isinstance(v, list):
            v.insert(rng.randrange(len(v) + 1), None)
            return kind, r
    return "unchanged", r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("judge")
    ap.add_argument("--cases", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=20171)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    judge = Judge()
    cases = []
    for claim, seeds in SEEDS.items():
        for s in seeds:
            cases.append(("seed", claim, s))
    while len(cases) < args.cases:
        claim = rng.choice(list(SEEDS))
        resource = rng.choice(SEEDS[claim])
        kind, m = mutate(rng, resource)
        for _ in range(rng.choice([0, 0, 0, 1])):  # sometimes two changes
            kind2, m = mutate(rng, m)
            kind += "+" + kind2
        cases.append((kind, claim, m))
    payloads = []
    for _, claim, resource in cases:
        p = dict(BASE)
        for c, seeds in SEEDS.items():
            p[c] = seeds[0]
        p[claim] = resource
        payloads.append(json.dumps(p))
    out = subprocess.run([args.judge], input="\n".join(payloads) + "\n", capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == len(cases), f"the judge answered {len(out)} lines for {len(cases)} payloads"
    disagreements, tally = [], Counter()
    for (kind, claim, resource), verdict in zip(cases, out):
        valid, why = judge.expected(claim, resource)
        ours_422 = verdict.startswith("JwtInvalidResource")
        tally[("invalid" if not valid else "valid", "422" if ours_422 else verdict.split("\t")[0])] += 1
        if ours_422 == valid:
            disagreements.append((kind, claim, json.dumps(resource), verdict, why or "valid"))
        if ours_422 and verdict.split("\t")[1].split(" ")[0].split(".")[0].split("[")[0] != claim:
            disagreements.append((kind, claim, json.dumps(resource), verdict, "the message does not start with the claim's path"))
    print(f"fhir differential: {len(cases)} resources (seed {args.seed}); expected/gpcguard: "
          + ", ".join(f"{e}/{g} {n}" for (e, g), n in sorted(tally.items())))
    for rule, n in sorted(judge.rules.items()):
        print(f"  oracle corrected by rule '{rule}': {n}")
    if disagreements:
        for kind, claim, res, verdict, why in disagreements[:15]:
            print(f"DISAGREE [{kind}] {claim} = {res}\n  gpcguard: {verdict}\n  expected: {why}")
        print(f"{len(disagreements)} disagreements")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
