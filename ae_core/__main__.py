"""Command line: the same engine as the pages.

    python -m ae_core train --preset seed --steps 10000 --data ../shared/data/mnist.npz --log-every 1000
    python -m ae_core train --preset fast --set learning_rate=0.003 --json
    python -m ae_core data PATH
    python -m ae_core presets
    python -m ae_core tensorboard RUN --logdir DIR
    python -m ae_core scene seed_vs_modern
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import config as cfg_lib
from . import tensorboard as tensorboard_cli

EXIT_BAD_INPUT = 2


def _print_json(obj) -> None:
    print(json.dumps(obj), flush=True)


def _progress(step: int, total: int, loss: float | None, started: float) -> None:
    """A one-line progress bar on stderr (only when it is a terminal)."""
    if not sys.stderr.isatty():
        return
    width = 30
    done = int(width * step / max(total, 1))
    rate = step / max(time.monotonic() - started, 1e-9)
    loss_text = f"loss {loss:.4f}" if loss is not None else ""
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {step:>7,}/{total:,} {rate:7.0f} steps/s {loss_text}")
    sys.stderr.flush()


def _config_from_args(args) -> cfg_lib.Config:
    config = cfg_lib.preset(args.preset)
    changes = dict(cfg_lib.parse_assignment(item) for item in args.set)
    if args.steps is not None:
        changes["steps"] = args.steps
    if args.seed is not None:
        changes["seed"] = args.seed
    return cfg_lib.Config.from_dict(changes, base=config)


def cmd_train(args) -> int:
    from . import data as data_lib
    from . import runs
    from .trainer import DIVERGED, DONE, ERROR, Trainer

    try:
        config = _config_from_args(args)
        dataset = data_lib.load(args.data) if args.data else data_lib.load_default()
    except (cfg_lib.ConfigError, data_lib.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not args.json:
        print(f"Data: {dataset.source} ({dataset.n_train:,} train / {dataset.n_test:,} test digits)", flush=True)

    def checkpoint(trainer):
        runs.save(trainer.snapshot(), trainer.model(), name=args.name, optimizer_state=trainer.optimizer_state(),
                  dataset=trainer.dataset, film=trainer.film)

    from . import cluster
    if cluster.enabled():  # AE_RAY_ADDRESS: the run trains in a Ray actor, which saves it itself
        from .cluster.connect import ClusterError
        try:
            trainer = cluster.create(config, dataset, eval_every_s=args.eval_every, checkpoint_every_s=args.save_every,
                                     save_as=None if args.no_save else {"name": args.name})
        except ClusterError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
    else:
        trainer = Trainer(config, dataset, eval_every_s=args.eval_every,
                          on_checkpoint=None if args.no_save else checkpoint, checkpoint_every_s=args.save_every)
    trainer.wait_ready()
    started = time.monotonic()
    trainer.start()
    # Step lines follow the notebook's `Step i: Minibatch Loss` exactly: i is the 0-based index of the
    # step (its loss is measured before that step's update), every log_every steps from 0, as in
    # history.csv and on the page's chart. The last step always gets its line too.
    printed = 0  # next step index whose log line is due
    snap = trainer.snapshot()
    while True:
        snap = trainer.wait(lambda s, v=snap.version: s.version > v, timeout=3600)
        losses, lrs = snap.history.loss, snap.history.learning_rate
        last = snap.step - 1 if snap.status in (DONE, DIVERGED, ERROR) else -1
        while printed < snap.step:
            if printed % args.log_every == 0 or printed == last:
                if args.json:
                    _print_json({"step": printed, "loss": round(float(losses[printed]), 6),
                                 "lr": float(f"{lrs[printed]:.6g}")})
                else:
                    sys.stderr.write("\r\033[K" if sys.stderr.isatty() else "")
                    print(f"Step {printed}: Minibatch Loss: {losses[printed]:f}", flush=True)
            printed += 1
        if not args.json:
            _progress(snap.step, config.steps, snap.loss, started)
        if snap.status in (DONE, DIVERGED, ERROR):
            break
    if not args.json and sys.stderr.isatty():
        sys.stderr.write("\n")
    trainer.stop(timeout=None)  # the final save runs in the training thread: let it finish
    if snap.status != DONE:
        if args.json:
            _print_json({"event": snap.status, "steps": snap.step, "message": snap.message})
        else:
            print(snap.message, file=sys.stderr)
        return 1
    ms_per_step = 1000 * snap.elapsed / max(snap.step, 1)
    run_dir = None if args.no_save else str(runs.run_path(snap.run_id))
    if args.json:
        # test_kl (variational) and test_objective (several terms) come with the variant.
        extra = {name: round(value, 6) for name, value in snap.test_measures.items()}
        _print_json({"event": "done", "steps": snap.step, "test_mse": round(snap.test_loss, 6), **extra,
                     "ms_per_step": round(ms_per_step, 3), "run_id": snap.run_id, "run_dir": run_dir})
    else:
        extra = "".join(f", {name.replace('_', ' ')} {value:.6f}" for name, value in snap.test_measures.items())
        print(f"Test MSE: {snap.test_loss:.6f}{extra} after {snap.step:,} steps ({ms_per_step:.2f} ms/step)"
              + (f"; saved in {run_dir}" if run_dir else ""))
    return 0


def cmd_data(args) -> int:
    from . import data as data_lib

    try:
        summary = data_lib.summarize(data_lib.load(args.path))
    except data_lib.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    _print_json(summary)
    return 0


def cmd_presets(args) -> int:
    for name, config in cfg_lib.PRESETS.items():
        if args.json:
            _print_json({"preset": name, "config": config.to_dict(), "about": cfg_lib.PRESET_BLURBS[name]})
        else:
            print(f"{name:10} {cfg_lib.PRESET_BLURBS[name]}")
            print(f"{'':10} --set " + " ".join(f"{k}={v}" for k, v in config.to_query().items()))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ae_core", description="Train and inspect MNIST autoencoders.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a preset (same engine as the dashboard)",
                       epilog="settings for --set: " + ", ".join(
                           f"{name} ({cfg_lib.spec(name)['label']})" for name in cfg_lib.FIELDS))
    t.add_argument("--preset", default=cfg_lib.DEFAULT_PRESET, choices=list(cfg_lib.PRESETS))
    t.add_argument("--steps", type=int, help="step budget (default: the preset's)")
    t.add_argument("--seed", type=int, help="random seed (default: the preset's)")
    t.add_argument("--data", help="NPZ, IDX folder or CSV (default: AE_MNIST_PATH, Keras, bundled subset)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting")
    t.add_argument("--log-every", type=int, default=1000, help="print the loss every N steps")
    t.add_argument("--eval-every", type=float, default=5.0, help="seconds between held-out evaluations")
    t.add_argument("--json", action="store_true", help="one JSON object a line")
    t.add_argument("--name", help="name of the saved run")
    t.add_argument("--no-save", action="store_true", help="do not save the run under AE_RUNS_DIR")
    t.add_argument("--save-every", type=float, default=30.0, help="seconds between saves while training")
    t.set_defaults(func=cmd_train)

    d = sub.add_parser("data", help="summarise a data file as JSON")
    d.add_argument("path")
    d.set_defaults(func=cmd_data)

    s = sub.add_parser("presets", help="list the presets")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_presets)

    from . import cli_contrast
    cli_contrast.register(sub)
    tensorboard_cli.add_parser(sub)
    from . import scenes
    scenes.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "log_every", 1) < 1:
        print("error: --log-every must be at least 1.", file=sys.stderr)
        return EXIT_BAD_INPUT
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
