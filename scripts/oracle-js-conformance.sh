#!/usr/bin/env bash
# Runs Oracle's own JavaScript device library (npm iotcs-csl-js@19.1.5, through
# the harness in ../../shared/oracle-js) against iotcs-server:
#
#   1. copies the harness to a temp dir and installs the library (setup.sh,
#      falling back to --sqlite-stub when nothing can be compiled);
#   2. builds iotcs-server and starts `serve --listen 127.0.0.1:0 --ephemeral`;
#   3. provisions a device and two gateways with OUR `iotcs-server provision`,
#      so Oracle's library reads a trusted assets store written in Rust;
#   4. dcd.js: activation, model, attributes, alert, custom data; while it
#      listens, a multi-attribute change and an action are queued through the
#      admin API and must reach its onChange/onAction and be answered;
#   5. gateway.js: activation, two ICDs (one signed with a provisioned secret,
#      one unsigned), data for both; and a second gateway with restricted
#      (RSA-signed) ICDs;
#   6. storage.js (scripts/oracle-js/storage.js, copied into the harness):
#      the library uploads a file as a storage object set on a URI attribute,
#      the admin API returns it byte for byte with its type and metadata, the
#      DATA message carries its URL; then the admin points the attribute at
#      the object and the library downloads it (through the storage host name
#      the library requires, resolved to 127.0.0.1 inside the driver);
#      across libraries, our SDK (examples/storage_check.rs, through an HTTP
#      CONNECT proxy, scripts/oracle-js/connect-proxy.js, as its
#      [media_storage] proxy, which maps that host name to 127.0.0.1)
#      downloads the library's object and uploads one of its own, which the
#      cloud then points the library at: bytes compared both ways;
#   7. checks exit codes, and that the server stored the data and alerts.
#
# Prints one line per check and finally "oracle-js: N passed, M failed".
# Exit status 0 only if nothing failed.
#
# Usage: scripts/oracle-js-conformance.sh [--debug] [--keep]
#   --debug   use a debug build (target/debug) instead of a release build
#   --keep    keep the work directory (logs, stores) for inspection
# Environment:
#   IOTCS_SERVER_BIN     use this iotcs-server binary, build nothing (then
#                        IOTCS_STORAGE_CHECK_BIN names the storage_check example)
#   ORACLE_JS_HARNESS    the harness directory (default ../../shared/oracle-js)
#   ORACLE_JS_PREPARED   a harness copy where setup.sh already ran (reused as is)
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
HARNESS_DIR="${ORACLE_JS_HARNESS:-$(dirname "$0")/../../shared/oracle-js}"
HARNESS="$(cd "$HARNESS_DIR" 2>/dev/null && pwd)" || {
  echo "oracle-js: harness not found at $HARNESS_DIR" >&2; exit 2; }
PROFILE=release
KEEP=0
for arg in "$@"; do
  case "$arg" in
    --debug) PROFILE=debug ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "oracle-js: unknown option $arg" >&2; exit 2 ;;
  esac
done
for tool in node npm curl cargo; do
  command -v "$tool" >/dev/null 2>&1 || { echo "oracle-js: $tool is required" >&2; exit 2; }
done

WORK="$(mktemp -d /tmp/iotcs-oraclejs.XXXXXX)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  if [ "$KEEP" = 1 ]; then echo "oracle-js: work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "PASS $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
log() { echo "[oracle-js] $*" >&2; }
check() { # name command...: PASS if the command succeeds
  local name=$1; shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}
# jq-like: json FILE|- 'js expression on v' (prints the result)
json() { node -e 'const fs=require("fs");const v=JSON.parse(fs.readFileSync(process.argv[1]==="-"?0:process.argv[1],"utf8"));const r=(eval(process.argv[2]));process.stdout.write(typeof r==="string"?r:JSON.stringify(r));' "$1" "$2"; }
# the JSON line of an event in a harness output file
event() { grep "\"event\":\"$2\"" "$1" | tail -n 1; }

# 1. Oracle's library.
if [ -n "${ORACLE_JS_PREPARED:-}" ] && [ -d "$ORACLE_JS_PREPARED/node_modules/iotcs-csl-js" ]; then
  JS="$ORACLE_JS_PREPARED"
  log "reusing the prepared harness in $JS"
else
  JS="$WORK/oracle-js"
  cp -r "$HARNESS" "$JS" && chmod -R u+w "$JS"
  log "installing iotcs-csl-js@19.1.5 (about 1-2 minutes)"
  if ! (cd "$JS" && ./setup.sh > "$WORK/setup.log" 2>&1); then
    log "setup.sh failed (see below); retrying with --sqlite-stub"
    tail -n 5 "$WORK/setup.log" >&2
    (cd "$JS" && ./setup.sh --sqlite-stub >> "$WORK/setup.log" 2>&1) || {
      tail -n 20 "$WORK/setup.log" >&2; echo "oracle-js: 0 passed, 1 failed (setup)"; exit 1; }
  fi
fi
ok "setup: $(grep -o 'OK: .*' "$WORK/setup.log" 2>/dev/null | tail -n 1 || echo prepared)"

# 2. The server.
if [ -n "${IOTCS_SERVER_BIN:-}" ]; then
  BIN="$IOTCS_SERVER_BIN"
  CHECK_BIN="${IOTCS_STORAGE_CHECK_BIN:-}"
else
  log "building iotcs-server ($PROFILE)"
  flags=(); [ "$PROFILE" = release ] && flags=(--release)
  (cd "$ROOT" && cargo build "${flags[@]}" -p iotcs-server --bin iotcs-server) >&2 || {
    echo "oracle-js: 0 passed, 1 failed (build)"; exit 1; }
  BIN="$ROOT/target/$PROFILE/iotcs-server"
  (cd "$ROOT" && cargo build "${flags[@]}" --example storage_check) >&2 || {
    echo "oracle-js: 0 passed, 1 failed (build)"; exit 1; }
  CHECK_BIN="$ROOT/target/$PROFILE/examples/storage_check"
fi
DATA="$WORK/data"
# Oracle's libraries take a URI for a storage object only if its host contains
# storage.oraclecloud.com: the storage service answers under such a name.
STORAGE_HOST=iotcs.storage.oraclecloud.com
RUST_LOG="${RUST_LOG:-iotcs_server=debug,warn}" "$BIN" serve --data-dir "$DATA" --listen 127.0.0.1:0 --ephemeral \
  --storage-host "$STORAGE_HOST" \
  > "$WORK/server.out" 2> "$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$WORK/server.out" 2>/dev/null && [ -f "$DATA/server.json" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q "listening on" "$WORK/server.out" 2>/dev/null; then
  tail -n 20 "$WORK/server.log" >&2; echo "oracle-js: $pass passed, $((fail + 1)) failed (server did not start)"; exit 1
fi
URL="$(json "$DATA/server.json" 'v.url')"
PW="$(cat "$DATA/admin-password")"
ok "server: $(cat "$WORK/server.out")"
admin() { # METHOD PATH [JSON BODY]
  local args=(-sS --cacert "$DATA/ca.pem" -u "admin:$PW" -X "$1" "$URL$2")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
  curl "${args[@]}"
}

# 3. Trusted assets stores written by our provision command.
STORES="$WORK/stores"
prov() { "$BIN" provision --data-dir "$DATA" --passphrase changeit "$@" >> "$WORK/provision.log" 2>&1; }
check "provision device (iotcs-server provision)" prov --hardware-id oracle-js-dcd --out "$STORES/dcd.tas"
check "provision gateway with a pre-registered ICD" \
  prov --hardware-id oracle-js-gw --gateway --icd oracle-js-gw-ICD-1:icd1-secret --out "$STORES/gw.tas"
check "provision second gateway" prov --hardware-id oracle-js-gw2 --gateway --out "$STORES/gw2.tas"
(cd "$JS" && node provision.js --inspect --tas "$STORES/gw.tas" --password changeit > "$WORK/inspect.out" 2>&1)
check "Oracle's reader decodes the Rust-written store (server URI, CA, ICD)" \
  grep -q "\"serverPort\":\"${URL##*:}\".*\"trustAnchors\":1.*\"connectedDevices\":{\"oracle-js-gw-ICD-1\"" "$WORK/inspect.out"

TEMP=urn:com:example:iotcs:temperature_sensor
HUM=urn:com:example:iotcs:humidity_sensor

# 4. A directly-connected device; requests queued while it listens.
(cd "$JS" && exec node dcd.js --tas "$STORES/dcd.tas" --password changeit --model "$TEMP" --wait 20 \
  --expect-change 1 --expect-action 1 > "$WORK/dcd.out" 2> "$WORK/dcd.err") &
DCD_PID=$!
for _ in $(seq 1 600); do
  grep -q '"event":"listening"' "$WORK/dcd.out" 2>/dev/null && break
  kill -0 "$DCD_PID" 2>/dev/null || break
  sleep 0.1
done
EP="$(event "$WORK/dcd.out" activated | json - 'v.endpointId' 2>/dev/null)"
if [ -n "$EP" ]; then
  admin POST "/iot/api/v2/devices/$EP/deviceModels/$TEMP/attributes" '{"maxThreshold": 80, "reportingInterval": 5}' \
    > "$WORK/req-patch.json"
  admin POST "/iot/api/v2/devices/$EP/deviceModels/$TEMP/actions/power" '{"value": true}' > "$WORK/req-action.json"
fi
wait "$DCD_PID"; rc=$?
check "dcd.js exits 0 (activate, model, attributes, alert, data, onChange, onAction)" test "$rc" = 0
check "dcd.js activated with an endpoint id" test -n "$EP"
SUMMARY="$(event "$WORK/dcd.out" summary)"
check "dcd.js saw the attribute change" test "$(echo "$SUMMARY" | json - 'v.onChange')" -ge 2
check "dcd.js saw the action" test "$(echo "$SUMMARY" | json - 'v.onAction')" -ge 1
check "dcd.js answered every request" test "$(echo "$SUMMARY" | json - 'v.unansweredRequests.length')" = 0
for req in patch action; do
  id="$(json "$WORK/req-$req.json" 'v.id' 2>/dev/null)"
  status="$( [ -n "$id" ] && admin GET "/iot/api/v2/requests/$id" | json - 'v.status + " " + v.responseStatusCode')"
  check "the $req request is COMPLETED with 200 ($status)" test "$status" = "COMPLETED 200"
done

(cd "$JS" && node dcd.js --tas "$STORES/dcd.tas" --password changeit --model "$TEMP" --wait 1 --alert none \
  --data none > "$WORK/dcd2.out" 2> "$WORK/dcd2.err"); rc=$?
check "dcd.js runs again with its stored activation" test "$rc" = 0 -a -n "$(event "$WORK/dcd2.out" alreadyActivated)"

"$BIN" provision --data-dir "$DATA" --passphrase changeit --hardware-id oracle-js-unknown-model \
  --out "$STORES/unknown.tas" >> "$WORK/provision.log" 2>&1
(cd "$JS" && node dcd.js --tas "$STORES/unknown.tas" --password changeit --model urn:test:no-such-model --wait 0 \
  > "$WORK/dcd3.out" 2> "$WORK/dcd3.err"); rc=$?
check "an unknown model is refused at activation (createDraft=false)" \
  test "$rc" = 1 -a -n "$(grep '"stage":"activate"' "$WORK/dcd3.out" | grep '"statusCode":400')"

# 5. Gateways.
(cd "$JS" && node gateway.js --tas "$STORES/gw.tas" --password changeit --icd-model "$HUM" --wait 3 \
  > "$WORK/gw.out" 2> "$WORK/gw.err"); rc=$?
check "gateway.js exits 0 (activate, 2 ICDs, data)" test "$rc" = 0
check "gateway.js registered 2 ICDs (one HMAC-signed)" \
  test "$(grep -c '"event":"registered"' "$WORK/gw.out")" = 2 -a -n "$(grep '"signedWithProvisionedSecret":true' "$WORK/gw.out")"
(cd "$JS" && node gateway.js --tas "$STORES/gw2.tas" --password changeit --icd-model "$HUM" --restricted --wait 2 \
  > "$WORK/gw2.out" 2> "$WORK/gw2.err"); rc=$?
check "gateway.js --restricted exits 0 (RSA-signed ICDs)" test "$rc" = 0

# 6. Storage objects, both ways, through the storage service.
cp "$ROOT/scripts/oracle-js/storage.js" "$JS/storage.js"
CAM=urn:test:oraclejs:camera
admin POST /iot/api/v2/deviceModels \
  "{\"urn\": \"$CAM\", \"name\": \"Camera\", \"attributes\": [{\"name\": \"image\", \"type\": \"URI\", \"writable\": true}]}" \
  > "$WORK/camera-model.json"
prov --hardware-id oracle-js-camera --out "$STORES/camera.tas"
SNAP="$WORK/snapshot.bin"
head -c 300000 /dev/urandom > "$SNAP"
(cd "$JS" && NODE_EXTRA_CA_CERTS="$DATA/ca.pem" exec node storage.js --tas "$STORES/camera.tas" --password changeit \
  --model "$CAM" --upload "$SNAP" --name snapshot.bin --type image/png --meta camera=front \
  --download "$WORK/downloaded.bin" --storage-ip 127.0.0.1 --wait 30 > "$WORK/storage.out" 2> "$WORK/storage.err") &
ST_PID=$!
for _ in $(seq 1 600); do
  grep -q '"event":"waitingForStorageObject"' "$WORK/storage.out" 2>/dev/null && break
  kill -0 "$ST_PID" 2>/dev/null || break
  sleep 0.1
done
CAM_EP="$(event "$WORK/storage.out" activated | json - 'v.endpointId' 2>/dev/null)"
OBJ="$CAM_EP/snapshot.bin"
admin GET "/iot/admin/storage/objects?prefix=$CAM_EP/" > "$WORK/objects.json"
check "storage.js uploaded the object (201, IN_SYNC)" test -n "$(event "$WORK/storage.out" uploaded)"
check "the object's URL is on the storage host, https with an explicit port" \
  test "$(event "$WORK/storage.out" uploaded | json - 'v.uri')" = "https://$STORAGE_HOST:${URL##*:}/v1/Storage-iotcs/iotcs/$OBJ"
check "the admin lists it with its length, MD5, type and metadata" test "$(json "$WORK/objects.json" \
  'v.items.map(o => [o.name, o.bytes, o.hash, o.content_type, o.metadata.camera].join(" ")).join(",")')" \
  = "$OBJ 300000 $(md5sum "$SNAP" | cut -d' ' -f1) image/png front"
curl -sS --cacert "$DATA/ca.pem" -u "admin:$PW" "$URL/iot/admin/storage/content/$OBJ" -o "$WORK/fetched.bin"
check "the admin API returns the uploaded bytes" cmp -s "$SNAP" "$WORK/fetched.bin"
OBJ_URL="$(json "$WORK/objects.json" 'v.items[0] && v.items[0].url')"
# Across libraries: our SDK downloads the library's object and uploads its
# own, through the CONNECT proxy that maps the storage host to 127.0.0.1.
(node "$ROOT/scripts/oracle-js/connect-proxy.js" 127.0.0.1 > "$WORK/proxy.out" 2> "$WORK/proxy.err") &
PROXY_PID=$!
for _ in $(seq 1 100); do grep -q listening "$WORK/proxy.out" 2>/dev/null && break; sleep 0.1; done
PROXY_PORT="$(event "$WORK/proxy.out" listening | json - 'v.port' 2>/dev/null)"
prov --hardware-id rust-camera --out "$STORES/rust-camera.tas"
RSNAP="$WORK/rust-snapshot.bin"
head -c 200000 /dev/urandom > "$RSNAP"
RUST_URL=""
if [ -n "$CHECK_BIN" ] && [ -n "$PROXY_PORT" ] && [ -n "$OBJ_URL" ]; then
  "$CHECK_BIN" --config "$STORES/rust-camera.tas" --passphrase changeit --model "$CAM" \
    --proxy "http://127.0.0.1:$PROXY_PORT/" --download "$OBJ_URL" --out "$WORK/rust-downloaded.bin" \
    --upload "$RSNAP" --name rust-snapshot.bin > "$WORK/check.out" 2> "$WORK/check.err"
  RUST_URL="$(event "$WORK/check.out" uploaded | json - 'v.uri' 2>/dev/null)"
fi
check "our SDK downloaded the library's object through the proxy, byte for byte" \
  cmp -s "$SNAP" "$WORK/rust-downloaded.bin"
check "our SDK uploaded its object to the storage host" \
  test -n "$RUST_URL" -a "${RUST_URL#https://$STORAGE_HOST:}" != "$RUST_URL"
kill "$PROXY_PID" 2>/dev/null
if [ -n "$CAM_EP" ] && [ -n "$RUST_URL" ]; then
  # As a multi-attribute PATCH: the library's handler of a single-attribute
  # PUT reads `self.model.urn`, which does not exist, and throws (19.1.5).
  admin POST "/iot/api/v2/devices/$CAM_EP/deviceModels/$CAM/attributes" '{"image": "'"$RUST_URL"'"}' \
    > "$WORK/req-storage.json"
fi
wait "$ST_PID"; rc=$?
check "storage.js exits 0 (upload, DATA, download)" test "$rc" = 0
check "the library downloaded our SDK's object the cloud pointed it at, byte for byte" \
  cmp -s "$RSNAP" "$WORK/downloaded.bin"
admin GET "/iot/api/v2/messages?device=$CAM_EP&type=DATA" > "$WORK/camera-data.json"
check "the DATA message carries the object's URL" \
  test "$(json "$WORK/camera-data.json" 'v.items[0] && v.items[0].payload.data.image')" = "$OBJ_URL"
stored_ms="$(json "$WORK/objects.json" 'Date.parse(v.items[0].last_modified)')"
check "the cloud got the DATA message only after the object" \
  test "$(json "$WORK/camera-data.json" 'v.items[0].receivedTime')" -ge "${stored_ms:-9999999999999}"

# 7. What the server stored.
count() { admin GET "/iot/api/v2/messages?$1" | json - 'v.items.length'; }
check "server stored the dcd's attribute and custom DATA" test "$(count "device=$EP&type=DATA")" -ge 2
check "server stored the dcd's ALERT" test "$(count "device=$EP&type=ALERT")" -ge 1
check "server stored the dcd's RESPONSEs" test "$(count "device=$EP&type=RESPONSE")" -ge 2
for icd in $(event "$WORK/gw.out" summary | json - 'v.icds.map(i => i.endpointId).join(" ")'); do
  check "server stored DATA from ICD $icd" test "$(count "device=$icd&type=DATA")" -ge 1
done
restricted="$(admin GET "/iot/api/v2/devices" | json - 'v.items.filter(d => d.restricted === true).length')"
check "the restricted ICDs are locked to their gateway" test "$restricted" = 2
check "the server is still running" kill -0 "$SERVER_PID"
check "the server logged no errors" test -z "$(grep -E ' ERROR ' "$WORK/server.log")"

echo "oracle-js: $pass passed, $fail failed"
[ "$fail" = 0 ]
