"""Proves src/request/fhir/stu3.types equal to the published FHIR STU3 (3.0.2) StructureDefinitions, as
the independent implementation `fhir.resources` (PyPI; its `STU3` models were generated from
those StructureDefinitions) carries them: for every type of the table, the same JSON member
names, types, array-or-single and required flags, and the same `_name` companions; and the
same set of types reachable from Device, Organization and Practitioner.

Known differences, each asserted (so a change on either side is seen):
- Narrative.div: fhir.resources has a `_div` companion; xhtml carries no extensions in FHIR
  (datatypes.html "xhtml": no id or extensions), so the table has none.
- fhir.resources accepts a `fhir_comments` member everywhere (a DSTU2 JSON feature, gone in STU3):
  not in the table.

Run by `make fhir-check` (mk/fhir.mk) in its venv.
"""
import sys
import typing

from fhir.resources.STU3 import get_fhir_model_class

import stu3_table

# Backbone elements: the table names them by path, fhir.resources by joined name.
def model_name(table_name):
    return "".join(part[0].upper() + part[1:] for part in table_name.split("."))


def oracle_type(field, table_types):
    t = field.type_
    if typing.get_origin(t) is typing.Union:
        t = [a for a in typing.get_args(t) if a is not type(None)][0]
    name = getattr(t, "__visit_name__", None) or getattr(t, "__resource_type__", None) or t.__name__
    name = {"bool": "boolean"}.get(name, name)
    # Map a joined backbone name back to the table's path form.
    for tn in table_types:
        if "." in tn and model_name(tn) == name:
            return tn
    return name


def oracle_members(cls, table_types):
    out, companions = {}, set()
    for key, f in cls.__fields__.items():
        if key in ("resource_type", "fhir_comments"):
            continue
        if key.endswith("__ext"):
            companions.add(f.alias[1:])
            continue
        extra = f.field_info.extra
        required = bool(extra.get("element_required")) or f.required or bool(extra.get("one_of_many_required"))
        out[f.alias] = (oracle_type(f, table_types), f.shape != 1, required)
    return out, companions, "fhir_comments" in cls.__fields__


def main():
    table = stu3_table.read()
    failures = []
    checked = 0
    for name in table:
        if name in stu3_table.BASES:
            continue
        cls = get_fhir_model_class(model_name(name))
        theirs, their_companions, comments = oracle_members(cls, table)
        ours = stu3_table.members(table, name)
        if not comments:
            failures.append(f"{name}: fhir.resources no longer accepts fhir_comments (update the known differences)")
        for m in sorted(set(ours) | set(theirs)):
            if m not in theirs:
                failures.append(f"{name}.{m}: in the table, not in STU3")
                continue
            if m not in ours:
                failures.append(f"{name}.{m}: in STU3, not in the table")
                continue
            el, t, many, required, companion = ours[m]
            their_t, their_many, their_required = theirs[m]
            if t == "Resource":
                t = their_t if their_t in ("Resource", "ResourceType") else t
            if (t, many, required) != (their_t, their_many, their_required):
                failures.append(f"{name}.{m}: table (type {t}, array {many}, required {required}) "
                                f"!= STU3 (type {their_t}, array {their_many}, required {their_required})")
            has = m in their_companions
            expected = companion or (name == "Narrative" and m == "div")
            if has != expected:
                failures.append(f"{name}.{m}: companion _{m} in the table {companion}, in STU3 {has}")
            checked += 1
    # Reachability: the table holds exactly the types reachable from the three resources.
    reachable, queue = set(), ["Device", "Organization", "Practitioner"]
    while queue:
        n = queue.pop()
        if n in reachable or n in stu3_table.PRIMITIVES or n == "Resource":
            continue
        reachable.add(n)
        for key, f in get_fhir_model_class(model_name(n)).__fields__.items():
            if key in ("resource_type", "fhir_comments") or key.endswith("__ext"):
                continue
            queue.append(oracle_type(f, table))
    ours = set(table) - stu3_table.BASES
    for n in sorted(reachable - ours):
        failures.append(f"{n}: reachable from the claims' resources in STU3, not in the table")
    for n in sorted(ours - reachable):
        failures.append(f"{n}: in the table, not reachable from the claims' resources")
    if failures:
        print("src/request/fhir/stu3.types does not match the STU3 definitions:", *failures, sep="\n  ")
        return 1
    print(f"fhir table check: {len(ours)} types, {checked} members equal to STU3 (fhir.resources STU3 models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
