#!/usr/bin/env bash
# The Debian package, installed into a scratch root: builds it with cpack from BUILD_DIR, unpacks
# it (dpkg -x), checks its contents and dependencies, then runs the installed suanli with the
# source and build trees hidden (a private mount namespace with an empty tmpfs over them, where
# unshare is allowed): `suanli info`, a short suite from the installed suites, the man pages,
# pkg-config for plugin authors, and the Python reader on the report it wrote.
#   scripts/test_deb.sh BUILD_DIR [SUITE_ARGS...]   (default: --suite quick --dtype fp32 with
#   short samples, ~5 s; the full quick suite: scripts/test_deb.sh build --suite quick)
set -euo pipefail
build=$(cd "${1:?usage: test_deb.sh BUILD_DIR [run args]}" && pwd)
shift
suite_args=("$@")
[ ${#suite_args[@]} -gt 0 ] || suite_args=(--suite quick --dtype fp32 --min-time 0.002 --max-time 0.05)
src=$(cd "$(dirname "$0")/.." && pwd)
python=/usr/bin/python3
[ -x $python ] || python=$(command -v python3)
tmp=$(mktemp -d /tmp/suanli-deb-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_deb: FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; fail "cpack"; }
deb=$(ls "$tmp"/pkg/suanli_*.deb)
echo "package: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libopenblas libdnnl libsodium libgomp python3; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib"
done
dpkg -x "$deb" "$tmp/root"
root=$tmp/root/usr
for f in bin/suanli lib/suanli/backends/libsuanli_backend_cpu.so include/suanli/backend.h \
         lib/cmake/suanli/suanliConfig.cmake share/pkgconfig/suanli-backend.pc \
         share/suanli/schema/report.schema.json share/suanli/suites/quick.json \
         share/man/man1/suanli.1 share/man/man1/suanli-run.1 share/man/man1/suanli-export.1 \
         share/bash-completion/completions/suanli share/doc/suanli/LICENSE \
         share/doc/suanli/examples/report-cpu-quick.json lib/python3/dist-packages/suanli/__init__.py; do
  [ -e "$root/$f" ] || fail "package lacks /usr/$f"
done
grep -q "ENVIRONMENT" "$root/share/man/man1/suanli-run.1" || fail "suanli-run.1 has no ENVIRONMENT"
bash -n "$root/share/bash-completion/completions/suanli" || fail "completion script"

# Everything below runs from the scratch root only.
cat >"$tmp/installed.sh" <<SH
set -euo pipefail
export PATH=$root/bin:/usr/bin:/bin HOME=$tmp
unset SUANLI_BACKEND_PATH
cd $tmp
suanli --version
suanli info --json >info.json
suanli info | tee info.txt
! grep -q duplicate info.txt || { echo "duplicate backend notes"; exit 1; }
$python - <<PY
import json, os
j = json.load(open("info.json"))
paths = [os.path.normpath(b["path"]) for b in j["backends"]]
assert any(p.startswith("$root/lib/suanli/backends/") for p in paths), paths
assert not any("$build" in d for d in j["search_path"]), j["search_path"]
# A plugin whose device is absent (the CUDA plugin on a machine without a GPU) is a load issue
# that says so; anything else (a missing symbol, a broken library) fails the test.
issues = [i for i in j["load_issues"] if "(no device)" not in i["reason"]]
assert not issues, issues
PY
suanli run ${suite_args[*]} --backend cpu -o run.json --wide
suanli export run.json --format csv -o run.csv
PKG_CONFIG_PATH=$root/share/pkgconfig pkg-config --cflags suanli-backend | grep -q -- "-I$root/share/pkgconfig/../../include"
PYTHONPATH=$root/lib/python3/dist-packages $python -m suanli validate run.json
SH
if unshare -m --propagation private true 2>/dev/null; then
  echo "hiding $src and $build (tmpfs over them in a private mount namespace)"
  unshare -m --propagation private bash -c "mount -t tmpfs none '$src' && { [ -d '$build' ] && mount -t tmpfs none '$build' 2>/dev/null || true; } && ! [ -e '$src/CMakeLists.txt' ] && bash '$tmp/installed.sh'"
else
  echo "note: no mount namespace here; the build tree stays visible (the search path is checked)"
  bash "$tmp/installed.sh"
fi
echo "test_deb: ok"
