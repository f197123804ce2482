#!/usr/bin/env bash
# The install and the .deb: `cmake --install` lays out the binary, the systemd unit, the
# /etc/tandem files and the docs; the installed config passes `config check`; cpack builds a
# .deb with the same files, the /etc files as conffiles, the postinst and library dependencies.
#   package_test.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Every tool this test runs, named when missing (scripts/test installs them).
for tool in cmake cpack dpkg-deb systemd-analyze; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install cmake dpkg systemd)"
done

DESTDIR="$tmp/root" cmake --install "$build" >/dev/null
for f in usr/bin/tandem usr/lib/systemd/system/tandem.service etc/tandem/tandem.yaml \
         etc/tandem/tandem.env etc/tandem/mapping.yaml etc/tandem/workorders.yaml \
         usr/share/tandem/config/mapping.yaml usr/share/tandem/config/tandem.example.yaml \
         usr/share/doc/tandem/operations.md; do
  [ -e "$tmp/root/$f" ] || fail "cmake --install did not install /$f"
done
[ ! -e "$tmp/root/usr/share/tandem/config/secrets" ] || fail "test secrets were installed"
[ "$(stat -c %a "$tmp/root/etc/tandem/tandem.env")" = 640 ] || fail "tandem.env is not 0640"
grep -q "mode 0640, root:tandem" "$tmp/root/etc/tandem/tandem.env" ||
  fail "tandem.env's comment does not state its mode"
grep -q "chmod 0640 /etc/tandem/tandem.env" "$(dirname "$0")/../../packaging/postinst" ||
  fail "the postinst does not set tandem.env to 0640"
grep -q '^ExecStart=/usr/bin/tandem --config /etc/tandem/tandem.yaml .*serve$' \
  "$tmp/root/usr/lib/systemd/system/tandem.service" || fail "the unit does not run serve"
grep -q '^KillSignal=SIGTERM' "$tmp/root/usr/lib/systemd/system/tandem.service" ||
  fail "the unit does not stop with SIGTERM"
# systemd-analyze needs no running systemd; the unit's binary is not at /usr/bin here.
problems=$(systemd-analyze verify "$tmp/root/usr/lib/systemd/system/tandem.service" 2>&1 |
  grep -v "Command /usr/bin/tandem is not executable" || true)
[ -z "$problems" ] || fail "systemd-analyze verify: $problems"

# The installed binary runs; the example /etc config is valid once its secrets are set.
"$tmp/root/usr/bin/tandem" --version | grep -q '^tandem ' || fail "tandem --version"
(cd "$tmp/root/etc/tandem" &&
  TANDEM_API_TOKEN=t STRIPE_API_KEY=sk_test_x STRIPE_WEBHOOK_SECRET=whsec_x \
  SALESFORCE_CLIENT_SECRET=s "$tmp/root/usr/bin/tandem" --config tandem.yaml config check) ||
  fail "the installed /etc/tandem/tandem.yaml does not pass config check"
# Without its secrets, config check refuses it and names what is missing.
if out=$(env -u STRIPE_API_KEY "$tmp/root/usr/bin/tandem" \
           --config "$tmp/root/etc/tandem/tandem.yaml" config check 2>&1); then
  fail "config check passed without secrets"
fi
echo "$out" | grep -q "STRIPE_API_KEY\|TANDEM_API_TOKEN" || fail "config check did not name the secret: $out"

# The .deb.
(cd "$tmp" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/pkg" >/dev/null) ||
  fail "cpack -G DEB"
deb=$(ls "$tmp"/pkg/*.deb)
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/tandem ./usr/lib/systemd/system/tandem.service ./etc/tandem/tandem.yaml \
         ./etc/tandem/mapping.yaml ./usr/share/doc/tandem/operations.md; do
  echo "$contents" | grep -q " $f\$" || fail "the .deb lacks $f"
done
dpkg-deb -I "$deb" conffiles | grep -q '^/etc/tandem/tandem.yaml$' || fail "tandem.yaml is no conffile"
dpkg-deb -I "$deb" postinst | grep -q adduser || fail "the .deb has no postinst"
dpkg-deb -f "$deb" Depends | grep -q 'libcpprest' || fail "Depends lacks cpprest: $(dpkg-deb -f "$deb" Depends)"
# The postinst makes the state folder before the user whose home it is (adduser warns otherwise).
postinst=$(dpkg-deb -I "$deb" postinst)
[ "$(echo "$postinst" | grep -n 'install -d -m 0750 /var/lib/tandem' | cut -d: -f1)" -lt \
  "$(echo "$postinst" | grep -n 'adduser --system' | cut -d: -f1)" ] ||
  fail "the postinst creates the tandem user before its home folder"

# The unpacked .deb in a scratch root: the installed binary finds its shipped files
# (PREFIX/share/tandem) and runs the demo from any folder, as a user of the package would.
dpkg-deb -x "$deb" "$tmp/deb-root"
mkdir -p "$tmp/elsewhere"
if ! (cd "$tmp/elsewhere" && "$tmp/deb-root/usr/bin/tandem" demo --workdir "$tmp/elsewhere/demo" \
        >"$tmp/demo.out" 2>&1); then
  tail -30 "$tmp/demo.out" >&2
  fail "tandem demo from the installed package"
fi
grep -q "every step passed" "$tmp/demo.out" || fail "the installed demo did not pass every step"
(cd "$tmp/elsewhere" && "$tmp/deb-root/usr/bin/tandem" mapping check >/dev/null) ||
  fail "mapping check with the shipped mapping, from the installed package"
echo "install layout, $(basename "$deb") ($(du -h "$deb" | cut -f1)) and its demo: OK"
