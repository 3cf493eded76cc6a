#!/usr/bin/env bash
# Builds the local control plane from Go modules: kube-apiserver, kube-controller-manager,
# kube-scheduler and etcd from this wrapper module, and the kwok controller with `go install`.
#
#   hack/controlplane/build.sh            build into the cache, or reuse it; prints the bin dir last
#   hack/controlplane/build.sh --regen    rewrite go.mod/go.sum from versions.env, then build
#
# The binaries land in $KIDP_CACHE_DIR/controlplane/<key>/bin (default ~/.cache/kidp-gitops),
# where <key> names the pinned versions and a digest of the inputs of the build. A present,
# complete directory is reused at once; a build writes to a temporary directory and renames it,
# so an interrupted build never leaves a cache entry that looks complete.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
# shellcheck source=/dev/null
. ./versions.env

say() { printf '[controlplane] %s\n' "$*" >&2; }

regen_gomod() {
	local kmod minor
	minor=${KUBERNETES_VERSION#v1.}  # 36.3
	say "writing go.mod for kubernetes $KUBERNETES_VERSION, etcd $ETCD_VERSION"
	kmod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
	{
		echo "module github.com/kidp-gitops/kidp-gitops/hack/controlplane"
		echo
		grep -E '^go [0-9.]+$' "$kmod"
		echo
		echo "require ("
		echo "	k8s.io/kubernetes $KUBERNETES_VERSION"
		echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
		echo ")"
		echo
		echo "// k8s.io/kubernetes points its staging modules at ./staging; use the published ones."
		echo "replace ("
		sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/k8s\.io/[a-z0-9-]*$#\t\1 => \1 v0.'"$minor"'#p' "$kmod"
		echo ")"
	} >go.mod
	rm -f go.sum
	go mod tidy
}

if [[ ${1:-} == --regen || ! -f go.mod ]]; then
	regen_gomod
fi

# BUILD_RECIPE in versions.env is bumped when this script changes what it produces.
digest=$(cat versions.env go.mod go.sum cmd/etcd/main.go | sha256sum | cut -c1-12)
key="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_${digest}"
cache=${KIDP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kidp-gitops}/controlplane
dest="$cache/$key"
binaries=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok)
stages=kwok-stages.yaml

complete() {
	local b
	for b in "${binaries[@]}"; do [[ -x "$dest/bin/$b" ]] || return 1; done
	[[ -s "$dest/$stages" ]]
}

if complete; then
	say "cached: $dest/bin"
	echo "$dest/bin"
	exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"

minor=${KUBERNETES_VERSION#v1.}
minor=${minor%%.*}
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

export CGO_ENABLED=0
start=$SECONDS
say "downloading modules"
go mod download
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
	say "building $cmd $KUBERNETES_VERSION (cold builds take many minutes on 2 cores)"
	go build -trimpath -ldflags "$ldflags" -o "$tmp/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd"
	say "  $cmd done after $((SECONDS - start)) s"
done
say "building etcd $ETCD_VERSION"
go build -trimpath -ldflags "-s -w" -o "$tmp/bin/etcd" ./cmd/etcd
say "  etcd done after $((SECONDS - start)) s"
say "building kwok $KWOK_VERSION"
GOBIN="$tmp/bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
say "  kwok done after $((SECONDS - start)) s"

# kwok needs Stage objects that say how fake nodes and pods progress. Use the upstream
# "fast" set that kwokctl uses by default: nodes Ready at once with lease heartbeats,
# pods Running and Ready as soon as they are scheduled, deleted pods removed.
kwok_dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
	pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
	echo "---"
	cat "$kwok_dir/kustomize/stage/$f"
done >"$tmp/$stages"

rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
say "built in $((SECONDS - start)) s: $dest/bin"
echo "$dest/bin"
