# The proxy of `runtime: swarm` servers: HAProxy from Debian's packages on the local base
# image (no registry but the package archive). Its configuration comes from tfsctl in the
# TFSCTL_HAPROXY_CONFIG variable (tfsctl/runtimes/proxy.py renders it), so one image serves
# every server. Built by scripts/build_proxy_image.sh.
ARG BASE=tfsctl/base:bookworm
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null \
 && rm -rf /var/lib/apt/lists/*
RUN printf '%s\n' '#!/bin/sh' 'set -e' \
      '[ -n "$TFSCTL_HAPROXY_CONFIG" ] || { echo "TFSCTL_HAPROXY_CONFIG is empty" >&2; exit 64; }' \
      'printf "%s\\n" "$TFSCTL_HAPROXY_CONFIG" > /run/haproxy.cfg' \
      'haproxy -c -q -f /run/haproxy.cfg' \
      'exec haproxy -db -f /run/haproxy.cfg' > /usr/local/bin/tfsctl-proxy \
 && chmod 0755 /usr/local/bin/tfsctl-proxy
EXPOSE 8500 8501
STOPSIGNAL SIGUSR1
ENTRYPOINT ["/usr/local/bin/tfsctl-proxy"]
