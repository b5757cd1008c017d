#!/usr/bin/env bash
# Reproduce the test-only browser files vendored under tests/vendor/ from pinned npm packages.
#
#   tests/vendor/fetch.sh          fetch the pinned packages, copy the files, rewrite VERSIONS
#   tests/vendor/fetch.sh --check  verify the files on disk against VERSIONS (no network)
#
# axe-core checks every page of the browser tests for WCAG 2.1 A/AA violations
# (tests/helpers/axe.py). It is vendored, as maps/ vendors Leaflet, so the browser
# tests run offline and always with the same rules; it is never served by Tocsin.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# package@version  file inside the npm tarball  destination under tests/vendor/
files=(
    "axe-core@4.14.1 package/axe.min.js axe/axe.min.js"
    "axe-core@4.14.1 package/LICENSE axe/LICENSE"
)

check() {
    cd "$here"
    grep -v '^#' VERSIONS | awk 'NF == 3 { print $2 "  " $3 }' | sha256sum --check --strict --quiet
    echo "all vendored test files match VERSIONS"
}

fetch() {
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    local packages
    packages="$(printf '%s\n' "${files[@]}" | awk '{ print $1 }' | sort -u)"
    for package in $packages; do
        mkdir -p "$tmp/$package"
        (cd "$tmp/$package" && npm pack --silent "$package" >/dev/null && tar -xzf ./*.tgz)
    done
    rm -rf "$here/axe"
    {
        echo "# Vendored test-only files. Written by tests/vendor/fetch.sh; do not edit by hand."
        echo "# package@version  sha256  path under tests/vendor/"
        for entry in "${files[@]}"; do
            read -r package source destination <<<"$entry"
            install -D -m 0644 "$tmp/$package/$source" "$here/$destination"
            echo "$package  $(sha256sum "$here/$destination" | cut -d' ' -f1)  $destination"
        done
    } >"$tmp/VERSIONS"
    mv "$tmp/VERSIONS" "$here/VERSIONS"
    check
}

case "${1:-}" in
    --check) check ;;
    "") fetch ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
