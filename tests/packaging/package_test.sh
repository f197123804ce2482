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

DESTDIR="$tmp/root" cmake --install "$build" >/dev/null
for f in usr/bin/tandem usr/lib/systemd/system/tandem.service etc/tandem/tandem.yaml \
         etc/tandem/tandem.env etc/tandem/mapping.yaml etc/tandem/workorders.yaml \
         usr/share/tandem/config/mapping.yaml usr/share/tandem/config/tandem.example.yaml \
         usr/share/doc/tandem/operations.md; do
  [ -e "$tmp/root/$f" ] || fail "cmake --install did not install /$f"
done
[ ! -e "$tmp/root/usr/share/tandem/config/secrets" ] || fail "test secrets were installed"
[ "$(stat -c %a "$tmp/root/etc/tandem/tandem.env")" = 600 ] || fail "tandem.env is not 0600"
grep -q '^ExecStart=/usr/bin/tandem --config /etc/tandem/tandem.yaml .*serve$' \
  "$tmp/root/usr/lib/systemd/system/tandem.service" || fail "the unit does not run serve"
grep -q '^KillSignal=SIGTERM' "$tmp/root/usr/lib/systemd/system/tandem.service" ||
  fail "the unit does not stop with SIGTERM"
if command -v systemd-analyze >/dev/null && [ -d /run/systemd/system ]; then
  systemd-analyze verify "$tmp/root/usr/lib/systemd/system/tandem.service" 2>&1 |
    grep -v "Command /usr/bin/tandem is not executable\|No such file" || true
fi

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
echo "install layout and $(basename "$deb") ($(du -h "$deb" | cut -f1)): OK"
