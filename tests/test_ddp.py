import json
import os
import socket
import subprocess
import sys

import torch


def test_torchrun_two_gloo_processes_train_data_parallel(darcy_files, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port),
           "-m", "sciml", "--threads", "1", "train", "fno", "--data", str(darcy_files["train"]),
           "--val", str(darcy_files["test"]), "--out", str(run), "--set", "epochs=2", "--set", "batch_size=8",
           "--set", "modes=2", "--set", "width=4"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]  # written once, by rank 0
    assert all(r["world_size"] == 2 for r in lines)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["world_size"] == 2 and state["epoch"] == 2
    assert "module." not in next(iter(state["model"]))  # saved unwrapped, loadable without DDP
    from sciml.runs import load_model

    model, _ = load_model(run)
    assert model(torch.ones(1, 1, 16, 16)).shape == (1, 1, 16, 16)
