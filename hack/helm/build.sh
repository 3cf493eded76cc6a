#!/usr/bin/env bash
# Builds the Helm CLI from its Go module (no release-page downloads) into a versioned cache:
#
#   hack/helm/build.sh      build into the cache, or reuse it; prints the binary's path last
#
# The binary lands in $KIDP_CACHE_DIR/helm/helm-<version>/bin/helm (default ~/.cache/kidp-gitops).
# A present binary is reused at once. The build goes to a temporary directory that is renamed
# into place, so an interrupted build never leaves an entry that looks complete.
set -euo pipefail

HELM_MODULE=${HELM_MODULE:-helm.sh/helm/v4}
# Keep in step with HELM_VERSION in src/kidp_gitops/helm/binary.py (which passes it here).
HELM_VERSION=${HELM_VERSION:-v4.3.1}

say() { printf '[helm] %s\n' "$*" >&2; }

cache=${KIDP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kidp-gitops}/helm
dest="$cache/helm-$HELM_VERSION"

if [[ -x "$dest/bin/helm" ]]; then
	say "cached: $dest/bin/helm"
	echo "$dest/bin/helm"
	exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"

start=$SECONDS
say "building $HELM_MODULE/cmd/helm@$HELM_VERSION (a cold build takes minutes)"
# helm reports its version from this variable; a `go install` build would otherwise say v4-dev.
ldflags="-s -w -X helm.sh/helm/${HELM_MODULE##*/}/internal/version.version=$HELM_VERSION"
CGO_ENABLED=0 GOBIN="$tmp/bin" go install -trimpath -ldflags "$ldflags" \
	"$HELM_MODULE/cmd/helm@$HELM_VERSION"
"$tmp/bin/helm" version >/dev/null

rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
say "built in $((SECONDS - start)) s: $dest/bin/helm"
echo "$dest/bin/helm"
