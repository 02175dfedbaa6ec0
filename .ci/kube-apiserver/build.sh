#!/usr/bin/env bash
# Builds the kube-apiserver our end-to-end tests run: the same Kubernetes v1.20.2 as
# shared/tools/kube-apiserver/build.sh (Debian's source package, Debian's Go 1.19, offline), with
# two fixes that make custom resources writable under Go 1.18+:
#   1. vendored github.com/modern-go/reflect2 v1.0.1 crashes (SIGSEGV) on every custom-resource
#      write under Go 1.18+; replaced by Debian's v1.0.2, with the json-iterator that goes with it;
#   2. vendored go-openapi validation treats "" and 0 as null under Go 1.18+ (reflect.Zero of a
#      string now shares the runtime's zero value), so `""` in an array of a custom resource was
#      refused; the check is narrowed to a real nil, which is what it meant with older Go.
# Idempotent: when the binary is there it only prints its path. start.sh and stop.sh beside this
# file are the shared ones; through this directory they run this build instead of theirs.
#
#   build.sh          -> prints the path of kube-apiserver
#   KAPI_HOME=DIR     where it lives (default: $HOME/.cache/scopegate-kapi-patched)
set -euo pipefail
home=${KAPI_HOME:-${HOME:-/root}/.cache/scopegate-kapi-patched}
bin=$home/bin/kube-apiserver
say() { echo "kube-apiserver (patched) build: $*" >&2; }

pkgs=(golang-1.19-go golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev
      etcd-server etcd-client rsync make openssl curl python3)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  mkdir -p "$home"
  say "installing ${missing[*]}"
  apt-get update -qq >>"$home/build.log" 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$home/build.log" 2>&1
fi
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$home"
log=$home/build.log

# The source package, through a private deb-src list derived from the configured sources.
apt_dir=$home/apt
mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial"
rm -f "$apt_dir/parts/"*
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" > "$apt_dir/parts/$(basename "$f")"
done
if [ -f /etc/apt/sources.list ]; then
  grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$apt_dir/parts/from-sources-list.list" || true
fi
aptopts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/parts" -o "Dir::State::Lists=$apt_dir/lists")
src=$home/src
mkdir -p "$src"
if ! ls "$src"/kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
  say "fetching the kubernetes source package"
  apt-get "${aptopts[@]}" update -qq >>"$log" 2>&1
  (cd "$src" && apt-get "${aptopts[@]}" source --download-only kubernetes >>"$log" 2>&1)
fi
tarball=$(ls "$src"/kubernetes_*.orig.tar.gz | head -n 1)
rm -rf "$src/tree" && mkdir -p "$src/tree"
tar xzf "$tarball" -C "$src/tree"
tree=$(ls -d "$src"/tree/kubernetes-*/ | head -n 1)
version=$(basename "$tree" | sed 's/^kubernetes-//')

say "patching the vendored reflect2, json-iterator and openapi validation"
gocode=/usr/share/gocode/src/github.com
replace_vendored() { # vendored-dir debian-dir
  rm -f "$1"/*.go "$1"/*.s
  for f in "$2"/*.go "$2"/*.s; do
    [ -f "$f" ] || continue
    case "$f" in *_test.go) ;; *) cp "$f" "$1/" ;; esac
  done
}
replace_vendored "$tree/vendor/github.com/modern-go/reflect2" "$gocode/modern-go/reflect2"
replace_vendored "$tree/vendor/github.com/json-iterator/go" "$gocode/json-iterator/go"
zero_check='if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {'
for f in "$tree/vendor/github.com/go-openapi/validate/type.go" \
         "$tree/vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go"; do
  [ -f "$f" ] || continue
  grep -qF "$zero_check" "$f" || { say "unexpected source in $f: the null check to narrow is not there"; exit 1; }
  sed -i "s/$(printf '%s' "$zero_check" | sed 's/[][\.*^$/]/\\&/g')/if data == nil {/" "$f"
done

cat > "$home/version.env" <<V
KUBE_GIT_TREE_STATE='archive'
KUBE_GIT_VERSION='v$version'
KUBE_GIT_MAJOR='${version%%.*}'
KUBE_GIT_MINOR='$(echo "$version" | cut -d. -f2)'
V
say "building kube-apiserver v$version (about 5 minutes; log: $log)"
(
  cd "$tree"
  export PATH=/usr/lib/go-1.19/bin:$PATH GOPROXY=off GOTOOLCHAIN=local GOFLAGS= CGO_ENABLED=0 \
         GOCACHE=$home/gocache HOME=$home/gohome KUBE_GIT_VERSION_FILE=$home/version.env
  mkdir -p "$HOME"
  make WHAT=cmd/kube-apiserver >>"$log" 2>&1
) || { say "build failed; the end of $log:"; tail -n 30 "$log" >&2; exit 1; }
install -D "$tree/_output/bin/kube-apiserver" "$bin"
rm -rf "$src/tree" "$home/gocache" "$home/gohome"
"$bin" --version >&2
echo "$bin"
