#!/usr/bin/env bash
# Refresh the vendored Leaflet from the npm registry: web/vendor/fetch-leaflet.sh 1.9.4
# The pages load it from the node itself, so a command center works with no internet access.
set -euo pipefail
version="${1:?usage: fetch-leaflet.sh VERSION}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "leaflet@$version" >/dev/null && tar xzf "leaflet-$version.tgz")
integrity="$(cd "$work" && npm view "leaflet@$version" dist.integrity)"
dest="$here/leaflet"
rm -rf "$dest" && mkdir -p "$dest/images"
cp "$work/package/dist/leaflet.css" "$work/package/dist/leaflet-src.esm.js" "$dest/"
cp "$work/package/dist/images/"*.png "$dest/images/"
cp "$work/package/LICENSE" "$dest/LICENSE"
# The source map is not shipped; drop the reference so browsers do not ask for it.
sed -i '/sourceMappingURL/d' "$dest/leaflet-src.esm.js"
cat > "$dest/SOURCE" <<SRC
leaflet $version from the npm registry (BSD-2-Clause, see LICENSE)
tarball: https://registry.npmjs.org/leaflet/-/leaflet-$version.tgz
integrity: $integrity
files: dist/leaflet.css, dist/leaflet-src.esm.js (its sourceMappingURL line removed), dist/images/*.png, LICENSE
refresh: web/vendor/fetch-leaflet.sh VERSION
SRC
echo "leaflet $version -> $dest"
