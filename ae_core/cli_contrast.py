"""CLI verbs for comparing runs: ``baselines``, ``gif`` (a run's film strip) and ``sweep``.
``register(sub)`` adds them to ``python -m ae_core``'s subparsers."""
from __future__ import annotations

import sys

N_PIXELS = 784


def _fail(message: str) -> int:
    from .__main__ import EXIT_BAD_INPUT

    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def cmd_baselines(args) -> int:
    from . import baselines
    from . import data as data_lib
    from .__main__ import _print_json

    if not 1 <= args.latent <= N_PIXELS:
        return _fail(f"--latent must be between 1 and {N_PIXELS}, not {args.latent}.")
    try:
        dataset = data_lib.load(args.data) if args.data else data_lib.load_default()
    except data_lib.DataError as e:
        return _fail(str(e))
    base = baselines.baselines(dataset, args.latent)
    if args.json:
        _print_json({k: (round(v, 6) if isinstance(v, float) else v) for k, v in base.to_dict().items()})
    else:
        print(f"Data: {dataset.source} ({dataset.n_train:,} train / {dataset.n_test:,} test digits)")
        print(f"Test MSE of the mean digit: {base.mean_digit:.6f}")
        print(f"Test MSE of {base.pca_label}:      {base.pca:.6f}")
    return 0


def register(sub) -> None:
    b = sub.add_parser("baselines", help="test MSE of the mean digit and of PCA with K components")
    b.add_argument("--data", help="NPZ, IDX folder or CSV (default: AE_MNIST_PATH, Keras, bundled subset)")
    b.add_argument("--latent", type=int, required=True, metavar="K", help="code size: PCA components")
    b.add_argument("--json", action="store_true", help="one JSON object")
    b.set_defaults(func=cmd_baselines)
    register_gif(sub)
    register_sweep(sub)


def cmd_gif(args) -> int:
    from pathlib import Path

    from . import runs
    from .frames import FilmStrip
    from .gif import film_gif

    folder = Path(args.run)
    if not folder.is_dir():
        try:
            folder = runs.run_path(args.run)
        except runs.RunError as e:
            return _fail(str(e))
    path = folder / runs.FRAMES_FILE
    if not path.is_file():
        return _fail(f"{args.run} has no film strip ({path} is missing); a run records one while it trains.")
    try:
        strip = FilmStrip.load(path)
        data = film_gif(strip)
    except ValueError as e:
        return _fail(str(e))
    try:
        Path(args.out).write_bytes(data)
    except OSError as e:
        return _fail(f"cannot write {args.out} ({e.strerror or e}).")
    print(f"Wrote {args.out}: {len(strip)} frames, steps {strip.steps()[0]:,} to {strip.steps()[-1]:,}.")
    return 0


def register_gif(sub) -> None:
    g = sub.add_parser("gif", help="a run's film strip as an animated GIF (originals beside reconstructions)")
    g.add_argument("run", metavar="RUN", help="a run id (under AE_RUNS_DIR) or a run folder")
    g.add_argument("--out", required=True, metavar="FILE.gif")
    g.set_defaults(func=cmd_gif)


def cmd_sweep(args) -> int:
    from . import config as cfg_lib
    from . import data as data_lib
    from . import sweep as sweep_lib
    from .__main__ import _print_json

    try:
        base = cfg_lib.preset(args.preset)
        changes = dict(cfg_lib.parse_assignment(item) for item in args.set)
        if args.steps is not None:
            changes["steps"] = args.steps
        base = cfg_lib.Config.from_dict(changes, base=base)
        grid = sweep_lib.parse_grid(args.grid)
        if args.parallel is not None and args.parallel < 1:
            raise cfg_lib.ConfigError("--parallel must be at least 1.")
        dataset = data_lib.load(args.data) if args.data else data_lib.load_default()
    except (cfg_lib.ConfigError, data_lib.DataError) as e:
        return _fail(str(e))
    sweep = sweep_lib.Sweep(base, grid)
    n = len(sweep_lib.combinations(grid))
    try:
        parallel = min(args.parallel or sweep_lib.default_parallel(), n)
    except RuntimeError as e:  # AE_RAY_ADDRESS names a Ray cluster that cannot be reached
        return _fail(str(e))
    if not args.json:
        print(f"Sweep {sweep.sweep_id}: {n} runs of {args.preset} ({base.steps:,} steps each), {parallel} at once, "
              f"on {dataset.source}", flush=True)

    def report(outcome) -> None:
        if args.json:
            _print_json(outcome.line())
        elif outcome.status == "done":
            print(f"{sweep_lib.run_name(outcome.values)}: test MSE {outcome.test_mse:.6f} ({outcome.run_id})", flush=True)
        else:
            print(f"{sweep_lib.run_name(outcome.values)}: {outcome.status}: {outcome.message}", flush=True)

    outcomes = sweep_lib.run_sweep(sweep, dataset, parallel=parallel, on_outcome=report)
    summary = sweep_lib.summary_line(sweep, outcomes)
    if args.json:
        _print_json(summary)
    else:
        top = sweep_lib.best(outcomes)
        print(f"Best: {sweep_lib.run_name(top.values)} with test MSE {top.test_mse:.6f} ({top.run_id})" if top
              else "No combination finished.")
    return 0 if summary["failed"] == 0 else 1


def register_sweep(sub) -> None:
    from . import config as cfg_lib

    s = sub.add_parser("sweep", help="train every combination of a grid of settings, a few at once")
    s.add_argument("--preset", default=cfg_lib.DEFAULT_PRESET, choices=list(cfg_lib.PRESETS))
    s.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2", required=True,
                   help="a setting and its values (repeat for more settings: every combination is trained)")
    s.add_argument("--steps", type=int, help="step budget of each run (default: the preset's)")
    s.add_argument("--data", help="NPZ, IDX folder or CSV (default: AE_MNIST_PATH, Keras, bundled subset)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting of every run")
    s.add_argument("--parallel", type=int, help="runs at once (default: the number of cores)")
    s.add_argument("--json", action="store_true", help="one JSON object a line")
    s.set_defaults(func=cmd_sweep)
