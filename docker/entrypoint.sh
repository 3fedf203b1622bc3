#!/bin/sh
# siterecovery node|agent|ctl ARGS...
set -e
what="$1"; shift || true
case "$what" in
  node)  exec dotnet /opt/siterecovery/node/srnode.dll "$@" ;;
  agent) exec dotnet /opt/siterecovery/agent/sragent.dll "$@" ;;
  ctl)   exec dotnet /opt/siterecovery/srctl/srctl.dll "$@" ;;
  *) echo "usage: siterecovery node|agent|ctl ARGS..." >&2; exit 2 ;;
esac
