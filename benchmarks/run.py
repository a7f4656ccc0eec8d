"""The softmax family side by side: softmaxkit, SciPy/NumPy, PyTorch and JAX, one process.

Each operation on each shape is timed for every library that is installed,
interleaved (one call of each in turn, repeated), and reported as the median
time, its ratio to the copy floor (``numpy.ndarray.copy`` of the same array:
the input must be read and the output written at least once) and its ratio to
the fastest peer. JAX runs with 64-bit enabled and ``jit`` so float64 is float64.

Run: ``python benchmarks/run.py [--repeats 5] [--quick] [--json out.json]
[--settle SECONDS] [--only OPERATION]`` (``--quick`` uses shapes 16x smaller, for a
smoke test). ``--settle`` sleeps before each timed call: PyTorch's OpenMP threads
and XLA's pool keep spinning for a while after their calls, which on a machine with
few cores is charged to whichever call comes next (default 0: calls back to back;
0.02 made no difference we could tell from the noise on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import softmaxkit as sk

SHAPES = [
    ("softmax", (4096, 32000), "float32"),
    ("softmax", (2048, 32000), "float64"),
    ("softmax", (1_000_000, 10), "float64"),
    ("softmax", (1_000_000, 10), "float32"),
    ("log_softmax", (1_000_000, 10), "float64"),
    ("logsumexp", (1_000_000, 10), "float64"),
    ("log_softmax", (2048, 32000), "float64"),
    ("logsumexp", (2048, 32000), "float64"),
    ("ce_loss_grad", (1_000_000, 10), "float64"),
    ("ce_loss_grad", (4096, 32000), "float32"),
    # rows of a hundred classes: longer than the compiled core's tiles (32), far
    # shorter than a vocabulary; one row at a time, as the long rows
    ("softmax", (100_000, 100), "float64"),
    ("ce_loss_grad", (100_000, 100), "float64"),
]


def _peers(op: str) -> dict[str, Callable[[Any, Any], Callable[[], Any]]]:
    """``name -> make(x_numpy, labels) -> zero-argument callable`` for each library."""
    peers: dict[str, Callable[[Any, Any], Callable[[], Any]]] = {}

    def ours(x: Any, y: Any) -> Callable[[], Any]:
        if op == "ce_loss_grad":
            return lambda: sk.softmax_cross_entropy_with_grad(x, y)
        fn = getattr(sk, op)
        return lambda: fn(x, axis=-1)

    peers["softmaxkit"] = ours
    from softmaxkit._fast import numpy as numpy_fast

    if numpy_fast._compiled is not None:
        # the same calls with the compiled core switched off: the path a machine
        # without a C compiler takes (not a peer: excluded from "best peer")
        def numpy_path(x: Any, y: Any) -> Callable[[], Any]:
            call = ours(x, y)

            def run() -> Any:
                saved, numpy_fast._compiled = numpy_fast._compiled, None
                try:
                    return call()
                finally:
                    numpy_fast._compiled = saved

            return run

        peers["sk numpy"] = numpy_path
    import scipy.special as sps

    def scipy_numpy(x: Any, y: Any) -> Callable[[], Any]:
        if op == "softmax":
            return lambda: sps.softmax(x, axis=-1)
        if op == "log_softmax":
            return lambda: sps.log_softmax(x, axis=-1)
        if op == "logsumexp":
            return lambda: sps.logsumexp(x, axis=-1)

        def ce() -> Any:  # the textbook NumPy version: log_softmax, pick, gradient
            logp = sps.log_softmax(x, axis=-1)
            loss = -logp[np.arange(len(y)), y].mean()
            grad = np.exp(logp)
            grad[np.arange(len(y)), y] -= 1
            return loss, grad / len(y)

        return ce

    peers["scipy/numpy"] = scipy_numpy
    try:
        import torch

        torch.set_num_threads(max(1, torch.get_num_threads()))

        def torch_op(x: Any, y: Any) -> Callable[[], Any]:
            t = torch.from_numpy(x)
            if op == "softmax":
                return lambda: torch.softmax(t, -1)
            if op == "log_softmax":
                return lambda: torch.log_softmax(t, -1)
            if op == "logsumexp":
                return lambda: torch.logsumexp(t, -1)
            ty = torch.from_numpy(y)

            def ce() -> Any:
                z = t.detach().requires_grad_(True)
                loss = torch.nn.functional.cross_entropy(z, ty)
                (g,) = torch.autograd.grad(loss, z)
                return loss, g

            return ce

        peers["pytorch"] = torch_op
    except ImportError:
        pass
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        def jax_op(x: Any, y: Any) -> Callable[[], Any]:
            jx = jnp.asarray(x)
            if op == "softmax":
                f = jax.jit(lambda a: jax.nn.softmax(a, axis=-1))
            elif op == "log_softmax":
                f = jax.jit(lambda a: jax.nn.log_softmax(a, axis=-1))
            elif op == "logsumexp":
                f = jax.jit(lambda a: jax.nn.logsumexp(a, axis=-1))
            else:
                jy = jnp.asarray(y)

                def loss(a: Any, labels: Any) -> Any:
                    logp = jax.nn.log_softmax(a, axis=-1)
                    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))

                g = jax.jit(jax.value_and_grad(loss))
                # labels as an argument: closed over, XLA would constant-fold the scatter
                return lambda: jax.block_until_ready(g(jx, jy))
            return lambda: jax.block_until_ready(f(jx))

        peers["jax"] = jax_op
    except ImportError:
        pass
    return peers


SETTLE = 0.0  # seconds of sleep before each timed call (set from --settle)


def interleaved_samples(
    calls: dict[str, Callable[[], Any]], repeats: int
) -> dict[str, list[float]]:
    """Each call's times in seconds, the calls interleaved (one of each in turn)."""
    for call in calls.values():  # warm up: compile, allocate, fault in pages
        call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():  # interleaved: one of each in turn
            gc.collect()
            if SETTLE:
                time.sleep(SETTLE)
            start = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - start)
    return samples


def _time(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    return {name: statistics.median(v) for name, v in interleaved_samples(calls, repeats).items()}


def _quartiles(v: list[float]) -> tuple[float, float]:
    """The first and third quartiles of a call's times: how far the machine moved
    while it was measured (on a shared machine, as much as the medians differ)."""
    if len(v) < 2:
        return v[0], v[0]
    q = statistics.quantiles(v, n=4, method="inclusive")
    return q[0], q[2]


def jacobian_section(repeats: int, quick: bool) -> list[dict[str, Any]]:
    """The batched Jacobian against autodiff, and vectorized against iterative."""
    rng = np.random.default_rng(1)
    n, k = (256, 256) if quick else (4096, 256)
    s = sk.softmax(rng.normal(size=(n, k)))
    calls: dict[str, Callable[[], Any]] = {"softmaxkit": lambda: sk.softmax_jacobian(s)}
    try:
        import torch

        ts = torch.from_numpy(s)
        jac = torch.func.vmap(torch.func.jacrev(lambda r: torch.softmax(r, -1)))
        calls["pytorch vmap(jacrev)"] = lambda: jac(ts)
    except ImportError:
        pass
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        js = jnp.asarray(s)
        jj = jax.jit(jax.vmap(jax.jacfwd(jax.nn.softmax)))
        calls["jax vmap(jacfwd)"] = lambda: jax.block_until_ready(jj(js))
    except ImportError:
        pass
    times = _time(calls, repeats)
    ours = times["softmaxkit"]
    out = []
    print(f"softmax_jacobian, batch {n} x {k}, float64 (ratio = time / softmaxkit)")
    for name, t in times.items():
        print(f"  {name:<22}{t * 1e3:>10.1f} ms{t / ours:>8.1f}")
        out.append(
            {"operation": "softmax_jacobian", "shape": [n, k], "library": name, "seconds": t}
        )
    row = sk.softmax(rng.normal(size=512))
    t_vec = _time({"v": lambda: sk.softmax_jacobian(row)}, repeats)["v"]
    t_loop = _time({"l": lambda: sk.softmax_jacobian_iterative(row)}, 1)["l"]
    print(
        f"  K = 512: vectorized {t_vec * 1e3:.2f} ms, iterative {t_loop * 1e3:.0f} ms, "
        f"{t_loop / t_vec:.0f}x"
    )
    out.append(
        {"operation": "jacobian_iterative_over_vectorized", "K": 512, "ratio": t_loop / t_vec}
    )
    print()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--only-jacobian", action="store_true", help="just the Jacobian section")
    parser.add_argument(
        "--settle", type=float, default=0.0, help="seconds of sleep before each timed call"
    )
    parser.add_argument("--only", help="just this operation (softmax, ce_loss_grad, ...)")
    parser.add_argument("--shape", help="just this shape, rows x classes (100000x100, ...)")
    args = parser.parse_args()
    global SETTLE
    SETTLE = args.settle
    if args.only_jacobian:
        jacobian_section(args.repeats, args.quick)
        return
    rng = np.random.default_rng(0)
    results = []
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; medians of "
        f"{args.repeats} interleaved runs; ratio = time / copy floor"
    )
    header = (
        f"{'operation':<14}{'shape':<18}{'dtype':<9}{'library':<13}"
        f"{'time [ms]':>10}{'q1-q3 [ms]':>14}{'x copy':>8}{'x best peer':>12}"
    )
    print(header)
    print("-" * len(header))
    for op, shape, dtype in SHAPES:
        if args.only and op != args.only:
            continue
        if args.shape and args.shape != f"{shape[0]}x{shape[1]}":
            continue
        if args.quick:
            shape = (max(1, shape[0] // 16), shape[1])
        x = rng.normal(scale=3.0, size=shape).astype(dtype)
        y = rng.integers(0, shape[1], size=shape[0])
        calls = {"copy": x.copy}
        for name, make in _peers(op).items():
            calls[name] = make(x, y)
        samples = interleaved_samples(calls, args.repeats)
        times = {name: statistics.median(v) for name, v in samples.items()}
        floor = times.pop("copy")
        peers = {k: v for k, v in times.items() if k not in ("softmaxkit", "sk numpy")}
        best_peer = min(peers.values()) if peers else float("nan")
        for name, t in times.items():
            q1, q3 = _quartiles(samples[name])
            spread = f"{q1 * 1e3:.1f}-{q3 * 1e3:.1f}"
            print(
                f"{op:<14}{shape!s:<18}{dtype:<9}{name:<13}{t * 1e3:>10.1f}{spread:>14}"
                f"{t / floor:>8.2f}{t / best_peer:>12.2f}"
            )
            results.append(
                {
                    "operation": op,
                    "shape": list(shape),
                    "dtype": dtype,
                    "library": name,
                    "seconds": t,
                    "q1_seconds": q1,
                    "q3_seconds": q3,
                    "ratio_to_copy": t / floor,
                    "ratio_to_best_peer": t / best_peer,
                    "copy_seconds": floor,
                    "copy_q1_q3_seconds": list(_quartiles(samples["copy"])),
                }
            )
        print()
    if not (args.only or args.shape):  # a filter asks for those rows alone
        results.extend(jacobian_section(args.repeats, args.quick))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
