#!/usr/bin/env bash
# The prepared GPU check, for a session that is lent a device machine (see the device tool's README).
# Run it there from the repository root:  bash scripts/gpu-check.sh   (about 10 minutes on one H200, unmeasured)
#   1. the CUDA tests (every test that skips without a GPU runs there)
#   2. paper-scale code paths at smoke size with --device cuda (experiments, solve, train/predict)
#   3. the benchmark suites that take a device
# Results and logs go to $OUT (the device tool brings that folder back), else to gpu-check-out/.
#
# The device image has torch, scipy, h5py, torch-geometric, matplotlib, tqdm, pyyaml, but not
# neuraloperator, tensorly, tensorly-torch, pyamg, meshio, scikit-fem or gmsh: fetch those wheels here
# first with scripts/gpu-wheels.sh (into .whl/, git-ignored) and carry .whl in the run call.
set -u -o pipefail
OUT=${OUT:-gpu-check-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD || { echo "wheel install failed"; exit 1; }
else
  export PYTHONPATH=$PWD
fi
python3 - <<'PY' 2>&1 | tee "$OUT/device.txt"
import torch, sciml
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
status=0
# 1. CUDA tests: the ones that skip on CPU machines
timeout 240 python3 -m pytest -q -p no:cacheprovider -k "cuda or gpu or device" tests > "$OUT/cuda-tests.txt" 2>&1 \
  || { echo "CUDA tests: FAILED"; status=1; }
tail -5 "$OUT/cuda-tests.txt"
# 2. the CUDA paths of the experiments and of sciml solve / predict
for e in fno-darcy fno-ns-2d neural-pcg-diffusion2d dcdm-poisson lpinn-convection sdgd wos-no-poisson2d teng-heat teng-burgers mppde-e1 mppde-wave cgs-porous-flow gnn-bvp-shapes hc-diffusion-sorption hc-navier-stokes; do
  timeout 120 python3 -m sciml --quiet reproduce "$e" --scale smoke --device cuda --out "/tmp/gpu-$e" --force \
    > "$OUT/reproduce-$e.log" 2>&1 && echo "reproduce $e: ok" || { echo "reproduce $e: FAILED"; status=1; }
done
python3 - <<'PY' 2>&1 | tee "$OUT/solve-cuda.txt"
import scipy.sparse as sp, subprocess, sys
from sciml.gallery import poisson2d
failed = False
sp.save_npz("/tmp/gpu-A.npz", poisson2d(256).tocsr())
for p in ("none", "jacobi", "ic0", "amg-rs"):
    r = subprocess.run([sys.executable, "-m", "sciml", "solve", "/tmp/gpu-A.npz", "--precond", p, "--device", "cuda", "--json"],
                       capture_output=True, text=True)
    print(p, r.returncode, r.stdout[-400:] if r.returncode == 0 else r.stderr[-400:])
    failed = failed or r.returncode != 0
sys.exit(1 if failed else 0)
PY
[ "${PIPESTATUS[0]}" = 0 ] || { echo "solve on cuda: FAILED"; status=1; }
# 3. benchmarks with the device (each suite measures its own CPU baseline in the same run)
for suite in linalg precond pinn wos; do
  timeout 200 python3 -m sciml --threads 4 bench "$suite" --quick --out "$OUT/bench-$suite.json" --force \
    > "$OUT/bench-$suite.log" 2>&1 && echo "bench $suite: ok" || { echo "bench $suite: FAILED"; status=1; }
done
# walk-on-spheres at full bench size on the device (walks/s vs the naive loop; polygon vs analytic disk)
timeout 300 python3 -m sciml --threads 4 bench wos --out "$OUT/bench-wos-full.json" --force > "$OUT/bench-wos-full.log" 2>&1 \
  && echo "bench wos (full): ok" || { echo "bench wos (full): FAILED"; status=1; }
# MP-PDE training step (ours vs the naive structure) and rollout vs WENO5 at E1 sizes on the device
timeout 300 python3 -m sciml bench graph --out "$OUT/bench-graph.json" --force > "$OUT/bench-graph.log" 2>&1 \
  && echo "bench graph: ok" || { echo "bench graph: FAILED"; status=1; }
# TENG seconds per step at 128^2 collocation points on the device (goal on the CPU: <= 10 s; authors ~33 s on a CPU)
timeout 300 python3 -m sciml bench teng --out "$OUT/bench-teng.json" --force > "$OUT/bench-teng.log" 2>&1 \
  && echo "bench teng: ok" || { echo "bench teng: FAILED"; status=1; }
# PI-HC against PI-HC-MoE seconds per training step at equal points (K = 1, 2, 4, 8 experts) on the device
timeout 300 python3 -m sciml bench hard-constraints --out "$OUT/bench-hard-constraints.json" --force \
  > "$OUT/bench-hard-constraints.log" 2>&1 && echo "bench hard-constraints: ok" || { echo "bench hard-constraints: FAILED"; status=1; }
# 4. SDGD per-step time and peak allocation at the paper's sizes (its table: A100, 55.6 / 3.7 / 1.85 / 0.23 it/s)
timeout 300 python3 - <<'PY' 2>&1 | tee "$OUT/sdgd-cuda.txt"
import json
from sciml.pinn.sdgd import SdgdConfig, measure_in_subprocess
for d in (100, 1000, 10000, 100000):
    for estimator in ("independent", "full") if d <= 1000 else ("independent",):
        r = measure_in_subprocess(SdgdConfig(dim=d, estimator=estimator), 10, device="cuda", timeout=120)
        print(json.dumps({"dim": d, "estimator": estimator, **r}))
PY
echo "gpu-check finished with status $status"
exit $status
