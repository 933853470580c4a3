#!/usr/bin/env bash
# Interop with a real server: nginx on 127.0.0.1, plain and TLS, with its own configuration
# in a temporary directory, a CA made for this run with openssl, small keepalive_requests and
# a 1 s keepalive_timeout; then pool-core/tests/interop.rs (ignored by plain `cargo test`)
# against it. nginx, curl and openssl come from apt when missing (CI runs as root on
# Debian). nginx is stopped and the directory removed on exit, whatever happens.
# With WIREPOOL_TEST_PROXY set (.ci/run starts tinyproxy and sets it), the same checks
# also go through that proxy. Prints one line per check; fails if nginx does not start
# or any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if ((${#need[@]})); then
  echo "interop: installing ${need[*]}"
  # Keep the package's own nginx service from starting on port 80 while installing.
  made_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # nginx-light is Debian 12's small build; later releases have only `nginx`.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${need[@]/nginx-light/nginx}" >/dev/null
  if [[ -n $made_policy ]]; then rm -f /usr/sbin/policy-rc.d; fi
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

dir=$(mktemp -d)
chmod 755 "$dir" # nginx's workers run as nobody and read the document root
nginx_pid=
cleanup() {
  if [[ -n $nginx_pid ]]; then
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

# A CA and a server certificate for 127.0.0.1 (IP SAN), valid for two days.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=wirepool interop CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
  > "$dir/server.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
  -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
chmod 644 "$dir"/*.key

# The document root: static files, a page with a server-side include, text for gzip.
www=$dir/www
mkdir -p "$www/ssi" "$dir/tmp"
printf 'hello from nginx\n' > "$www/small.txt"
head -c $((1 << 20)) /dev/urandom > "$www/mid-1m.bin"
head -c $((32 << 20)) /dev/urandom > "$www/big-32m.bin"
seq 1 50000 > "$www/text.txt"
printf 'included part\n' > "$www/ssi/part.txt"
printf 'before\n<!--# include file="part.txt" -->after\n' > "$www/ssi/page.shtml"

keepalive_requests=3
keepalive_timeout_ms=1000
start_nginx() {
  http_port=$((20000 + RANDOM % 20000))
  https_port=$((http_port + 1))
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
daemon off;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  types { text/plain txt; text/html html shtml; application/octet-stream bin; }
  default_type application/octet-stream;
  keepalive_requests $keepalive_requests;
  keepalive_timeout ${keepalive_timeout_ms}ms;
  gzip on;
  gzip_types text/plain;
  gzip_min_length 0;
  server {
    listen 127.0.0.1:$http_port;
    listen 127.0.0.1:$https_port ssl;
    ssl_certificate $dir/server.pem;
    ssl_certificate_key $dir/server.key;
    root $www;
    location /ssi/ { ssi on; }
    location = /nocontent { return 204; }
  }
}
CONF
  "$nginx_bin" -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" &
  nginx_pid=$!
  for _ in $(seq 50); do
    if curl -sf -o /dev/null "http://127.0.0.1:$http_port/small.txt" \
      && curl -sf -o /dev/null --cacert "$dir/ca.pem" "https://127.0.0.1:$https_port/small.txt"; then
      return 0
    fi
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$nginx_pid" 2>/dev/null || true
  wait "$nginx_pid" 2>/dev/null || true
  nginx_pid=
  return 1
}
started=
for _ in 1 2 3 4 5; do # a random port may be taken: try another
  if start_nginx; then started=1; break; fi
done
if [[ -z $started ]]; then
  echo "interop: nginx did not start" >&2
  cat "$dir/error.log" >&2 || true
  exit 1
fi
echo "interop: $("$nginx_bin" -v 2>&1) on 127.0.0.1:$http_port (http) and :$https_port (https); $(curl --version | head -n 1)"

export WIREPOOL_INTEROP_HTTP="http://127.0.0.1:$http_port"
export WIREPOOL_INTEROP_HTTPS="https://127.0.0.1:$https_port"
export WIREPOOL_INTEROP_CA="$dir/ca.pem"
export WIREPOOL_INTEROP_ROOT="$www"
export WIREPOOL_INTEROP_KEEPALIVE_REQUESTS=$keepalive_requests
export WIREPOOL_INTEROP_KEEPALIVE_TIMEOUT_MS=$keepalive_timeout_ms
# The real proxy .ci/run starts for real_proxy.rs (tinyproxy, Basic credentials): the
# proxy test fails without it, so run standalone this script needs it set too.
if [[ -n ${WIREPOOL_TEST_PROXY:-} ]]; then
  export WIREPOOL_INTEROP_PROXY=$WIREPOOL_TEST_PROXY
  cargo test --workspace --test interop -- --ignored --nocapture --test-threads=1
else
  echo "interop: WIREPOOL_TEST_PROXY is not set (.ci/run starts tinyproxy): the proxy test does not run"
  cargo test --workspace --test interop -- --ignored --nocapture --test-threads=1 --skip nginx_through_tinyproxy
fi
