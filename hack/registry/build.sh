#!/usr/bin/env bash
# Builds a container registry and the crane client from go-containerregistry's Go module (no
# release-page downloads) into a versioned cache, for the image automation tests and `kidp up`:
#
#   hack/registry/build.sh      build into the cache, or reuse it; prints the bin directory last
#
# The binaries land in $KIDP_CACHE_DIR/registry/ggcr-<version>/bin/{registry,crane}
# (default ~/.cache/kidp-gitops). A present pair is reused at once. The build goes to a temporary
# directory that is renamed into place, so an interrupted build never looks complete.
set -euo pipefail

GGCR_MODULE=${GGCR_MODULE:-github.com/google/go-containerregistry}
# Keep in step with REGISTRY_VERSION in tests/integration/image/registry.py.
GGCR_VERSION=${GGCR_VERSION:-v0.22.1}

say() { printf '[registry] %s\n' "$*" >&2; }

cache=${KIDP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kidp-gitops}/registry
dest="$cache/ggcr-$GGCR_VERSION"

if [[ -x "$dest/bin/registry" && -x "$dest/bin/crane" ]]; then
	say "cached: $dest/bin"
	echo "$dest/bin"
	exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"

start=$SECONDS
say "building $GGCR_MODULE/cmd/{registry,crane}@$GGCR_VERSION"
for cmd in registry crane; do
	CGO_ENABLED=0 GOBIN="$tmp/bin" go install -trimpath -ldflags "-s -w" \
		"$GGCR_MODULE/cmd/$cmd@$GGCR_VERSION"
done
"$tmp/bin/crane" version >/dev/null

rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
say "built in $((SECONDS - start)) s: $dest/bin"
echo "$dest/bin"
