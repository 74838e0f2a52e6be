#!/usr/bin/env bash
# Installs what swift-openssl needs from Debian when it is missing:
# libssl-dev (headers + libssl/libcrypto), openssl (the command the tests
# compare against and an interop peer), pkg-config (SwiftPM finds OpenSSL
# through it), gnutls-bin (gnutls-serv/gnutls-cli, interop peers), curl
# (a client of `ossl serve --http` in the tests), python3 (its ssl module is
# an interop peer; any python3 on PATH will do) and publicsuffix (the Public
# Suffix List the Web-PKI verification policy reads).
# Idempotent: quiet when everything is present.
#
# --with-tshark (or WITH_TSHARK=1) also installs tshark, for
# Scripts/keylog-decrypt.sh, non-interactively and without a setuid dumpcap
# (only root captures then).
set -euo pipefail

packages=(libssl-dev openssl pkg-config gnutls-bin curl publicsuffix)
with_tshark=${WITH_TSHARK:-0}
for argument in "$@"; do
    case "$argument" in
        --with-tshark) with_tshark=1 ;;
        *) echo "bootstrap: unknown option $argument (known: --with-tshark)" >&2; exit 2 ;;
    esac
done
[ "$with_tshark" = 1 ] && packages+=(tshark)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if ! command -v python3 >/dev/null 2>&1 && ! [ -x /usr/bin/python3 ]; then
    missing+=(python3)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: missing ${missing[*]}, and there is no apt-get here; install them with your package manager" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "bootstrap: missing ${missing[*]}; run as root (or with sudo): apt-get install ${missing[*]}" >&2
        exit 1
    fi
else
    SUDO=
fi

echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if [ "$with_tshark" = 1 ]; then
    # Answer wireshark-common's question ahead: no setuid dumpcap.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
