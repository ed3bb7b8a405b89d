#!/usr/bin/env bash
# Raw-HTTP probes of the emulator's strict behaviours (issue 12): each starts `outlookfs
# emulator` with the flags a behaviour needs, sends requests with curl as any client would,
# and prints the answer's status next to the one Graph gives. Exits 1 if one differs.
#
#   scripts/probe-emulator.sh [path/to/outlookfs]      (default bin/outlookfs; make build first)
#
# It needs curl and python3 (to read JSON). cmd/outlookfs's TestEmulatorProbes runs it.
set -euo pipefail
BIN=${1:-bin/outlookfs}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
FAILED=0

# start NAME FLAGS...: runs an emulator and sets GRAPH, UPLOAD, ROOT, TOKEN, CA.
start() {
  local name=$1; shift
  local out="$WORK/$name.json"
  "$BIN" emulator --ca-file "$WORK/$name-ca.pem" "$@" >"$out" 2>"$WORK/$name.log" &
  PIDS+=($!)
  for _ in $(seq 1 200); do [ -s "$out" ] && break; sleep 0.05; done
  [ -s "$out" ] || { echo "emulator $name did not start: $(cat "$WORK/$name.log")"; exit 1; }
  eval "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
for k in ("graph","upload","root","token","ca"): print(k.upper()+"="+json.dumps(d.get(k,"")))' "$out")"
}

# req METHOD URL [curl args...]: prints the status; the body goes to $WORK/body.
req() {
  local method=$1 url=$2; shift 2
  curl -sS -o "$WORK/body" -w '%{http_code}' --cacert "$CA" -X "$method" "$url" "$@"
}
auth() { echo "Authorization: Bearer $TOKEN"; }

# expect WHAT WANT GOT
expect() {
  if [ "$2" = "$3" ]; then
    printf 'ok    %-72s %s\n' "$1" "$3"
  else
    printf 'FAIL  %-72s %s, want %s: %s\n' "$1" "$3" "$2" "$(head -c 300 "$WORK/body")"
    FAILED=1
  fi
}

json() { python3 -c "import json,sys; d=json.load(open('$WORK/body')); print($1)"; }

new_draft() {
  req POST "$GRAPH/me/messages" -H "$(auth)" -H 'Content-Type: application/json' -d "{\"subject\":\"$1\"}" >/dev/null
  json 'd["id"]'
}

# A file attachment's POST body with N zero bytes, gzip'ed (so that the request limit is not hit).
post_body() {
  python3 -c "import base64,json,gzip,sys; sys.stdout.buffer.write(gzip.compress(json.dumps({'@odata.type':'#microsoft.graph.fileAttachment','name':sys.argv[2],'contentBytes':base64.b64encode(bytes(int(sys.argv[1]))).decode()}).encode()))" "$1" "$2" >"$WORK/post.gz"
}

echo "== POST carries a file under 3 MiB only; contentType from the name"
start post
D=$(new_draft probe)
post_body 3145727 just-under.bin
expect "POST 3 MiB - 1 (gzip'ed)" 201 "$(req POST "$GRAPH/me/messages/$D/attachments" -H "$(auth)" -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary @"$WORK/post.gz")"
expect "  its contentType, none given" application/octet-stream "$(json 'd["contentType"]')"
post_body 3145728 three-mib.bin
expect "POST 3 MiB (gzip'ed)" 400 "$(req POST "$GRAPH/me/messages/$D/attachments" -H "$(auth)" -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary @"$WORK/post.gz")"
post_body 10 report.pdf
expect "POST report.pdf without contentType" 201 "$(req POST "$GRAPH/me/messages/$D/attachments" -H "$(auth)" -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary @"$WORK/post.gz")"
expect "  its contentType" application/pdf "$(json 'd["contentType"]')"

echo "== \$select of a derived property needs its cast"
expect "\$select=id,contentId" 400 "$(req GET "$GRAPH/me/messages/$D/attachments?\$select=id,contentId" -H "$(auth)")"
expect "  code" RequestBroker--ParseUri "$(json 'd["error"]["code"]')"
expect "\$select=id,microsoft.graph.fileAttachment/contentId" 200 "$(req GET "$GRAPH/me/messages/$D/attachments?\$select=id,microsoft.graph.fileAttachment/contentId" -H "$(auth)")"

echo "== a body over the request limit, in each form Graph answers it"
python3 -c "import json; print(json.dumps({'@odata.type':'#microsoft.graph.fileAttachment','name':'big','contentBytes':'A'*(4<<20)}))" >"$WORK/big.json"
expect "POST a 4 MiB body (default: 400)" 400 "$(req POST "$GRAPH/me/messages/$D/attachments" -H "$(auth)" -H 'Content-Type: application/json' --data-binary @"$WORK/big.json")"
expect "  message" "Maximum request length exceeded." "$(json 'd["error"]["message"]')"
start limit500 --request-limit-status 500
D5=$(new_draft probe)
expect "POST a 4 MiB body (--request-limit-status 500)" 500 "$(req POST "$GRAPH/me/messages/$D5/attachments" -H "$(auth)" -H 'Content-Type: application/json' --data-binary @"$WORK/big.json")"
expect "  its body's length" 0 "$(stat -c %s "$WORK/body")"

echo "== HTTP/2 and gzip'ed answers, as Graph sends them"
expect "GET drafts: HTTP version" 2 "$(curl -sS -o /dev/null -w '%{http_version}' --http2 --cacert "$CA" -H "$(auth)" "$GRAPH/me/mailFolders/drafts/messages")"
expect "GET drafts with Accept-Encoding: gzip: Content-Encoding" gzip "$(curl -sS -o /dev/null -D - --cacert "$CA" -H "$(auth)" -H 'Accept-Encoding: gzip' "$GRAPH/me/mailFolders/drafts/messages" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-encoding"{print $2}')"
expect "GET drafts without it: Content-Encoding" "" "$(curl -sS -o /dev/null -D - --cacert "$CA" -H "$(auth)" "$GRAPH/me/mailFolders/drafts/messages" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-encoding"{print $2}')"
expect "GET drafts with Prefer: IdType=\"ImmutableId\"" 200 "$(req GET "$GRAPH/me/mailFolders/drafts/messages" -H "$(auth)" -H 'Prefer: IdType="ImmutableId"')"

echo "== the status GET on an upload URL (not documented for Outlook)"
for status in 200 404 405; do
  start "get$status" --status-get "$status"
  DG=$(new_draft probe)
  req POST "$GRAPH/me/messages/$DG/attachments/createUploadSession" -H "$(auth)" -H 'Content-Type: application/json' \
    -d '{"AttachmentItem":{"attachmentType":"file","name":"s.bin","size":3145728}}' >/dev/null
  URL=$(json 'd["uploadUrl"]')
  expect "GET {uploadUrl} (--status-get $status)" "$status" "$(req GET "$URL")"
done

echo "== the final range answered 200 with the attachment's JSON (--final-put-json)"
start finaljson --final-put-json
DF=$(new_draft probe)
req POST "$GRAPH/me/messages/$DF/attachments/createUploadSession" -H "$(auth)" -H 'Content-Type: application/json' \
  -d '{"AttachmentItem":{"attachmentType":"file","name":"s.bin","size":3145728}}' >/dev/null
URL=$(json 'd["uploadUrl"]')
head -c 3145728 /dev/zero >"$WORK/range"
expect "PUT the only range" 200 "$(req PUT "$URL" -H 'Content-Range: bytes 0-3145727/3145728' -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/range")"
expect "  the answer names the attachment" True "$(json '"id" in d and "nextExpectedRanges" not in d')"

echo "== delta tokens age and can be expired; calendarView/delta takes no \$select"
start delta
req GET "$GRAPH/me/mailFolders/drafts/messages/delta?\$select=subject" -H "$(auth)" -H 'Prefer: odata.maxpagesize=1000' >/dev/null
LINK=$(json 'd["@odata.deltaLink"]')
expect "GET the deltaLink" 200 "$(req GET "$LINK" -H "$(auth)")"
expect "POST /_emulator/expire-delta" 204 "$(req POST "$ROOT/_emulator/expire-delta")"
expect "GET the deltaLink after expire-delta" 410 "$(req GET "$LINK" -H "$(auth)")"
expect "  code" SyncStateNotFound "$(json 'd["error"]["code"]')"
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ); LATER=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
expect "calendarView/delta with \$select" 400 "$(req GET "$GRAPH/me/calendarView/delta?startDateTime=$NOW&endDateTime=$LATER&\$select=subject" -H "$(auth)")"

echo "== the message size limit: upload sessions running together, and the encoded count"
start together --message-size-limit 36700160
DT=$(new_draft probe)
for i in 1 2; do
  req POST "$GRAPH/me/messages/$DT/attachments/createUploadSession" -H "$(auth)" -H 'Content-Type: application/json' \
    -d '{"AttachmentItem":{"attachmentType":"file","name":"f'$i'.bin","size":20971520}}' >/dev/null
  eval "URL$i=\$(json 'd[\"uploadUrl\"]')"
done
head -c 4194304 /dev/zero >"$WORK/range"
for off in 0 4194304 8388608 12582912; do
  end=$((off + 4194303))
  req PUT "$URL1" -H "Content-Range: bytes $off-$end/20971520" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/range" >/dev/null
  req PUT "$URL2" -H "Content-Range: bytes $off-$end/20971520" -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/range" >/dev/null
done
expect "final range of the first of two 20 MiB sessions, 35 MiB limit" 400 "$(req PUT "$URL1" -H 'Content-Range: bytes 16777216-20971519/20971520' -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/range")"
expect "  code" ErrorMessageSizeExceeded "$(json 'd["error"]["code"]')"
start encoded --message-size-limit 1000 --message-size-encoded
DE=$(new_draft probe)
post_body 700 b.bin
expect "POST 700 bytes under a 1,000-byte limit counted encoded" 400 "$(req POST "$GRAPH/me/messages/$DE/attachments" -H "$(auth)" -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary @"$WORK/post.gz")"

exit $FAILED
