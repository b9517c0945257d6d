#!/usr/bin/env bash
# Installs code-server (VS Code in a browser, from the npm registry) under /opt/aios-code-server for the
# evaluation tasks that use VS Code. Nothing is fetched from outside the registries: the native modules are
# built here, and the ripgrep binary VS Code's search downloads from GitHub is Debian's. Safe to run again.
set -euo pipefail

version="4.100.3"      # the newest code-server that runs on Node.js 20
ripgrep_module="1.15.11"  # the @vscode/ripgrep its VS Code pins
prefix="/opt/aios-code-server"
server="$prefix/lib/node_modules/code-server"

if [ -x "$prefix/bin/code-server" ] && "$prefix/bin/code-server" --version 2>/dev/null | grep -q "^$version " \
    && grep -q '"nameLong": "Visual Studio Code"' "$server/lib/vscode/product.json"; then
    exit 0
fi
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 20 ]; then
    echo "install_code_server.sh: code-server $version needs Node.js 20 or newer (found ${node_major}); VS Code tasks stay unsupported" >&2
    exit 0
fi
rm -rf "$prefix"
npm install --global --prefix "$prefix" --ignore-scripts --no-audit --no-fund "code-server@$version" >/dev/null
# @vscode/ripgrep's install step reads this cache before it tries GitHub
cache="$(node -p 'require("os").tmpdir()')/vscode-ripgrep-cache-$ripgrep_module"
mkdir -p "$cache/bin"
cp "$(command -v rg)" "$cache/bin/rg"
tar -czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$cache/bin" rg
# its install step refuses to run as root without unsafe-perm, and node-pty's asks npx to confirm node-gyp
(cd "$server" && npm_config_unsafe_perm=true npm_config_yes=true npm_config_user_agent="npm/10" \
    sh ./postinstall.sh >/dev/null)
(cd "$server" && npm rebuild argon2 >/dev/null)
# windows titled "<file> - <folder> - Visual Studio Code", as the tasks' activate_window steps expect
node -e '
const fs = require("fs"), path = process.argv[1];
const product = JSON.parse(fs.readFileSync(path, "utf8"));
product.nameShort = product.nameLong = "Visual Studio Code";
fs.writeFileSync(path, JSON.stringify(product, null, 2));
' "$server/lib/vscode/product.json"
"$prefix/bin/code-server" --version >/dev/null
