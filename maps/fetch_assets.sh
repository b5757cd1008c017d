#!/usr/bin/env bash
# Reproduce the browser assets vendored under maps/static/vendor/ from pinned npm packages.
#
#   maps/fetch_assets.sh          fetch the pinned packages, copy the files we serve, rewrite VERSIONS
#   maps/fetch_assets.sh --check  verify the files on disk against VERSIONS (no network)
#
# Why vendored: Tocsin consoles must work during an incident with no internet access, so no page
# may load anything from a CDN. Only the files listed below are kept; node_modules never enters
# the repo. npm itself checks each tarball against the registry's integrity hash; VERSIONS records
# the sha256 of every file we ship so a review (or --check) sees any change.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vendor="$here/static/vendor"

# package@version  file inside the npm tarball  destination under vendor/
# Destination folders have no dots or dashes: setuptools skips such folders when it builds a wheel.
files=(
    "leaflet@1.9.4 package/dist/leaflet.js leaflet/leaflet.js"
    "leaflet@1.9.4 package/dist/leaflet.css leaflet/leaflet.css"
    "leaflet@1.9.4 package/dist/images/layers.png leaflet/images/layers.png"
    "leaflet@1.9.4 package/dist/images/layers-2x.png leaflet/images/layers-2x.png"
    "leaflet@1.9.4 package/dist/images/marker-icon.png leaflet/images/marker-icon.png"
    "leaflet@1.9.4 package/dist/images/marker-icon-2x.png leaflet/images/marker-icon-2x.png"
    "leaflet@1.9.4 package/dist/images/marker-shadow.png leaflet/images/marker-shadow.png"
    "leaflet@1.9.4 package/LICENSE leaflet/LICENSE"
    "leaflet.markercluster@1.5.3 package/dist/leaflet.markercluster.js markercluster/leaflet.markercluster.js"
    "leaflet.markercluster@1.5.3 package/dist/MarkerCluster.css markercluster/MarkerCluster.css"
    "leaflet.markercluster@1.5.3 package/dist/MarkerCluster.Default.css markercluster/MarkerCluster.Default.css"
    "leaflet.markercluster@1.5.3 package/MIT-LICENCE.txt markercluster/MIT-LICENCE.txt"
    "socket.io-client@4.8.4 package/dist/socket.io.min.js socketio/socket.io.min.js"
    "socket.io-client@4.8.4 package/LICENSE socketio/LICENSE"
)

check() {
    cd "$vendor"
    # VERSIONS lines: package@version  sha256  path
    grep -v '^#' VERSIONS | awk 'NF == 3 { print $2 "  " $3 }' | sha256sum --check --strict --quiet
    echo "all vendored assets match VERSIONS"
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

    rm -rf "$vendor/leaflet" "$vendor/markercluster" "$vendor/socketio"
    {
        echo "# Vendored browser assets. Written by maps/fetch_assets.sh; do not edit by hand."
        echo "# package@version  sha256  path under maps/static/vendor/"
        for entry in "${files[@]}"; do
            read -r package source destination <<<"$entry"
            install -D -m 0644 "$tmp/$package/$source" "$vendor/$destination"
            echo "$package  $(sha256sum "$vendor/$destination" | cut -d' ' -f1)  $destination"
        done
    } >"$tmp/VERSIONS"
    mv "$tmp/VERSIONS" "$vendor/VERSIONS"
    check
}

case "${1:-}" in
    --check) check ;;
    "") fetch ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
