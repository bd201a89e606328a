"""Quality of every preset: test MSE after 3 000 steps and after 60 s of training, beside PCA at
the same code size and the mean digit, and ms per step. Prints one JSON line a preset and a
markdown table (for benchmarks/README.md). The machine's load changes the 60 s column and ms/step.

    python -m benchmarks.quality [--presets sparse,conv] [--steps 3000] [--seconds 60]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks.common import data_path


def pca_mse(x_train: np.ndarray, x_test: np.ndarray, k: int) -> float:
    """Test MSE per pixel of the best rank-k linear reconstruction fitted on the training digits."""
    mean = x_train.mean(axis=0, dtype=np.float64)
    _, _, vt = np.linalg.svd(x_train.astype(np.float64) - mean, full_matrices=False)
    basis = vt[:k]
    centred = x_test.astype(np.float64) - mean
    return float(np.mean((centred @ basis.T @ basis - centred) ** 2))


def mean_digit_mse(x_train: np.ndarray, x_test: np.ndarray) -> float:
    return float(np.mean((x_test.astype(np.float64) - x_train.mean(axis=0, dtype=np.float64)) ** 2))


def measure(name: str, dataset, steps: int, seconds: float) -> dict:
    """One run of the preset: paused at ``seconds`` of training or ``steps`` steps, whichever comes
    first, then carried on to the other; the test MSE at both points."""
    from ae_core.config import PRESETS
    from ae_core.trainer import DONE, PAUSED, Trainer

    t = Trainer(PRESETS[name].replace(steps=steps), dataset, eval_every_s=30.0)
    out = {"preset": name, "latent": PRESETS[name].latent}
    try:
        t.wait_ready(timeout=300)
        t.start()
        while True:
            s = t.snapshot()
            if s.status == DONE or s.elapsed >= seconds:
                break
            time.sleep(0.02)
        if s.status != DONE:  # 60 s came first
            t.pause()
            s = t.wait(lambda s: s.status == PAUSED, 120)
            out.update(time_steps=s.step, time_mse=s.test_loss, time_s=s.elapsed)
            t.resume()
        s = t.wait(lambda s: s.status == DONE, 3600)
        out.update(steps=s.step, steps_mse=s.test_loss, ms_per_step=1000 * s.elapsed / s.step,
                   **{k: float(v) for k, v in s.test_measures.items()})
        if "time_mse" not in out:  # 3 000 steps came first: train on to 60 s
            t.update(steps=1_000_000)
            t.resume()
            t.wait(lambda s: s.elapsed >= seconds, 600)
            t.pause()
            s = t.wait(lambda s: s.status == PAUSED, 120)
            out.update(time_steps=s.step, time_mse=s.test_loss, time_s=s.elapsed)
        m = s.measurements
        if "silent_share" in m:
            out["silent_share"] = float(m["silent_share"])
    finally:
        t.stop()
    return out


def main(argv=None) -> int:
    from ae_core.config import PRESETS
    from ae_core.data import load

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args(argv)
    data = load(data_path())
    mean = mean_digit_mse(data.x_train, data.x_test)
    rows = []
    for name in args.presets.split(","):
        row = measure(name, data, args.steps, args.seconds)
        row.update(pca_mse=pca_mse(data.x_train, data.x_test, row["latent"]), mean_digit_mse=mean)
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(f"\n| preset | code | test MSE, {args.steps:,} steps | test MSE, {args.seconds:g} s (steps) | "
          "PCA, same code | mean digit | ms/step | other |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        other = ", ".join(f"{k} {r[k]:.4g}" for k in ("test_kl", "test_objective", "silent_share") if k in r)
        print(f"| `{r['preset']}` | {r['latent']} | {r['steps_mse']:.4f} | {r['time_mse']:.4f} ({r['time_steps']:,}) | "
              f"{r['pca_mse']:.4f} | {r['mean_digit_mse']:.4f} | {r['ms_per_step']:.2f} | {other} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
