"""Benchmark 1: the reference notebook's training loop as written, through ``tf.compat.v1``.

Graph mode, placeholders, ``RMSPropOptimizer``, one ``sess.run`` a step, and the notebook's own batch
drawing: ``np.random.permutation(n_train_samples)`` every step, then a fancy-index gather of 256 rows
of the float64 ``x / 255`` array, fed through ``feed_dict``. Run in its own process (``run.py`` does
that) so graph mode never leaks into the eager benchmarks; prints one JSON object on stdout.

    python -m benchmarks.baseline_tf1 --data ../shared/data/mnist.npz --steps 1000 --warmup 50 --repeats 3
    python -m benchmarks.baseline_tf1 --data ... --serve     # run.py's paired mode (see serve())
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def notebook_data(path: str):
    import numpy as np

    with np.load(path, allow_pickle=False) as d:
        # As the notebook: pixels / 255 (numpy float64), one row of 784 a digit.
        x_train = d["x_train"].reshape(-1, 28 * 28) / 255
        x_test = d["x_test"].reshape(-1, 28 * 28) / 255
    return x_train, x_test


def build_graph(tf, num_hidden_1: int = 256, num_hidden_2: int = 128):
    """The notebook's graph, line for line (784-256-128-256-784, sigmoid, N(0,1) init, MSE); the
    widths can change for the cost benchmark (``benchmarks.cost``)."""
    num_input = 784
    X = tf.placeholder("float", [None, num_input])
    weights = {
        'encoder_h1': tf.Variable(tf.random_normal([num_input, num_hidden_1])),
        'encoder_h2': tf.Variable(tf.random_normal([num_hidden_1, num_hidden_2])),
        'decoder_h1': tf.Variable(tf.random_normal([num_hidden_2, num_hidden_1])),
        'decoder_h2': tf.Variable(tf.random_normal([num_hidden_1, num_input])),
    }
    biases = {
        'encoder_b1': tf.Variable(tf.random_normal([num_hidden_1])),
        'encoder_b2': tf.Variable(tf.random_normal([num_hidden_2])),
        'decoder_b1': tf.Variable(tf.random_normal([num_hidden_1])),
        'decoder_b2': tf.Variable(tf.random_normal([num_input])),
    }

    def encoder(x):
        layer_1 = tf.nn.sigmoid(tf.add(tf.matmul(x, weights['encoder_h1']), biases['encoder_b1']))
        return tf.nn.sigmoid(tf.add(tf.matmul(layer_1, weights['encoder_h2']), biases['encoder_b2']))

    def decoder(x):
        layer_1 = tf.nn.sigmoid(tf.add(tf.matmul(x, weights['decoder_h1']), biases['decoder_b1']))
        return tf.nn.sigmoid(tf.add(tf.matmul(layer_1, weights['decoder_h2']), biases['decoder_b2']))

    recon_x = decoder(encoder(X))
    loss = tf.reduce_mean(tf.pow(X - recon_x, 2))
    learning_rate = tf.placeholder("float32")
    optimizer = tf.train.RMSPropOptimizer(learning_rate).minimize(loss)
    return X, learning_rate, optimizer, loss, recon_x


class NotebookLoop:
    """The notebook's session and training loop, ready to be timed."""

    def __init__(self, data, batch_size: int = 256, lr: float = 0.01, hidden: tuple[int, int] = (256, 128)):
        import numpy as np
        import tensorflow as tf1

        self.np = np
        self.tf_version = tf1.__version__
        tf = tf1.compat.v1
        tf.disable_eager_execution()
        # ``data``: a path, or the (x_train, x_test) pair already loaded (one load for many graphs).
        self.x_train, self.x_test = notebook_data(data) if isinstance(data, (str, os.PathLike)) else data
        self.n_train_samples = self.x_train.shape[0]
        self.batch_size, self.lr = batch_size, lr
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.X, self.learning_rate, self.optimizer, self.loss, self.recon_x = build_graph(tf, *hidden)
            init = tf.global_variables_initializer()
        self.sess = tf.Session(graph=self.graph)
        self.sess.run(init)

    def train(self, n: int) -> float:
        np, sess, x_train = self.np, self.sess, self.x_train
        l = float("nan")
        for _ in range(n):
            # Prepare a batch, exactly as the notebook does.
            tmp_index = np.random.permutation(self.n_train_samples)
            batch_x = x_train[tmp_index[:self.batch_size], :]
            # Run optimization op (backprop) and cost op (to get loss value)
            _, l = sess.run([self.optimizer, self.loss], feed_dict={self.X: batch_x, self.learning_rate: self.lr})
        return float(l)

    def timed(self, n: int) -> dict:
        t0, c0 = time.perf_counter(), time.process_time()
        loss = self.train(n)
        return {"ms_per_step": 1000 * (time.perf_counter() - t0) / n,
                # CPU time of all threads: hardly moved by other processes' load, unlike the wall clock.
                "cpu_ms_per_step": 1000 * (time.process_time() - c0) / n, "loss": loss}

    def batch_draw_ms(self, n: int) -> float:
        """The numpy batch drawing alone (no session call), ms per step."""
        np = self.np
        t0 = time.perf_counter()
        for _ in range(n):
            tmp_index = np.random.permutation(self.n_train_samples)
            self.x_train[tmp_index[:self.batch_size], :]
        return 1000 * (time.perf_counter() - t0) / n

    def summary(self, runs: list[dict], steps: int) -> dict:
        np = self.np
        test_mse = float(np.mean((self.x_test - self.sess.run(self.recon_x, feed_dict={self.X: self.x_test})) ** 2))
        return {
            "ms_per_step": float(np.median([r["ms_per_step"] for r in runs])),
            "cpu_ms_per_step": float(np.median([r["cpu_ms_per_step"] for r in runs])),
            "ms_per_step_runs": [r["ms_per_step"] for r in runs],
            "batch_draw_ms_per_step": self.batch_draw_ms(steps),
            "steps": steps, "repeats": len(runs), "last_minibatch_loss": runs[-1]["loss"] if runs else None,
            "test_mse": test_mse, "tf_version": self.tf_version,
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        }


def measure(data: str, steps: int, warmup: int, repeats: int) -> dict:
    loop = NotebookLoop(data)
    loop.train(warmup)
    runs = [loop.timed(steps) for _ in range(repeats)]
    return loop.summary(runs, steps)


def serve(data: str, steps: int, warmup: int) -> None:
    """Line protocol for run.py, which alternates this loop with the Trainer under the same load:
    prints {"ready": ...} once warm, then answers each ``measure`` line with one timed repeat and
    ``finish`` with the summary."""
    loop = NotebookLoop(data)
    loop.train(warmup)
    print(json.dumps({"ready": True}), flush=True)
    runs = []
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "measure":
            runs.append(loop.timed(steps))
            print(json.dumps(runs[-1]), flush=True)
        elif cmd == "finish":
            print(json.dumps(loop.summary(runs, steps)), flush=True)
            return


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--serve", action="store_true", help="answer measure/finish lines on stdin (for run.py)")
    args = p.parse_args(argv)
    if args.serve:
        serve(args.data, args.steps, args.warmup)
    else:
        print(json.dumps(measure(args.data, args.steps, args.warmup, args.repeats)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
