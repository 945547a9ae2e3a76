#!/usr/bin/env bash
# Fetch (here, where the package registry is reachable) the wheels the device image lacks, for its
# Python 3.12 on x86-64, into .whl/ (git-ignored); carry .whl in the device run that calls gpu-check.sh.
set -eu
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
for pkg in neuraloperator==2.0.0 tensorly tensorly-torch pyamg meshio scikit-fem gmsh; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    --platform any -d .whl "$pkg" || echo "could not fetch $pkg"
done
du -sh .whl
