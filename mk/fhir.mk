# The FHIR claim validation against an independent STU3 implementation (PyPI fhir.resources, its
# STU3 models, in a venv; test-only, never a dependency of the library). tests/fhir/ says more.
#
#   make fhir-check [FHIR_CASES=1500] [FHIR_SEED=20171]
#       check_table.py   src/request/fhir/stu3.types equals the STU3 definitions (names, types,
#                        cardinality, required, companions, reachable types)
#       differential.py  FHIR_CASES generated valid and mutated resources judged by gpcguard
#                        (tests/fhir/claims_judge.rs) and by the oracle: they must agree

DEB_PACKAGES += python3 python3-venv
EXTRA_TESTS  += fhir-check

FHIR_RESOURCES_VERSION := 6.5.0
# fhir.resources 6.5 is written for pydantic 1; the pins make the oracle reproducible.
FHIR_PIP_PACKAGES := fhir.resources==$(FHIR_RESOURCES_VERSION) pydantic==1.10.27 email-validator==2.4.0
FHIR_VENV  := build/venv-fhir
FHIR_STAMP := $(FHIR_VENV)/.fhir.resources-$(FHIR_RESOURCES_VERSION)
FHIR_CASES ?= 1500
FHIR_SEED  ?= 20171

.PHONY: fhir-check fhir-venv

# Debian's python3 by its path, so a python3 earlier in PATH (pyenv...) is not the venv's base.
$(FHIR_STAMP):
	rm -rf $(FHIR_VENV)
	/usr/bin/python3 -m venv $(FHIR_VENV)
	$(FHIR_VENV)/bin/pip install --quiet --disable-pip-version-check $(FHIR_PIP_PACKAGES)
	touch $@

fhir-venv: deps $(FHIR_STAMP)

fhir-check: fhir-venv
	$(CARGO) build --release --example claims_judge
	$(FHIR_VENV)/bin/python tests/fhir/check_table.py
	$(FHIR_VENV)/bin/python tests/fhir/differential.py $(TARGET_DIR)/release/examples/claims_judge \
	  --cases $(FHIR_CASES) --seed $(FHIR_SEED)
