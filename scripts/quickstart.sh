#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu checkout to a computation on a real local cluster:
# installs the system packages (Open MPI, a C++ toolchain, CMake), the npm dependencies
# (which builds the MPI addon and compiles the TypeScript), then runs the example under mpirun.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs=(openmpi-bin libopenmpi-dev cmake g++ make python3 procps iproute2 openssl)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs npm)
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "dask-mpi-ts needs Node.js 20 or newer; this machine has $(node --version). Install a newer Node.js and run this again." >&2
  exit 1
fi
npm install
npm run example
