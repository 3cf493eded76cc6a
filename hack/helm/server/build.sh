#!/usr/bin/env bash
# Builds kidp-helm-server, the engine's Helm helper (Helm's Go SDK, see main.go), into a
# versioned cache:
#
#   hack/helm/server/build.sh      build into the cache, or reuse it; prints the binary's path last
#
# The binary lands in $KIDP_CACHE_DIR/helm/server-<helm version>-<sources>/bin/kidp-helm-server
# (default ~/.cache/kidp-gitops), where <sources> is the start of a sha256 over this
# directory's go.mod, go.sum and Go files (not its tests): a changed server is a new entry,
# built anew (`go test ./...` here runs its tests).
# src/kidp_gitops/helm/server.py computes the same key to find it. The build goes to a
# temporary directory renamed into place, so an interrupted build never looks complete.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Keep in step with HELM_VERSION in src/kidp_gitops/helm/binary.py and with go.mod.
HELM_VERSION=${HELM_VERSION:-v4.3.1}

say() { printf '[helm-server] %s\n' "$*" >&2; }

grep -q "helm.sh/helm/v4 $HELM_VERSION\$" "$here/go.mod" || {
	say "go.mod does not require helm.sh/helm/v4 $HELM_VERSION"
	exit 1
}
sources=$(cd "$here" && LC_ALL=C ls go.mod go.sum ./*.go | sed 's|^\./||' | grep -v '_test\.go$' | LC_ALL=C sort |
	xargs sha256sum | sha256sum | cut -c1-16)
cache=${KIDP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kidp-gitops}/helm
dest="$cache/server-$HELM_VERSION-$sources"

if [[ -x "$dest/bin/kidp-helm-server" ]]; then
	say "cached: $dest/bin/kidp-helm-server"
	echo "$dest/bin/kidp-helm-server"
	exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build-server-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"

start=$SECONDS
say "building kidp-helm-server with helm.sh/helm/v4@$HELM_VERSION (a cold build takes minutes)"
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/bin/kidp-helm-server" .)

rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
say "built in $((SECONDS - start)) s: $dest/bin/kidp-helm-server"
echo "$dest/bin/kidp-helm-server"
