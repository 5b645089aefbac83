"""Reads gpcguard's STU3 type table (src/request/fhir/stu3.types) for the tests of this folder.

Written apart from the Rust parser on purpose: the tests compare the table's meaning, as this
reader understands the format the table's header describes, with an independent implementation.
"""
import os

TABLE = os.path.join(os.path.dirname(__file__), "..", "..", "src", "request", "fhir", "stu3.types")
PRIMITIVES = {"boolean", "integer", "string", "decimal", "uri", "base64Binary", "instant", "date",
              "dateTime", "time", "code", "oid", "id", "markdown", "unsignedInt", "positiveInt", "xhtml"}
BASES = {"Element", "BackboneElement", "Resource", "DomainResource"}


def read(path=TABLE):
    """{type: {"base": str|None, "rows": [(name, min, max, [types], plain)]}} in table order."""
    types, current = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            text = line.split("#", 1)[0]
            if not text.strip():
                continue
            words = text.split()
            if not line.startswith(" "):
                name = words[0]
                base = words[2] if len(words) == 3 else None
                current = types.setdefault(name, {"base": base, "rows": []})
                continue
            name, card, tys = words[:3]
            lo, hi = card.split("..")
            current["rows"].append((name, int(lo), hi, tys.split("|"), words[3:] == ["plain"]))
    return types


def flattened(types, name):
    """The elements of a type with its bases', base first; a redefinition replaces the base's."""
    chain = []
    while name:
        chain.append(name)
        name = types[name]["base"]
    out = {}
    for n in reversed(chain):
        for row in types[n]["rows"]:
            out.pop(row[0], None)
            out[row[0]] = row
    return list(out.values())


def members(types, name):
    """{JSON member: (element, type, many, required, companion_allowed)}: choices expanded."""
    out = {}
    for el, lo, hi, tys, plain in flattened(types, name):
        for t in tys:
            member = el[:-3] + t[0].upper() + t[1:] if el.endswith("[x]") else el
            prim = t in PRIMITIVES
            out[member] = (el, t, hi == "*", lo == 1, prim and not plain and t != "xhtml")
    return out
