#!/usr/bin/env bash
# Regenerates the committed fuzzing inputs: the test PKI of the peer_chain target (fuzz/pki/, from
# c-tests/make-pki.sh; certificates and CRLs only, no private keys, plus NOW, a Unix time inside
# their validity) and the seed corpora fuzz/corpus/<target>/. Run once; the outputs are committed
# and nothing in `make fuzz` runs this again. Needs openssl and coreutils (basenc).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$here/../c-tests/make-pki.sh" "$tmp/pki" >/dev/null 2>&1
mkdir -p "$here/pki"
for f in root-ca.pem sub-ca.pem root-ca.crl sub-ca.crl client-valid.pem client-cn-only.pem client-later-revoked.pem; do
  cp "$tmp/pki/$f" "$here/pki/$f"
done
echo $(( $(date -u +%s) + 3600 )) > "$here/pki/NOW"

c="$here/corpus"
rm -rf "$c"; mkdir -p "$c"/{jwt_envelope,base64url,claims,check_request,config,peer_chain}

b64() { basenc --base64url -w0 | tr -d '='; }
HEADER='{"alg":"none","typ":"JWT"}'
IAT=1503995582; EXP=$((IAT + 300))
claims() { # claims SCOPE REASON [EXTRA-MEMBER]
  printf '{"iss":"http://gpconnect-uat.answerappcloud.com/","sub":"1","aud":"https://authorize.fhir.nhs.net/token","exp":%s,"iat":%s,"reason_for_request":"%s","requested_scope":"%s",' "$EXP" "$IAT" "$2" "$1"
  printf '"requesting_device":{"resourceType":"Device","identifier":[{"system":"GPConnectTestSystem","value":"Client"}],"model":"v1","version":"1.1"},'
  printf '"requesting_organization":{"resourceType":"Organization","identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"GPCA0001"}],"name":"GP Connect Assurance"},'
  printf '"requesting_practitioner":{"resourceType":"Practitioner","id":"1","identifier":[{"system":"https://fhir.nhs.uk/Id/sds-user-id","value":"GCASDS0001"},{"system":"https://fhir.nhs.uk/Id/sds-role-profile-id","value":"112233445566"}],"name":[{"family":"AssurancePractitioner","given":["AssuranceTest"],"prefix":["Dr."]}]}%s}' "${3:-}"
}
token() { printf '%s.%s.' "$(printf '%s' "$HEADER" | b64)" "$(printf '%s' "$1" | b64)"; }

# jwt_envelope: Authorization values.
j="$c/jwt_envelope"
printf 'Bearer %s' "$(token "$(claims 'patient/*.read' directcare)")" > "$j/valid"
printf 'bearer %s' "$(token '{}')" > "$j/empty-payload"
printf 'Bearer %s.%s.sig' "$(printf '{"alg":"HS256","typ":"JWT"}' | b64)" "$(printf '{}' | b64)" > "$j/signed"
printf 'Bearer %s.%s.' "$(printf '{"alg":"None","typ":"JWT","kid":"1"}' | b64)" "$(printf '{"a":1}' | b64)" > "$j/header-member"
printf 'Bearer %s=.%s.' "$(printf '%s' "$HEADER" | b64)" "$(printf '{"a":[1,2]}' | b64)" > "$j/padded"
printf 'Basic dXNlcjpwYXNz' > "$j/basic"
printf 'Bearer %s' "$(token "$(claims 'patient/*.read' directcare ',"REQUESTED_SCOPE":"patient/*.write"')")" > "$j/case-twin-claim"

# base64url: text as is, or `!` + two bytes (position, replacement) + bytes to encode.
u="$c/base64url"
printf '%s' "$(claims 'patient/*.read' directcare)" | b64 > "$u/payload"
printf '%s' "$HEADER" | b64 > "$u/header"
printf '%s=' "$(printf '%s' "$HEADER" | b64)" > "$u/padded"
printf 'Zh' > "$u/trailing-bits"
{ printf '!\377\000'; claims 'patient/*.read' directcare; } > "$u/encoded"
{ printf '!\050+'; claims 'patient/*.read' directcare; } > "$u/encoded-plus-at-40"

# claims: payload JSON.
k="$c/claims"
claims 'patient/*.read' directcare > "$k/baseline"
claims 'patient/*.read conf/N' migration > "$k/migration"
claims 'organization/*.write' directcare ',"requested_record":{"resourceType":"Patient"}' > "$k/requested-record"
claims 'patient/*.read' directcare ',"sub":"2"' > "$k/duplicate-sub"
printf '{"a":"\\ud800","b":[1e400,-0.5e-3,true,null],"c":{"d":"\\u00e9\\n"}}' > "$k/escapes"
claims 'patient/*.read' directcare ',"Requested_Scope":"patient/*.write"' > "$k/case-twin-claim"
claims 'patient/*.read' directcare | sed 's/"family":"AssurancePractitioner"/&,"Family":"X"/' > "$k/case-twin-nested"
# Resource claims with STU3 content at every depth (meta, narrative, extensions, companions,
# null placeholders...), all valid: the FHIR oracle's changes start from it.
printf '%s' '{"iss":"http://gpconnect-uat.answerappcloud.com/","sub":"1","aud":"https://authorize.fhir.nhs.net/token","exp":1503995882,"iat":1503995582,"reason_for_request":"directcare","requested_scope":"patient/*.read","requesting_device":{"resourceType":"Device","id":"d1","meta":{"versionId":"1","lastUpdated":"2017-08-29T08:38:02.123+01:00","profile":["https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Practitioner-1"],"security":[{"system":"s","code":"c"}],"tag":[{"display":"d"}]},"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},"extension":[{"url":"https://example.org/a","valueString":"x"},{"url":"https://example.org/b","extension":[{"url":"c","valueCodeableConcept":{"coding":[{"system":"s","code":"c","userSelected":true}]}}]},{"url":"https://example.org/d","valuePeriod":{"start":"2017-01-01","end":"2018"}},{"url":"https://example.org/e","valueQuantity":{"value":1.5,"comparator":"<","unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}},{"url":"https://example.org/f","valueInteger":3},{"url":"https://example.org/g","valueBoolean":false}],"identifier":[{"use":"official","system":"GPConnectTestSystem","value":"Client","period":{"start":"2017"},"type":{"text":"t"}}],"udi":{"deviceIdentifier":"d","carrierAIDC":"abcd","jurisdiction":"http://hl7.org/fhir/NamingSystem/fda-udi","entryType":"barcode"},"status":"active","type":{"coding":[{"system":"s","code":"c"}]},"manufactureDate":"2017-08","model":"v1","version":"1.1","_model":{"extension":[{"url":"u","valueCode":"m"}]},"owner":{"reference":"Organization/1","display":"o"},"contact":[{"system":"email","value":"a@example.org","use":"work","rank":1}],"url":"https://example.org/device","note":[{"authorString":"me","time":"2017-08-29T08:38:02Z","text":"a note"}],"safety":[{"text":"MR safe"}]},"requesting_organization":{"resourceType":"Organization","id":"o1","meta":{"versionId":"1","lastUpdated":"2017-08-29T08:38:02.123+01:00","profile":["https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Practitioner-1"],"security":[{"system":"s","code":"c"}],"tag":[{"display":"d"}]},"extension":[{"url":"https://example.org/a","valueString":"x"},{"url":"https://example.org/b","extension":[{"url":"c","valueCodeableConcept":{"coding":[{"system":"s","code":"c","userSelected":true}]}}]},{"url":"https://example.org/d","valuePeriod":{"start":"2017-01-01","end":"2018"}}],"active":true,"name":"GP Connect Assurance","alias":["GPC","Assurance"],"identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"GPCA0001","assigner":{"display":"NHS Digital"}}],"type":[{"coding":[{"system":"s","code":"prov","display":"Provider"}]}],"telecom":[{"system":"phone","value":"01234 567890","period":{"start":"2017-01-01T00:00:00Z"}}],"address":[{"use":"work","line":["1 Road","Town"],"_line":[null,{"id":"l2"}],"city":"Leeds","postalCode":"LS1 1AA","country":"GBR"}],"partOf":{"reference":"Organization/2"},"endpoint":[{"reference":"Endpoint/1"}],"contact":[{"purpose":{"text":"admin"},"name":{"family":"F","given":["G"]},"telecom":[{"value":"1"}],"address":{"city":"Leeds"}}]},"requesting_practitioner":{"resourceType":"Practitioner","id":"1","meta":{"versionId":"1","lastUpdated":"2017-08-29T08:38:02.123+01:00","profile":["https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Practitioner-1"],"security":[{"system":"s","code":"c"}],"tag":[{"display":"d"}]},"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},"extension":[{"url":"https://example.org/e","valueQuantity":{"value":1.5,"comparator":"<","unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}},{"url":"https://example.org/f","valueInteger":3},{"url":"https://example.org/g","valueBoolean":false}],"language":"en-GB","identifier":[{"system":"https://fhir.nhs.uk/Id/sds-user-id","value":"UNK","_value":{"extension":[{"url":"u","valueCode":"unknown"}]}}],"active":true,"gender":"female","birthDate":"2000-02-29","name":[{"use":"official","family":"A","_family":{"id":"f"},"given":["B",null],"_given":[null,{"extension":[{"url":"u","valueString":"x"}]}],"prefix":["Dr."],"suffix":["PhD"],"period":{"start":"2017"}}],"telecom":[{"system":"phone","value":"1","rank":2147483647}],"address":[{"text":"1 Road","line":["1 Road"]}],"photo":[{"contentType":"image/png","data":"iVBORw0K","size":0,"creation":"2017","title":"p"}],"qualification":[{"identifier":[{"value":"1"}],"code":{"coding":[{"code":"x"}]},"period":{"end":"2030"},"issuer":{"display":"GMC"}}],"communication":[{"text":"English"}]}}' > "$k/fhir-rich"

# check_request: method, target, headers.
req() { # req FILE METHOD PATH INTERACTION SCOPE REASON [TO]
  {
    printf '%s\n%s\n' "$2" "/A1/STU3/1/gpconnect$3"
    printf 'Ssp-TraceID: 5b1e7a4c-9f2d-4c1b-8e3a-2d6f0c9b7a15\nSsp-From: 200000000359\nSsp-To: %s\n' "${7:-918999198993}"
    printf 'Ssp-InteractionID: urn:nhs:names:services:gpconnect:%s\n' "$4"
    printf 'Authorization: Bearer %s\nAccept: application/fhir+json\n' "$(token "$(claims "$5" "$6")")"
  } > "$c/check_request/$1"
}
req patient-read GET /Patient/2 fhir:rest:read:patient-1 'patient/*.read' directcare
req patient-search GET '/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009' fhir:rest:search:patient-1 'patient/*.read' directcare
req structured-migrate POST '/structured/Patient/$gpc.migratestructuredrecord' fhir:operation:gpc.migratestructuredrecord-1 'patient/*.read conf/N' migration
req binary-migrate GET /documents/Binary/07a6483f-732b-461e-86b6-edb665c45510 documents:fhir:rest:migrate:binary-1 'patient/*.read conf/R' migration
req wrong-to PUT /Appointment/1 fhir:rest:update:appointment-1 'patient/*.write' directcare 918999198994
req wrong-scope GET /metadata fhir:rest:read:metadata-1 'patient/*.write' directcare

# config: TOML and key=value.
cp "$tmp/pki/provider.toml" "$c/config/provider.toml"
cat > "$c/config/roots.toml" <<'TOML'
provider_asid = "918999198993"
ssp_fqdn = "msg.dev.spine2.ncrs.nhs.uk"
trust_anchor = ["/etc/gpcguard/root.pem", "root2.pem"]
revocation = "leaf"
require_crl = false
service_root = ["structured=/A1/STU3/1/gpconnect/structured/", "foundations=/A1/STU3/1/gpconnect", "documents = /A1/STU3/1/gpconnect/documents"]
enforce_scope = true
jwt_audience = "https://authorize.fhir.nhs.net/token"
clock_skew_seconds = 30
check_iat_future = true
max_json_depth = 8
max_peer_certificates = 4
max_header_bytes = 16777216
TOML
printf 'provider_asid=918999198993\nssp_fqdn=MSG.dev.spine2.ncrs.nhs.uk\ntrust_anchor=/r.pem\ncrl=/c.crl\nrequire_crl=on\nclock_skew_seconds=3600\nservice_root=structured=/x/\n' > "$c/config/key-value"

# peer_chain: 'P' + PEM chain, or DER certificates each after a 2-byte big-endian length.
p="$c/peer_chain"
for name in client-valid client-revoked client-unrelated client-wrong-san client-expired; do
  { printf P; cat "$tmp/pki/$name.pem" "$tmp/pki/sub-ca.pem"; } > "$p/pem-$name"
done
der_chain() { # der_chain OUT CERT...
  local out=$1; shift
  printf D > "$out"
  for cert in "$@"; do
    openssl x509 -in "$tmp/pki/$cert.pem" -outform DER -out "$tmp/one.der"
    local n; n=$(stat -c %s "$tmp/one.der")
    printf "\\x$(printf %02x $((n >> 8)))\\x$(printf %02x $((n & 255)))" >> "$out"
    cat "$tmp/one.der" >> "$out"
  done
}
der_chain "$p/der-client-cn-only" client-cn-only sub-ca root-ca
der_chain "$p/der-client-server-eku" client-server-eku
echo "seeds: $(find "$c" -type f | wc -l) files, $(du -sk "$c" | cut -f1) KiB; pki: $(ls "$here/pki" | wc -l) files"
