#!/bin/sh
# A signed request with curl and openssl alone (RFC 9421 HTTP Message Signatures, hmac-sha256;
# RFC 9530 Content-Digest for a body). docs/access.md explains each line; tests/access run it.
#
#   KEYID=... SECRET=... sh signed-curl.sh GET 'http://127.0.0.1:8000/collections/roads/items?limit=2'
#   KEYID=... SECRET=... sh signed-curl.sh POST http://127.0.0.1:8000/cases case.json
#
# KEYID and SECRET are what `urbangis keys create --json` printed (the secret base64-encoded).
set -eu
METHOD=$1 URL=$2 BODY=${3:-}
CREATED=$(date +%s)
NONCE=$(openssl rand -hex 16)
KEY=$(printf '%s' "$SECRET" | openssl base64 -d -A | od -An -v -tx1 | tr -d ' \n')
if [ -n "$BODY" ]; then
    DIGEST="sha-256=:$(openssl dgst -sha256 -binary "$BODY" | openssl base64 -A):"
    PARAMS="(\"@method\" \"@target-uri\" \"content-digest\");created=$CREATED;keyid=\"$KEYID\";alg=\"hmac-sha256\";nonce=\"$NONCE\""
    BASE=$(printf '"@method": %s\n"@target-uri": %s\n"content-digest": %s\n"@signature-params": %s' \
        "$METHOD" "$URL" "$DIGEST" "$PARAMS")
else
    PARAMS="(\"@method\" \"@target-uri\");created=$CREATED;keyid=\"$KEYID\";alg=\"hmac-sha256\";nonce=\"$NONCE\""
    BASE=$(printf '"@method": %s\n"@target-uri": %s\n"@signature-params": %s' "$METHOD" "$URL" "$PARAMS")
fi
SIG=$(printf '%s' "$BASE" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEY" -binary | openssl base64 -A)
if [ -n "$BODY" ]; then
    exec curl -sS -X "$METHOD" -H "Content-Type: application/json" -H "Content-Digest: $DIGEST" \
        -H "Signature-Input: sig=$PARAMS" -H "Signature: sig=:$SIG:" --data-binary "@$BODY" "$URL"
fi
exec curl -sS -X "$METHOD" -H "Signature-Input: sig=$PARAMS" -H "Signature: sig=:$SIG:" "$URL"
