#!/usr/bin/env bash
# Refresh the vendored tus-js-client from the npm registry: web/vendor/fetch-tus-js-client.sh 4.3.1
# The officer page loads it from the node itself, so uploads need nothing but the node.
set -euo pipefail
version="${1:?usage: fetch-tus-js-client.sh VERSION}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "tus-js-client@$version" >/dev/null && tar xzf "tus-js-client-$version.tgz")
integrity="$(cd "$work" && npm view "tus-js-client@$version" dist.integrity)"
dest="$here/tus-js-client"
rm -rf "$dest" && mkdir -p "$dest"
# dist/tus.js is the browser bundle (UMD): loaded from an ES module it sets window.tus.
cp "$work/package/dist/tus.js" "$dest/tus.js"
cp "$work/package/LICENSE" "$dest/LICENSE"
# The source map is not shipped; drop the reference so browsers do not ask for it.
sed -i '/sourceMappingURL/d' "$dest/tus.js"
cat > "$dest/SOURCE" <<SRC
tus-js-client $version from the npm registry (MIT, see LICENSE)
tarball: https://registry.npmjs.org/tus-js-client/-/tus-js-client-$version.tgz
integrity: $integrity
files: dist/tus.js (its sourceMappingURL line removed), LICENSE
sha256 of tus.js as shipped: $(sha256sum "$dest/tus.js" | cut -d' ' -f1)
refresh: web/vendor/fetch-tus-js-client.sh VERSION
SRC
echo "tus-js-client $version -> $dest"
