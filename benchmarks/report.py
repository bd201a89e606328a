"""The benchmark suite's markdown table: one row per measured number, with its target and pass or miss."""
from __future__ import annotations

from benchmarks import common

# The groups of `benchmarks.run`, and the row numbers (and other words) `--only` takes for them.
GROUPS = ("ratio", "converge", "page", "viewers", "live", "cost", "cluster")
ALIASES = {"1": "ratio", "2": "ratio", "3": "page", "4": "converge", "5": "page", "6": "page", "7": "viewers",
           "8": "live", "9": "cost", "10": "cluster", "ray": "cluster",
           "baseline": "ratio", "trainer": "ratio", "headless": "ratio", "memory": "page"}

# Targets: (limit, "<=" or ">=").
TARGETS = {
    "ratio": (0.40, "<="),
    "page_share": (0.85, ">="),
    "to_target_s": (10.0, "<="),
    "interactive_s": (5.0, "<="),
    "start_to_first_step_s": (2.0, "<="),
    "pause_latency_s": (0.5, "<="),
    "refresh_hz": (1.0, ">="),
    "peak_rss_mb": (1536.0, "<="),
    "cores_per_viewer": (0.05, "<="),
    "live_gap_s": (0.3, "<="),
    "cold_launch_to_first_step_s": (6.0, "<="),
    "cold_start_to_first_step_s": (2.0, "<="),
}


def verdict(key: str, value) -> str:
    if value is None:
        return "n/a"
    limit, op = TARGETS[key]
    if op == "<=":
        if value <= limit:
            return "pass"
        return f"**miss**: {value / limit:.2f}× the limit"
    if value >= limit:
        return "pass"
    return f"**miss**: {100 * (1 - value / limit):.0f}% short"


def target_text(key: str, fmt: str) -> str:
    limit, op = TARGETS[key]
    return f"{'≤' if op == '<=' else '≥'} {fmt.format(limit)}"


def derive(results: dict) -> dict:
    """Ratios between groups; (3) uses (2)'s steps/s from this invocation when it ran."""
    g = results["groups"]
    d = {}
    ratio = g.get("ratio", {}).get("result")
    page = g.get("page", {}).get("result")
    if ratio:
        d["ratio_wall"] = ratio["ratio_wall"]
        d["ratio_elapsed"] = ratio["ratio_elapsed"]
        d["ratio_cpu"] = ratio["ratio_cpu"]
        d["ratio_fast_wall"] = ratio["fast"]["wall_ms_per_step"] / ratio["baseline"]["ms_per_step"]
    if ratio and page and page.get("seed_page_steps_per_s"):
        d["page_share"] = page["seed_page_steps_per_s"] / ratio["seed"]["steps_per_s"]
    return d


def _vs(value, fmt: str) -> str:
    """``fmt`` filled with ``value``, or nothing when there is no value (a group did not run)."""
    return "" if value is None else fmt.format(value)


def markdown(results: dict) -> str:
    g, d, m = results["groups"], results["derived"], results["machine"]
    rows = []

    def row(num, what, measured, target="—", result="—"):
        mark = "†" if g.get(ALIASES[str(num)], {}).get("carried_from") else ""
        rows.append(f"| {num}{mark} | {what} | {measured} | {target} | {result} |")

    ratio = g.get("ratio", {}).get("result")
    conv = g.get("converge", {}).get("result")
    page = g.get("page", {}).get("result")
    if ratio:
        base, s, f = ratio["baseline"], ratio["seed"], ratio["fast"]
        row(1, "Notebook loop as written: `tf.compat.v1`, `sess.run` + `feed_dict` per step "
               f"({s.get('network', 'seed net')})",
            f"{base['ms_per_step']:.2f} ms/step (CPU {base['cpu_ms_per_step']:.2f} ms/step; "
            f"numpy batch drawing alone {base['batch_draw_ms_per_step']:.2f} ms/step)", "reference")
        rw, re_ = d.get("ratio_wall"), d.get("ratio_elapsed")
        row(2, "Trainer headless, `seed`: wall clock between snapshots (median of per-pair ratios)",
            f"{s['wall_ms_per_step']:.2f} ms/step ({s['steps_per_s']:.0f} steps/s)" + _vs(rw, " = **{:.2f}×** (1)"),
            target_text("ratio", "{:.2f}× (1)"), verdict("ratio", rw))
        row(2, "Trainer headless, `seed`: snapshot `elapsed`/`step`",
            f"{s['elapsed_ms_per_step']:.2f} ms/step" + _vs(re_, " = {:.2f}× (1)")
            + f"; since Start {s['cumulative_elapsed_ms_per_step']:.2f}",
            target_text("ratio", "{:.2f}× (1)"), verdict("ratio", re_))
        row(2, "Trainer headless, `seed`: process CPU time per step (all threads; robust to load)",
            f"{s['cpu_ms_per_step']:.2f} ms/step" + _vs(d.get("ratio_cpu"), " = {:.2f}× (1)'s CPU"))
        row(2, f"Trainer headless, `fast` ({f.get('network', '')}): wall / `elapsed`",
            f"{f['wall_ms_per_step']:.2f} / {f['elapsed_ms_per_step']:.2f} ms/step"
            + _vs(d.get("ratio_fast_wall"), " ({:.2f}× (1))"))
    if page:
        share = d.get("page_share")
        row(3, "Train page open in Chromium, `seed`: steps/s read off the Step metric",
            f"{page['seed_page_steps_per_s']:.1f} steps/s" + _vs(share, " = **{:.0%}** of (2)"),
            target_text("page_share", "{:.0%} of (2)"), verdict("page_share", share))
        closed = page.get("seed_share_of_closed")
        if closed is not None:
            row(3, "… compared with the same run, same server, right after, with no page open",
                f"{page['seed_closed_steps_per_s']:.1f} steps/s with the page closed: page open = "
                f"**{100 * closed:.0f}%** of it. Cores, page open / closed: trainer "
                f"{page['seed_trainer_cores']:.2f} / {page['seed_closed_trainer_cores']:.2f}, Streamlit "
                f"{page['seed_streamlit_cores']:.2f}, Chromium {page['seed_browser_cores']:.2f}",
                target_text("page_share", "{:.0%}"), verdict("page_share", closed))
    if conv:
        tt = conv["to_target_s"]
        steps = conv["to_target_step"]
        train_s = common.median([r["training_s"] for r in conv["runs"] if r["reached"]])
        row(4, f"`fast` ({conv.get('network', '')}): Start → first held-out MSE ≤ 0.01 (eval every 0.25 s)",
            (f"{tt:.1f} s (step {steps:,.0f}; {train_s:.1f} s of it training)" if tt is not None
             else "not reached"), target_text("to_target_s", "{:g} s"), verdict("to_target_s", tt))
        row(4, "`fast`: `Trainer()` → READY (build + XLA compile + warm-up)",
            f"{conv['ready_s']:.1f} s (first in a process: {conv['ready_cold_s']:.1f} s)")
    if page:
        row(5, "`streamlit run` → page interactive (Start visible and enabled)",
            f"{page['interactive_s']:.2f} s", target_text("interactive_s", "{:g} s"),
            verdict("interactive_s", page["interactive_s"]))
        row(5, "`streamlit run` → network ready (status `ready`)", f"{page['ready_s']:.2f} s")
        row(5, "Start → first step on screen (network ready, `fast`)", f"{page['start_to_first_step_s']:.2f} s",
            target_text("start_to_first_step_s", "{:g} s"),
            verdict("start_to_first_step_s", page["start_to_first_step_s"]))
        cold = page.get("cold_make_run")
        if cold:
            row(5, "`make run` → first step on screen: page opened when the server answers, Start clicked the "
                   "moment it is enabled (median; worst)",
                f"{cold['launch_to_first_step_s']:.2f} s; {cold['launch_to_first_step_max_s']:.2f} s",
                target_text("cold_launch_to_first_step_s", "{:g} s"),
                verdict("cold_launch_to_first_step_s", cold["launch_to_first_step_s"]))
            row(5, "… of which Start → first step (median; worst)",
                f"{cold['start_to_first_step_s']:.2f} s; {cold['start_to_first_step_max_s']:.2f} s",
                target_text("cold_start_to_first_step_s", "{:g} s"),
                verdict("cold_start_to_first_step_s", cold["start_to_first_step_s"]))
        row(5, "Pause → `paused` shown and Step metric final (median; worst)",
            f"{page['pause_latency_s']:.2f} s; {page['pause_latency_max_s']:.2f} s",
            target_text("pause_latency_s", "{:g} s"), verdict("pause_latency_s", page["pause_latency_s"]))
        row(5, "Live view refresh while training (distinct Step values per second)",
            f"{page['refresh_hz']:.2f} Hz", target_text("refresh_hz", "{:g} Hz"),
            verdict("refresh_hz", page["refresh_hz"]))
        row(6, "Peak RSS of the streamlit server (+children), one launch with a `fast` and a `seed` run",
            f"{page['peak_rss_mb']:.0f} MB", "≤ 1.5 GB", verdict("peak_rss_mb", page["peak_rss_mb"]))
    live = g.get("live", {}).get("result")
    if live:
        worst = live["worst_gap_s"]
        detail = "; ".join(f"{c['change']} {c['worst_gap_s']:.2f} s" for c in live["changes"])
        row(8, "Live changes mid-run (`seed`, headless): longest wait between two published steps around "
               "a change (worst case)", f"{worst:.2f} s ({live['worst_change']}); each: {detail}; ordinary "
            f"training {live['quiet_worst_gap_s']:.2f} s", target_text("live_gap_s", "{:g} s"),
            verdict("live_gap_s", worst))
    cost = g.get("cost", {}).get("result")
    if cost:
        def cells_text(cells, key):
            return ", ".join(f"{c['trainer'][key]:,}: {c['trainer']['ms_per_step']:.1f} / "
                             f"{c['notebook']['ms_per_step']:.1f}" for c in cells)
        width = cost["cells"][0]["trainer"]["width"]
        by_batch = [c for c in cost["cells"] if c["trainer"]["width"] == width]
        by_width = [c for c in cost["cells"] if c["trainer"]["batch"] == 256]
        row(9, f"ms/step, Trainer's chunks / notebook's loop, by batch size (width {width})",
            cells_text(by_batch, "batch"))
        row(9, "ms/step, Trainer's chunks / notebook's loop, by width w (784-w-w/2-w-784, batch 256)",
            cells_text(by_width, "width"))

    viewers = g.get("viewers", {}).get("result")
    if viewers:
        for count, v in viewers["counts"].items():
            vs = v.get("steps_vs_one")
            row(7, f"{count} watch-only viewer{'s' if count != '1' else ''} of one `fast` run (presenter key): "
                   "Streamlit's cores a viewer (total); the run's steps/s",
                f"{v['streamlit_cores_per_viewer']:.3f} ({v['streamlit_cores']:.2f}; "
                f"{v['streamlit_cpu_ms_per_refresh']:.0f} ms CPU a refresh at {v['refresh_hz']:.2f} Hz); "
                f"{v['steps_per_s']:.0f} steps/s"
                + ("" if count == "1" else _vs(vs, " = {:.0%} of one viewer's"))
                + f"; trainer {v['trainer_cores']:.2f}, Chromium {v['browser_cores']:.2f} cores",
                target_text("cores_per_viewer", "{:g} cores a viewer"),
                verdict("cores_per_viewer", v["streamlit_cores_per_viewer"]))
    clus = g.get("cluster", {}).get("result")
    if clus:
        for name, what in (("threads", "threads of one process"), ("ray", "actors of a local Ray instance")):
            c = clus[name]
            row(10, f"{clus['runs']} `fast` runs at once as {what}: steps/s each (all together); "
                   f"CPU s per 1 000 steps; snapshot refresh seen by a reader polling every 0.1 s",
                f"{c['steps_per_s_each']:.0f} ({c['total_steps_per_s']:.0f}) steps/s; "
                f"{c['cpu_s_per_1000_steps']:.2f} s; {c['refresh_hz']:.1f} Hz")

    loads = [f"{name} {grp['load']['load1_before']:.2f}/{grp['foreign_cores']:.2f}"
             for name, grp in g.items() if not grp.get("carried_from")]
    old = sorted({grp["carried_from"] for grp in g.values() if grp.get("carried_from")})
    head = [
        f"Measured {results['date']} on {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; "
        f"Python {m['python']}, TensorFlow {m.get('tensorflow-cpu') or m.get('tensorflow')}, "
        f"Keras {m.get('keras')}, Streamlit {m.get('streamlit')}, {m.get('chromium') or 'Chromium ?'}"
        + (" — **quick run**" if results["quick"] else "") + ".",
        "",
        "Load (1-min load average before / cores other processes used during, per group): "
        + "; ".join(loads) + "."
        + (" **Taken under load** — timings are pessimistic." if results["under_load"] else " Quiet machine."),
        "",
        "| # | Benchmark | Measured (median) | Target | Result |",
        "|---|---|---|---|---|",
    ]
    foot = ["", f"† not re-run this time: numbers from the run of {', '.join(old)}."] if old else []
    return "\n".join(head + rows + foot) + "\n"
