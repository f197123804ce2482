# Shared by scripts/demo, scripts/test and scripts/bench: install what is missing, build.
# Sourced, not run.

# Debian 12 packages the build and the tests need. Installing is skipped when all are there,
# so a re-run costs a dpkg-query (well under a second).
TANDEM_PACKAGES=(
  build-essential cmake pkg-config ccache file
  libcpprest-dev libboost-program-options-dev libspdlog-dev libyaml-cpp-dev
  libsoci-dev libsqlite3-dev libpq-dev
  libgtest-dev libgmock-dev
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
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  fi
  log "building in $dir"
  cmake --build "$dir" -j"$(nproc)"
}
