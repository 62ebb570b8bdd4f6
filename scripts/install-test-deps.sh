#!/usr/bin/env bash
# Installs what the test suite drives for real: Mono with NuGet 2.8.7 (Debian) and nuget.exe 3.4.4, 4.7.1,
# 4.9.2 and 5.8.0 (npm registry), and the clr_loader wheel whose DLL and portable PDB the symbol tests
# use (PyPI), into .test-deps/. Idempotent: re-running skips what is present.
set -euo pipefail
cd "$(dirname "$0")/.."
deps="$PWD/.test-deps"
mkdir -p "$deps"

if ! command -v mono >/dev/null 2>&1 || [ ! -x /usr/bin/nuget ]; then
  echo "==> installing Mono and NuGet 2.8.7 (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nuget libmono-system-net-http4.0-cil \
    libmono-system-net-http-webrequest4.0-cil libmono-system-io-compression4.0-cil ca-certificates-mono >/dev/null
fi

if [ ! -f "$deps/node_modules/nuget-exe/nuget-5.8.0.exe" ] || [ ! -f "$deps/node_modules/nuget/bin/nuget.exe" ] \
   || [ ! -f "$deps/node_modules/nuget-exe-492/nuget-4.9.2.exe" ]; then
  echo "==> installing nuget.exe 3.4.4, 4.9.2, 5.8.0 (npm)"
  (cd "$deps" && [ -f package.json ] || echo '{"private":true}' > "$deps/package.json")
  npm install --prefix "$deps" --no-audit --no-fund --ignore-scripts --loglevel=error \
    nuget-exe@5.8.0 nuget-exe-492@npm:nuget-exe@4.9.2 nuget@2.0.2 >/dev/null
fi

if [ ! -f "$deps/node_modules/axe-core/axe.min.js" ]; then
  echo "==> installing axe-core (npm), the accessibility checker the browser tests inject into pages"
  (cd "$deps" && [ -f package.json ] || echo '{"private":true}' > "$deps/package.json")
  npm install --prefix "$deps" --no-audit --no-fund --ignore-scripts --loglevel=error axe-core@4.10 >/dev/null
fi

if [ ! -f "$deps/nuget-471/nuget.exe" ]; then
  echo "==> installing nuget.exe 4.7.1 (npm pack grunt-nuget, without its dependencies)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent grunt-nuget@0.3.1 >/dev/null && tar xzf grunt-nuget-0.3.1.tgz)
  mkdir -p "$deps/nuget-471"
  cp "$tmp/package/libs/nuget.exe" "$deps/nuget-471/nuget.exe"
  rm -rf "$tmp"
fi
# A real portable PDB and the DLL built with it (MIT-licensed, from PyPI): the symbol tests' fixtures.
if [ ! -f "$deps/clr_loader/clr_loader/ffi/dlls/amd64/ClrLoader.pdb" ]; then
  echo "==> fetching clr_loader 0.3.1 (pip download), for its ClrLoader.dll and .pdb"
  tmp=$(mktemp -d)
  pip download --quiet --no-deps --dest "$tmp" clr_loader==0.3.1
  rm -rf "$deps/clr_loader"
  mkdir -p "$deps/clr_loader"
  python3 -m zipfile -e "$tmp"/clr_loader-0.3.1-*.whl "$deps/clr_loader"
  rm -rf "$tmp"
fi
echo "==> test clients ready in $deps"

# aiosmtpd: the real SMTP server the mail tests deliver to.
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  echo "==> installing aiosmtpd (pip)"
  pip install --quiet aiosmtpd || pip install --quiet --break-system-packages aiosmtpd
fi

# Chromium and ChromeDriver (Debian): the real browser the web tests drive.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "==> installing chromium and chromium-driver (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
fi
