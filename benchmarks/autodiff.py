"""Forward + backward inside PyTorch and JAX: softmaxkit against the native ops, one process.

PyTorch (eager, CPU): ``softmax_cross_entropy`` against ``fn.cross_entropy`` (integer
and probability targets), ``softmax``/``log_softmax`` against ``torch.softmax``/
``torch.log_softmax``; each timed as forward + ``backward()`` with a random upstream
gradient. JAX (CPU, 64-bit on): ``jit(value_and_grad(...))`` of the same against
optax's ``softmax_cross_entropy_with_integer_labels``/``softmax_cross_entropy`` and
``jax.nn.softmax``/``jax.nn.log_softmax``. Calls are interleaved (one of each in
turn), medians reported, with the ratio ours / native (the issue's target: <= 1.2).
Also reported: bytes PyTorch keeps for backward, ours and native.

Run: ``python benchmarks/autodiff.py [--repeats 7] [--quick] [--json out.json]
[--only torch|jax] [--device cuda]`` (on a GPU: PyTorch's CUDA tensors, each step
timed to ``torch.cuda.synchronize()``).
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

CASES = [
    ("ce_labels", (4096, 1000), "float32"),
    ("ce_labels", (4096, 32000), "float32"),
    ("ce_labels", (1_000_000, 10), "float64"),
    ("ce_probs", (4096, 1000), "float32"),
    ("ce_probs", (4096, 32000), "float32"),
    ("ce_probs", (1_000_000, 10), "float64"),
    ("softmax", (4096, 1000), "float32"),
    ("softmax", (4096, 32000), "float32"),
    ("softmax", (1_000_000, 10), "float64"),
    ("log_softmax", (4096, 1000), "float32"),
    ("log_softmax", (4096, 32000), "float32"),
    ("log_softmax", (1_000_000, 10), "float64"),
]


def _time(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    for call in calls.values():  # warm up (and compile, for JAX)
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            gc.collect()
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def torch_calls(
    op: str, x: np.ndarray, y: np.ndarray, p: np.ndarray, device: str = "cpu"
) -> dict[str, Any]:
    import torch
    import torch.nn.functional as fn

    z = torch.from_numpy(x).to(device)
    labels = torch.from_numpy(y).to(device)
    probs = torch.from_numpy(p).to(device)
    upstream = torch.from_numpy(np.random.default_rng(1).random(x.shape, dtype=x.dtype))
    upstream = upstream.to(device)

    def step(fn: Callable[[Any], Any], scalar: bool) -> Callable[[], Any]:
        def run() -> Any:
            w = z.detach().requires_grad_(True)
            out = fn(w)
            if scalar:
                out.backward()
            else:
                out.backward(upstream)
            if device != "cpu":
                torch.cuda.synchronize()  # time the work, not its launch
            return w.grad

        return run

    if op == "ce_labels":
        return {
            "softmaxkit": step(lambda w: sk.softmax_cross_entropy(w, labels), True),
            "native": step(lambda w: fn.cross_entropy(w, labels), True),
        }
    if op == "ce_probs":
        return {
            "softmaxkit": step(lambda w: sk.softmax_cross_entropy(w, probs), True),
            "native": step(lambda w: fn.cross_entropy(w, probs), True),
        }
    native = torch.softmax if op == "softmax" else torch.log_softmax
    ours = sk.softmax if op == "softmax" else sk.log_softmax
    return {
        "softmaxkit": step(lambda w: ours(w), False),
        "native": step(lambda w: native(w, -1), False),
    }


def saved_bytes(op: str, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> dict[str, int]:
    import torch
    import torch.nn.functional as fn

    def measure(fn: Callable[[Any], Any]) -> int:
        seen: dict[int, int] = {}

        def pack(t: Any) -> Any:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        w = torch.from_numpy(x).requires_grad_(True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn(w)
        return sum(seen.values())

    labels, probs = torch.from_numpy(y), torch.from_numpy(p)
    if op.startswith("ce"):
        target = labels if op == "ce_labels" else probs
        return {
            "softmaxkit": measure(lambda w: sk.softmax_cross_entropy(w, target)),
            "native": measure(lambda w: fn.cross_entropy(w, target)),
        }
    native = torch.softmax if op == "softmax" else torch.log_softmax
    ours = sk.softmax if op == "softmax" else sk.log_softmax
    return {"softmaxkit": measure(ours), "native": measure(lambda w: native(w, -1))}


def jax_calls(op: str, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import optax

    z, labels, probs = jnp.asarray(x), jnp.asarray(y), jnp.asarray(p)
    upstream = jnp.asarray(np.random.default_rng(1).random(x.shape, dtype=x.dtype))

    def vg(fn: Callable[[Any], Any]) -> Callable[[], Any]:
        f = jax.jit(jax.value_and_grad(fn))
        return lambda: jax.block_until_ready(f(z))

    if op == "ce_labels":
        return {
            "softmaxkit": vg(lambda w: sk.softmax_cross_entropy(w, labels)),
            "native": vg(
                lambda w: optax.softmax_cross_entropy_with_integer_labels(w, labels).mean()
            ),
        }
    if op == "ce_probs":
        return {
            "softmaxkit": vg(lambda w: sk.softmax_cross_entropy(w, probs)),
            "native": vg(lambda w: optax.softmax_cross_entropy(w, probs).mean()),
        }
    native = jax.nn.softmax if op == "softmax" else jax.nn.log_softmax
    ours = sk.softmax if op == "softmax" else sk.log_softmax
    return {
        "softmaxkit": vg(lambda w: jnp.sum(ours(w) * upstream)),
        "native": vg(lambda w: jnp.sum(native(w) * upstream)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="shapes 16x smaller")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--only", choices=["torch", "jax"], help="one framework")
    parser.add_argument(
        "--device", default="cpu", help="PyTorch device, e.g. cuda (JAX uses its default)"
    )
    args = parser.parse_args()

    import jax

    jax.config.update("jax_enable_x64", True)
    import torch

    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; jax {jax.__version__}"
    )
    rows = []
    header = (
        f"{'framework':9} {'op':12} {'shape':>14} {'dtype':8} "
        f"{'ours ms':>9} {'native ms':>10} {'ratio':>6}"
    )
    print(header)
    rng = np.random.default_rng(0)
    for op, shape, dtype in CASES:
        if args.quick:
            shape = (max(1, shape[0] // 16), shape[1])
        x = (rng.standard_normal(shape) * 3).astype(dtype)
        y = rng.integers(0, shape[1], shape[0])
        p = sk.softmax(rng.standard_normal(shape).astype(dtype))
        frameworks = [("torch", torch_calls), ("jax", jax_calls)]
        for name, make in frameworks:
            if args.only and name != args.only:
                continue
            calls = torch_calls(op, x, y, p, args.device) if name == "torch" else make(op, x, y, p)
            medians = _time(calls, args.repeats)
            ratio = medians["softmaxkit"] / medians["native"]
            row = {
                "framework": name,
                "op": op,
                "shape": list(shape),
                "dtype": dtype,
                "ours_s": medians["softmaxkit"],
                "native_s": medians["native"],
                "ratio": ratio,
            }
            if name == "torch" and args.device == "cpu":
                row["saved_bytes"] = saved_bytes(op, x, y, p)
            rows.append(row)
            print(
                f"{name:9} {op:12} {shape!s:>14} {dtype:8} "
                f"{medians['softmaxkit'] * 1e3:9.2f} {medians['native'] * 1e3:10.2f} {ratio:6.2f}"
            )
    print("\nbytes kept for backward (PyTorch): ours / native")
    for row in rows:
        if "saved_bytes" in row:
            b = row["saved_bytes"]
            shape = str(tuple(row["shape"]))
            print(f"  {row['op']:12} {shape:>14} {b['softmaxkit']:>14,} / {b['native']:>14,}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
