"""Where the Trainer's time goes (a diagnostic, not part of ``run.py``).

    python -m benchmarks.profile_trainer [--preset seed] [--steps 400]
    TF_ENABLE_ONEDNN_OPTS=1 python -m benchmarks.profile_trainer   # TF's oneDNN kernels on (ae_core turns them off)

Measures, on one ``Engine`` built the way the Trainer builds it:

* the compiled chunk at several chunk sizes (ms/step and the fixed cost per chunk: weight backup,
  end-of-chunk check of the weights, dispatch, loss read-back), and those parts alone;
* the same chunk graph without XLA (``jit_compile=False``) and a single step per call (XLA and not);
* one held-out evaluation (the Trainer runs it every ``eval_every_s``: 1 s on the page);
* publishing a snapshot (history view and copies), per chunk.

Prints one JSON object on stdout and a readable summary on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from benchmarks.common import data_path


def _cpu_time(fn, repeats: int) -> float:
    """Fastest of ``repeats`` calls of ``fn()`` in process CPU seconds (all threads): on a loaded
    machine this moves less than the wall clock (waiting for a core costs no CPU time)."""
    out = []
    for _ in range(repeats):
        c0 = time.process_time()
        fn()
        out.append(time.process_time() - c0)
    return min(out)


def _time(fn, repeats: int) -> float:
    """Fastest of ``repeats`` calls of ``fn()``, in seconds. A diagnostic on a shared machine wants
    the minimum: other processes only ever add time, so the fastest repeat is the least disturbed."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def profile(preset: str, steps: int, repeats: int, sizes=(1, 8, 32, 128)) -> dict:
    import numpy as np

    from ae_core.config import preset as get_preset  # first: ae_core sets TF's environment defaults
    from ae_core.data import load
    import tensorflow as tf
    from ae_core.engine import Engine
    from ae_core.trainer import N_DIGITS, Trainer

    cfg = get_preset(preset)
    data = load(data_path())
    engine = Engine(cfg, data, N_DIGITS)
    engine.warm_up(cfg.batch_size)
    bs = cfg.batch_size
    out: dict = {"preset": preset, "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                 "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                 "intra_op": tf.config.threading.get_intra_op_parallelism_threads()}

    # 1. The compiled chunk at several sizes: per-chunk fixed cost vs per-step cost.
    chunk = {}
    for n in (*sizes, steps):
        calls = max(1, steps // n)
        sec = _time(lambda: [engine.chunk(n, bs) for _ in range(calls)], repeats)
        chunk[n] = 1000 * sec / (calls * n)
    out["xla_chunk_ms_per_step"] = chunk
    # Linear fit t(n) = a + b n over the sizes: a = fixed cost per chunk, b = per step.
    ns = np.array(sorted(chunk), float)
    ts = np.array([chunk[int(n)] * n for n in ns])
    b, a = np.polyfit(ns, ts, 1)
    out["xla_chunk_fixed_ms"] = float(a)
    out["xla_step_ms"] = float(b)

    # 2. The weight backup alone (done at the start of every chunk, so a diverged chunk can be undone).
    backup = tf.function(lambda: [b_.assign(v) for b_, v in zip(engine.backup, engine.state)], jit_compile=True)
    backup()
    out["backup_ms"] = 1000 * _time(lambda: [backup() for _ in range(50)], repeats) / 50
    out["state_floats"] = int(sum(int(np.prod(v.shape)) for v in engine.state))

    # 3. The same chunk graph without XLA.
    plain = tf.function(lambda n: engine._chunk_graph(n, bs), jit_compile=False)
    plain(tf.constant(2, tf.int32))
    out["plain_chunk_ms_per_step"] = 1000 * _time(lambda: plain(tf.constant(steps, tf.int32))[0].numpy(),
                                                  repeats) / steps

    # 4. One step per call (Python dispatch every step, as a naive Keras loop would do).
    for name, jit in (("xla_one_step_ms", True), ("plain_one_step_ms", False)):
        fn = tf.function(lambda n: engine._chunk_graph(n, bs), jit_compile=jit)
        one = tf.constant(1, tf.int32)
        fn(one)
        k = max(20, steps // 4)
        out[name] = 1000 * _time(lambda: [fn(one)[0].numpy() for _ in range(k)], repeats) / k

    # 5. The forward/backward/update alone on a fixed batch (no sampling, no loop), XLA.
    x = tf.constant(data.x_train[:bs])
    model, opt, loss_fn = engine.model, engine.optimizer, engine.loss_fn

    def step_fixed():
        with tf.GradientTape() as tape:
            loss = loss_fn(x, model(x, training=True))
        opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    @tf.function(jit_compile=True)
    def fixed_loop(n):
        i = tf.constant(0)
        while i < n:
            step_fixed()
            i += 1
        return i

    fixed_loop(tf.constant(2))
    out["xla_fixed_batch_step_ms"] = 1000 * _time(lambda: fixed_loop(tf.constant(steps)).numpy(), repeats) / steps
    out["xla_fixed_batch_step_cpu_ms"] = 1000 * _cpu_time(lambda: fixed_loop(tf.constant(steps)).numpy(),
                                                          repeats) / steps
    out["xla_chunk_cpu_ms_per_step"] = 1000 * _cpu_time(lambda: engine.chunk(steps, bs), repeats) / steps

    # 6. Forward pass alone on the fixed batch (compute floor: backward is ~2x forward).
    fwd = tf.function(lambda: model(x, training=False), jit_compile=True)
    fwd()
    out["xla_forward_ms"] = 1000 * _time(lambda: [fwd() for _ in range(50)], repeats) / 50
    widths = cfg.layer_widths
    macs = bs * sum(a_ * b_ for a_, b_ in zip(widths[:-1], widths[1:]))
    out["step_gflop"] = 3 * 2 * macs / 1e9  # forward + ~2x for backward
    out["gflops_at_xla_step"] = out["step_gflop"] / (out["xla_step_ms"] / 1000)

    # 6a. The parts of one step, each alone in an XLA loop of `steps` iterations on the fixed batch
    # (each result summed whole, so XLA cannot compute only a slice of it):
    # the step's matmuls with its shapes (forward, and the two of each layer's backward pass), the
    # forward pass with the loss, forward + backward (gradients, no update), the optimizer update
    # with fixed gradients, and the in-graph batch drawing (random gather + uint8 -> float32).
    # Each body takes the loop's running sum as a tiny input perturbation, so that XLA cannot hoist
    # a computation on loop-invariant inputs out of the loop (it would run once, not `steps` times).
    kernels = [v for v in model.trainable_variables if len(v.shape) == 2]
    acts = [tf.random.uniform([bs, int(k.shape[0])]) for k in kernels]
    outs = [tf.random.uniform([bs, int(k.shape[1])]) for k in kernels]

    def matmuls(eps):
        total = tf.constant(0.0)
        for a_, k, d in zip(acts, kernels, outs):
            a_, d = a_ + eps, d + eps
            total += tf.reduce_sum(tf.matmul(a_, k))                                   # forward
            total += tf.reduce_sum(tf.matmul(d, k, transpose_b=True))                  # gradient to the input
            total += tf.reduce_sum(tf.matmul(a_, d, transpose_a=True))                 # gradient to the kernel
        return total

    def elementwise_pass(eps):
        # What perturbing the inputs costs by itself (subtracted from nothing; shown for scale).
        return tf.add_n([tf.reduce_sum(a_ + eps) + tf.reduce_sum(d + eps) for a_, d in zip(acts, outs)])

    def forward_loss(eps):
        xe = x + eps
        return loss_fn(xe, model(xe, training=True))

    def gradients(eps):
        xe = x + eps
        with tf.GradientTape() as tape:
            loss = loss_fn(xe, model(xe, training=True))
        return tf.add_n([tf.reduce_sum(g) for g in tape.gradient(loss, model.trainable_variables)])

    fixed_grads = [tf.zeros_like(v) + 1e-6 for v in model.trainable_variables]

    def update(eps):
        opt.apply(fixed_grads, model.trainable_variables)
        return tf.constant(0.0)

    def sampling(eps):
        clean, noisy = engine._batch(bs)
        return tf.reduce_sum(noisy)  # every pixel used: nothing of the gather is pruned

    parts, parts_cpu = {}, {}
    for name, body in (("matmuls", matmuls), ("perturbing_inputs", elementwise_pass),
                       ("forward_loss", forward_loss), ("gradients", gradients),
                       ("update", update), ("sampling", sampling)):
        def looped(n, body=body):
            i, acc = tf.constant(0), tf.constant(0.0)
            while i < n:
                acc += 1e-30 * body(acc * 1e-30)
                i += 1
            return acc

        fn = tf.function(looped, jit_compile=True)
        fn(tf.constant(2))
        parts[name] = 1000 * _time(lambda: fn(tf.constant(steps)).numpy(), repeats) / steps
        parts_cpu[name] = 1000 * _cpu_time(lambda: fn(tf.constant(steps)).numpy(), repeats) / steps
    engine.rollback()  # the update part changed the weights
    out["part_ms"] = parts
    out["part_cpu_ms"] = parts_cpu

    # 6b. The end-of-chunk check of the weights on its small batch of test digits.
    probe = getattr(engine, "check", None)
    if probe is not None:
        check = tf.function(lambda: loss_fn(probe, model(probe, training=False)), jit_compile=True)
        check()
        out["check_ms"] = 1000 * _time(lambda: [check() for _ in range(20)], repeats) / 20
        out["check_size"] = int(probe.shape[0])

    # 7. Held-out evaluation (10 000 test digits) and the per-chunk publishing work.
    engine.evaluate()
    out["evaluate_ms"] = 1000 * _time(engine.evaluate, repeats)
    trainer = Trainer(cfg, data)
    trainer.wait_ready()
    trainer.step(steps)
    trainer.wait(lambda s: s.status == "paused", timeout=300)
    from ae_core.loop import TrainingLoop

    loop = TrainingLoop(trainer, trainer._generation)
    loop.engine = engine
    out["publish_ms"] = 1000 * _time(lambda: [loop.publish("running") for _ in range(100)], repeats) / 100
    trainer.stop()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="seed")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="chunk sizes 8 and --steps only (skips the slow 1-step chunks)")
    args = p.parse_args(argv)
    out = profile(args.preset, args.steps, args.repeats, sizes=(8,) if args.quick else (1, 8, 32, 128))
    for k, v in out.items():
        print(f"{k:28} {v}", file=sys.stderr)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
