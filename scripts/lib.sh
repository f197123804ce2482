# Shared by scripts/demo, scripts/test and scripts/bench: install what is missing, build.
# Sourced, not run.

# Debian 12 packages the build and the tests need. Installing is skipped when all are there,
# so a re-run costs a dpkg-query (well under a second).
TANDEM_PACKAGES=(
  build-essential cmake pkg-config ccache file
  libcpprest-dev libboost-program-options-dev libspdlog-dev libyaml-cpp-dev
  libsoci-dev libsqlite3-dev libpq-dev
  libgtest-dev libgmock-dev nlohmann-json3-dev
)

log() { echo "[$(basename "$0")] $*" >&2; }

ensure_packages() {
  local missing
  missing=$(dpkg-query -W -f='${db:Status-Status} ${Package}\n' "$@" 2>&1 | grep -v '^installed ' || true)
  [ -z "$missing" ] && return 0
  log "installing: $(echo "$missing" | awk '{print $NF}' | tr '\n' ' ')"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# configure_and_build BUILD_DIR [cmake args...]: one build folder, incremental, ccache'd.
configure_and_build() {
  local dir=$1
  shift
  # ccache hits across clones in different folders need these two (-g puts the cwd in the hash).
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
  # Configured on every run (a second or two): a tool installed since the last run (node,
  # clang) is found then, never left NOTFOUND in the cache.
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  log "building in $dir"
  cmake --build "$dir" -j"$(nproc)"
}

# count_tests BUILD_DIR LABEL [ctest args...]: how many tests ctest lists under LABEL.
count_tests() {
  local dir=$1 label=$2
  shift 2
  ctest --test-dir "$dir" -N -L "^${label}\$" "$@" 2>/dev/null | sed -n 's/^Total Tests: //p' || true
}

# print_test_groups BUILD_DIR PASS LABEL... [-- ctest args...]: one line per group with its
# count; fails when a group has none (a group that vanished is a failure, not a quiet skip).
print_test_groups() {
  local dir=$1 pass=$2
  shift 2
  local labels=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do labels+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift
  local line="" n empty=0
  for label in "${labels[@]}"; do
    n=$(count_tests "$dir" "$label" "$@")
    line+=" $label=${n:-0}"
    [ "${n:-0}" -gt 0 ] || empty=1
  done
  log "tests registered in $dir ($pass):$line"
  # With a filter of the caller's (./scripts/test -R Store) empty groups are expected.
  if [ "$empty" = 1 ] && [ "${TANDEM_TEST_FILTERED:-0}" = 0 ]; then
    log "a test group has no tests: a tool or a build step is missing"
    return 1
  fi
}
