#!/bin/sh
# keepalived's health check for the Pincer balancer (deploy/keepalived/keepalived.conf):
# exits 0 when every URL given answers 200 with a body starting "OK", else 1. keepalived runs
# it every 10 s; 3 failures in a row lower this host's priority so the virtual IP moves to
# the peer, 2 passes restore it (S2.5's cadence).
#
#   check_pincer.sh                                   # the local balancer: http://127.0.0.1/lb-health
#   check_pincer.sh http://127.0.0.1/lb-health http://127.0.0.1:7700/health
#                                                     # ... and a Pincer node on this host too
#
# Environment: PINCER_CHECK_TIMEOUT, seconds per URL (default 3). Uses curl, else wget.
# POSIX sh; tested by test/deploy/deploy-files.test.ts against a local HTTP server.

timeout="${PINCER_CHECK_TIMEOUT:-3}"
if [ "$#" -eq 0 ]; then
  set -- "http://127.0.0.1/lb-health"
fi

fetch() {
  if command -v curl >/dev/null 2>&1; then
    # -f: a 4xx/5xx status is a failure.
    curl -fsS --max-time "$timeout" "$1" 2>/dev/null
  elif command -v wget >/dev/null 2>&1; then
    # wget exits non-zero on a 4xx/5xx status.
    wget -q -T "$timeout" -t 1 -O - "$1" 2>/dev/null
  else
    echo "check_pincer.sh: neither curl nor wget is installed" >&2
    return 1
  fi
}

for url in "$@"; do
  body="$(fetch "$url")" || exit 1
  case "$body" in
    OK*) ;;
    *) exit 1 ;;
  esac
done
exit 0
