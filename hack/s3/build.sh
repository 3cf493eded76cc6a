#!/usr/bin/env bash
# Builds an S3-compatible server, versitygw (Apache-2.0, github.com/versity/versitygw), from its
# Go module (no release-page downloads) into a versioned cache, for the Bucket source's tests
# (and later the backups'):
#
#   hack/s3/build.sh      build into the cache, or reuse it; prints the bin directory last
#
# The binary lands in $KIDP_CACHE_DIR/s3/versitygw-<version>/bin/versitygw (default
# ~/.cache/kidp-gitops); its posix backend serves a directory's subdirectories as buckets.
# MinIO's server is AGPL and not used. The build goes to a temporary directory that is renamed
# into place, so an interrupted build never looks complete.
set -euo pipefail

VERSITYGW_MODULE=${VERSITYGW_MODULE:-github.com/versity/versitygw}
# Keep in step with VERSITYGW_VERSION in tests/integration/source/s3server.py.
VERSITYGW_VERSION=${VERSITYGW_VERSION:-v1.8.0}

say() { printf '[s3] %s\n' "$*" >&2; }

cache=${KIDP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kidp-gitops}/s3
dest="$cache/versitygw-$VERSITYGW_VERSION"

if [[ -x "$dest/bin/versitygw" ]]; then
	say "cached: $dest/bin"
	echo "$dest/bin"
	exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"

start=$SECONDS
say "building $VERSITYGW_MODULE/cmd/versitygw@$VERSITYGW_VERSION"
CGO_ENABLED=0 GOBIN="$tmp/bin" go install -trimpath -ldflags "-s -w" \
	"$VERSITYGW_MODULE/cmd/versitygw@$VERSITYGW_VERSION"
"$tmp/bin/versitygw" --version >/dev/null

rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
say "built in $((SECONDS - start)) s: $dest/bin"
echo "$dest/bin"
