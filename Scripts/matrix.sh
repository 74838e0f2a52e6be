#!/usr/bin/env bash
# The OpenSSL version matrix (issue 13): the test command (Scripts/test.sh)
# or the benchmarks (Scripts/bench.sh) in a Debian 13 "trixie" root, which
# ships OpenSSL 3.5, while this machine's own OpenSSL (Debian 12: 3.0) is
# what Scripts/test.sh tests directly.
#
#   Scripts/matrix.sh                 build, the whole suite, the interop matrix
#                                     (exactly Scripts/test.sh, inside the root)
#   Scripts/matrix.sh bench [ARGS…]   Scripts/bench.sh ARGS… inside the root
#                                     (e.g. --quick; results stay under .build-matrix/)
#   Scripts/matrix.sh run CMD [ARGS…] any command inside the root, in the project
#   Scripts/matrix.sh shell           an interactive shell inside the root
#   Scripts/matrix.sh clean           removes the cached root and its builds
#
# The root is made once with mmdebstrap (about a minute; the apt-get of
# mmdebstrap itself if it is missing) and kept in .build-matrix/ (ignored by
# git); it is made again when the package list changes, or with
# MATRIX_REFRESH=1 (the old one is kept until the new one is complete). One
# run at a time per checkout (a lock in .build-matrix/). Inside it, the project is at /src, this machine's Swift
# toolchain (/opt/swift) and the Swift package copies (/opt/swift-packages)
# are bind-mounted read-only, /tmp is a fresh tmpfs, the git settings that send GitHub URLs to
# those copies are reproduced in the root's /etc/gitconfig, and builds go to
# .build-matrix/build (bench: .build-matrix/bench), never the host's .build.
# Every mount lives in a private mount namespace and is unmounted on exit
# (trap), whatever happens; the namespace ending takes any that remain.
#
# Needs root (mmdebstrap, chroot and mounts do), Debian's package mirror and
# a Swift toolchain; where one is missing it says which and exits 1.
#
# Environment: MATRIX_SUITE (default trixie), MATRIX_MIRROR (default
# http://deb.debian.org/debian), MATRIX_SECURITY_MIRROR (default
# http://deb.debian.org/debian-security), MATRIX_REFRESH=1, SWIFT_TOOLCHAIN
# (default: the one `swift` on PATH belongs to), SWIFT_PACKAGE_COPIES
# (default /opt/swift-packages, when present). INTEROP_*, CONFORMANCE_TIMEOUT
# and the BENCH_* settings pass through to the scripts inside.
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD
cache=$project/.build-matrix
suite=${MATRIX_SUITE:-trixie}
mirror=${MATRIX_MIRROR:-http://deb.debian.org/debian}
security_mirror=${MATRIX_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
rootfs=$cache/$suite

# What the suite needs (Scripts/bootstrap.sh's list, with ca-certificates for
# the system-store tests), what the interop peers and the benchmarks' C and
# BoringSSL parts need (gcc, g++ with libstdc++'s headers), and what the Swift
# toolchain itself links against or runs (git for SwiftPM, sqlite, ncurses,
# libxml2 for lld, libcurl through curl).
packages=(libssl-dev openssl pkg-config ca-certificates gnutls-bin python3 curl publicsuffix
          gcc g++ git libsqlite3-0 libncurses6 libxml2 procps)

say() { echo "matrix: $*" >&2; }
fail() { say "$*"; exit 1; }

command=${1:-test}
[ $# -gt 0 ] && shift
case "$command" in
    test|bench|run|shell|clean) ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: Scripts/matrix.sh [test | bench [ARGS…] | run CMD [ARGS…] | shell | clean]" >&2; exit 2 ;;
esac
if [ "$command" = run ] && [ $# -eq 0 ]; then
    echo "usage: Scripts/matrix.sh run CMD [ARGS…]" >&2; exit 2
fi

# --- Can it run here? --------------------------------------------------------
[ "$(uname -s)" = Linux ] || fail "needs Linux (a Debian root, chroot and bind mounts); this is $(uname -s)"
[ "$(id -u)" -eq 0 ] || fail "needs root: mmdebstrap, chroot and the bind mounts need it (run it as root, e.g. sudo Scripts/matrix.sh)"
for tool in unshare chroot mount umount findmnt flock; do
    command -v "$tool" >/dev/null 2>&1 || fail "needs $tool (util-linux/coreutils), which is not on PATH"
done

# Nothing may still be mounted under the cache before it is removed.
mounted_under() { findmnt -rn -o TARGET | awk -v p="$1/" 'index($0 "/", p) == 1' | head -n 1; }
remove_tree() {
    local busy
    busy=$(mounted_under "$1")
    [ -z "$busy" ] || fail "$busy is still mounted; unmount it (umount -R) before removing $1"
    rm -rf --one-file-system "$1"
}

if [ "$command" = clean ]; then
    if [ -d "$cache" ]; then remove_tree "$cache"; fi
    say "removed $cache"
    exit 0
fi

if [ -z "${MATRIX_IN_NAMESPACE:-}" ]; then
    mkdir -p "$cache"
    # One run at a time on this cache; the lock (fd 9) lasts as long as the run.
    exec 9>"$cache/lock"
    flock -n 9 || fail "another Scripts/matrix.sh is using ${cache#"$project"/}; wait for it to end"

    # --- The root: make it when missing or out of date ------------------------
    stamp_text="suite=$suite packages=${packages[*]}"
    if [ -n "${MATRIX_REFRESH:-}" ] || [ ! -x "$rootfs/usr/bin/openssl" ] \
        || [ "$(cat "$rootfs.stamp" 2>/dev/null)" != "$stamp_text" ]; then
        if ! command -v mmdebstrap >/dev/null 2>&1; then
            command -v apt-get >/dev/null 2>&1 \
                || fail "needs mmdebstrap (Debian package) to make the $suite root, and there is no apt-get here to install it"
            say "installing mmdebstrap"
            if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap; } >"$cache.apt.log" 2>&1; then
                tail -n 20 "$cache.apt.log" >&2 || true
                fail "could not install mmdebstrap with apt-get (is Debian's mirror reachable?)"
            fi
        fi
        [ ! -d "$rootfs.new" ] || remove_tree "$rootfs.new"
        say "making the Debian $suite root in ${rootfs#"$project"/} (mmdebstrap, $mirror)…"
        started=$(date +%s)
        include=$(IFS=,; echo "${packages[*]}")
        if ! mmdebstrap --mode=root --variant=apt --include="$include" "$suite" "$rootfs.new" \
                "deb $mirror $suite main" "deb $mirror $suite-updates main" \
                "deb $security_mirror $suite-security main" >"$cache/mmdebstrap.log" 2>&1; then
            tail -n 20 "$cache/mmdebstrap.log" >&2
            [ ! -d "$rootfs.new" ] || remove_tree "$rootfs.new"
            fail "mmdebstrap could not make the $suite root (is $mirror reachable? the log: ${cache#"$project"/}/mmdebstrap.log)"
        fi
        rm -f "$rootfs.stamp"
        [ ! -d "$rootfs" ] || remove_tree "$rootfs"
        mv "$rootfs.new" "$rootfs"
        echo "$stamp_text" >"$rootfs.stamp"
        say "root made in $(( $(date +%s) - started ))s"
    fi

    # --- The toolchain and package copies to lend it ---------------------------
    swift_path=$(command -v swift || true)
    toolchain=${SWIFT_TOOLCHAIN:-}
    if [ -z "$toolchain" ] && [ -n "$swift_path" ]; then
        # .../usr/bin/swift -> the folder holding usr/
        toolchain=$(dirname "$(dirname "$(dirname "$(readlink -f "$swift_path")")")")
    fi
    [ -n "$toolchain" ] && [ -x "$toolchain/usr/bin/swift" ] \
        || fail "needs a Swift toolchain (swift on PATH, or SWIFT_TOOLCHAIN=/path holding usr/bin/swift)"

    # Everything below runs in a mount namespace of its own: the mounts are
    # invisible outside and cannot outlive the run, even if it is killed.
    export MATRIX_IN_NAMESPACE=1 MATRIX_TOOLCHAIN=$toolchain
    exec unshare --mount --propagation private -- bash "$0" "$command" "$@"
fi

# --- Inside the private mount namespace -----------------------------------------
toolchain=$MATRIX_TOOLCHAIN
copies=${SWIFT_PACKAGE_COPIES:-/opt/swift-packages}
mounts=()   # mount points, in the order they were made
cleanup() {
    local status=$? index
    for (( index=${#mounts[@]}-1; index>=0; index-- )); do
        umount -R "${mounts[index]}" 2>/dev/null || umount -R -l "${mounts[index]}" 2>/dev/null \
            || say "could not unmount ${mounts[index]}"
    done
    mounts=()
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
attach() {  # attach SOURCE TARGET [ro] — bind SOURCE (recursively) at TARGET in the root
    mkdir -p "$2"
    mount --rbind "$1" "$2"
    mounts+=("$2")
    mount --make-rslave "$2"
    if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}

mount -t proc proc "$rootfs/proc"; mounts+=("$rootfs/proc")
mount -t tmpfs -o mode=1777 tmpfs "$rootfs/tmp"; mounts+=("$rootfs/tmp")
attach /dev "$rootfs/dev"
attach /sys "$rootfs/sys" ro
attach "$toolchain" "$rootfs/opt/swift" ro
if [ -d "$copies" ]; then
    attach "$copies" "$rootfs$copies" ro
fi
attach "$project" "$rootfs/src"

# The git settings that point SwiftPM's GitHub URLs at the local copies (only
# those: nothing else of this machine's git configuration goes in).
{
    echo "# Written by Scripts/matrix.sh: this machine's URL rewrites."
    git config --get-regexp '^url\..*\.insteadof$' 2>/dev/null | while read -r key value; do
        base=${key#url.}; base=${base%.insteadof}
        printf '[url "%s"]\n\tinsteadOf = %s\n' "$base" "$value"
    done
    printf '[safe]\n\tdirectory = *\n'
} >"$rootfs/etc/gitconfig"

environment=(HOME=/root LANG=C.UTF-8 "TERM=${TERM:-dumb}"
             PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
             SWIFT_SCRATCH_PATH=/src/.build-matrix/build
             BENCH_SCRATCH_PATH=/src/.build-matrix/bench BENCH_WORK=/src/.build-matrix/bench-work)
while IFS='=' read -r name _; do
    case "$name" in INTEROP_*|CONFORMANCE_TIMEOUT|BENCH_AA|BENCH_TICKETS|BENCH_GROUPS|BENCH_COPYING_PUMP) environment+=("$name=${!name}") ;; esac
done < <(env)
inside() { chroot "$rootfs" /usr/bin/env -i "${environment[@]}" "$@"; }

echo "matrix: Debian $suite root, $(inside openssl version); $(inside /opt/swift/usr/bin/swift --version 2>/dev/null | head -n 1)"
case "$command" in
    test)  inside bash -c 'cd /src && exec Scripts/test.sh "$@"' test.sh "$@" ;;
    bench) inside bash -c 'cd /src && exec Scripts/bench.sh "$@"' bench.sh "$@" ;;
    run)   inside bash -c 'cd /src && exec "$@"' run "$@" ;;
    shell) inside bash -c 'cd /src && exec bash -i' ;;
esac
