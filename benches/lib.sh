# Shared pieces of the bench scripts (sourced, not run).

# A temp dir and a list of started processes, both cleaned up on exit.
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$WORK/nginx.pid" ]; then kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# items_head UPSTREAM: the start of a snapshot with one route to /items and ACE
# required; the caller goes on with the rest of the ace config.
items_head() {
  cat <<EOF
_format_version: "3.0"
services:
  - { name: s, url: "http://$1", routes: [{ name: r, paths: [/items], strip_path: false }] }
plugins:
  - name: ace
    config:
      match_policy: required
EOF
}

# items_api: the operation and key strategy that go with items_head.
items_api() {
  cat <<EOF
apis:
  - name: items
    operations: [{ method: GET, path: /items, id: list-items }]
auth_strategies: [{ name: keys, type: key_auth, key_names: [apikey] }]
EOF
}

# write_ace_snapshot FILE UPSTREAM: one route, one operation, a package limit
# (high enough never to reject) charged on every request with key bench-key.
write_ace_snapshot() {
  cat >"$1" <<EOF2
_format_version: "3.0"
services:
  - { name: bench, url: "http://$2", routes: [{ name: bench, paths: [/bench], strip_path: false }] }
plugins:
  - { name: ace, config: { match_policy: required } }
apis:
  - name: bench
    operations: [{ method: GET, path: /bench, id: bench-get }]
auth_strategies: [{ name: keys, type: key_auth, key_names: [apikey] }]
api_packages:
  - name: bench-pkg
    rate_limiting_config: { limit: 1000000000, duration: seconds }
    operations: [{ api: bench, method: GET, path: /bench }]
applications:
  - { name: bench-app, auth_strategy: keys, credentials: [{ key: bench-key }], registrations: [{ api_package: bench-pkg }] }
EOF2
}
