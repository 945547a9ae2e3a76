"""sciml's FNO defaults against neuraloperator's own small-Darcy example recipe, on the same files and epochs.

neuraloperator's example (examples/models/plot_FNO_darcy.py): FNO n_modes (16, 16) (8 per direction in
sciml's count), hidden 32, projection ratio 2, AdamW lr 8e-3 and weight decay 1e-4, CosineAnnealingLR
T_max=30, H1 training loss, batch 32, 20 epochs, outputs normalised. sciml: `sciml train fno` with its
defaults and only `epochs` set (the mode count then comes from the 16x16 grid: 8). Both are evaluated
(relative L2, mean over samples) on the 16x16 test set and zero-shot on the 32x32 one.

    sciml data generate --recipe datasets/darcy-small-16.yaml --out DATA      # train, test16, test32
    OMP_NUM_THREADS=1 python scripts/fno-small-darcy-vs-neuralop.py DATA OUT [--epochs 20] [--seed 0]
        [--loss h1|l2] [--sciml-set key=value ...]

Writes OUT/result.json. One torch thread.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss", choices=("h1", "l2"), default="h1", help="neuraloperator's training loss")
    parser.add_argument("--sciml-set", action="append", default=[], help="extra sciml train --set values")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from neuralop import H1Loss, LpLoss, Trainer
    from neuralop.data.datasets.tensor_dataset import TensorDataset
    from neuralop.data.transforms.data_processors import DefaultDataProcessor
    from neuralop.data.transforms.normalizers import UnitGaussianNormalizer
    from neuralop.models import FNO
    from neuralop.training import AdamW
    from torch.utils.data import DataLoader

    from sciml.data import PairDataset
    from sciml.train.losses import relative_lp

    def read(name: str):
        data = PairDataset(args.data / f"{name}.h5")
        return data.read(list(range(len(data))))

    def error(pred, y) -> float:
        return float(relative_lp(pred, y, reduction="mean"))

    result = {"epochs": args.epochs, "seed": args.seed, "neuralop_loss": args.loss, "sciml_set": args.sciml_set,
              "threads": torch.get_num_threads()}
    run = args.out / "sciml-run"
    tic = time.perf_counter()
    command = [sys.executable, "-m", "sciml", "--threads", "1", "--quiet", "train", "fno", "--data",
               str(args.data / "train.h5"), "--val", str(args.data / "test16.h5"), "--out", str(run), "--force",
               "--set", f"epochs={args.epochs}", "--set", f"seed={args.seed}"]
    for item in args.sciml_set:
        command += ["--set", item]
    subprocess.run(command, check=True)
    result["sciml_train_seconds"] = time.perf_counter() - tic
    import sciml

    model = sciml.load(run, which="model")  # the last epoch, as neuraloperator's Trainer leaves its model
    result["sciml_modes"] = model.config.modes
    for res in (16, 32):
        x, y = read(f"test{res}")
        result[f"sciml_{res}"] = error(model.predict(x), y)

    x_train, y_train = read("train")
    torch.manual_seed(args.seed)
    normalizer = UnitGaussianNormalizer(dim=[0, 2, 3])
    normalizer.fit(y_train)
    processor = DefaultDataProcessor(in_normalizer=None, out_normalizer=normalizer)
    net = FNO(n_modes=(16, 16), in_channels=1, out_channels=1, hidden_channels=32, projection_channel_ratio=2)
    optimizer = AdamW(net.parameters(), lr=8e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=30)
    x16, y16 = read("test16")
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True,
                        generator=torch.Generator().manual_seed(args.seed))
    trainer = Trainer(model=net, n_epochs=args.epochs, device="cpu", data_processor=processor,
                      eval_interval=args.epochs, use_distributed=False, verbose=False)
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train(train_loader=loader, test_loaders={16: DataLoader(TensorDataset(x16, y16), batch_size=32)},
                      optimizer=optimizer, scheduler=scheduler, regularizer=False,
                      training_loss=H1Loss(d=2) if args.loss == "h1" else LpLoss(d=2, p=2),
                      eval_losses={"l2": LpLoss(d=2, p=2)})
    result["neuralop_train_seconds"] = time.perf_counter() - tic
    net.eval()
    with torch.no_grad():
        for res in (16, 32):
            x, y = read(f"test{res}")
            result[f"neuralop_{res}"] = error(normalizer.inverse_transform(net(x)), y)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
