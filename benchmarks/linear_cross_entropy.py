"""The output layer and its cross-entropy, forward + backward: fused against unfused, one process.

For ``h`` (N, D), ``W`` (K, D) in float32 and integer labels (``--soft``: also
probability targets), each step computes the mean loss and the gradients of
``h`` and ``W``:

- NumPy: ``softmaxkit.linear_cross_entropy_with_grad`` against the three matrix
  products alone (``h W^T``, ``G W``, ``G^T h``: the floor of any implementation);
- PyTorch (eager, CPU or ``--device cuda``): ``softmaxkit.linear_cross_entropy`` +
  ``backward()`` against ``F.linear`` + ``F.cross_entropy`` (unfused) and
  ``F.linear_cross_entropy`` with its default options;
- JAX (``--jax``): ``jit(value_and_grad(...))`` of ours against ``h @ W.T`` and
  optax's ``softmax_cross_entropy_with_integer_labels``.

Time: calls interleaved (one of each in turn), median of ``--repeats`` after one
warm-up, and the ratio ours / competitor. Memory: each method once more in a
fresh subprocess, reporting its peak resident memory above the inputs (Linux's
``VmHWM``, reset once the inputs exist, minus the resident size then); on CUDA,
``torch.cuda.max_memory_allocated`` above the inputs.

Run: ``python benchmarks/linear_cross_entropy.py [--repeats 3] [--quick] [--soft]
[--jax] [--only numpy|torch] [--device cuda] [--json out.json]``. ``--quick`` uses
N = 1,024 instead of 8,192.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from autodiff import _time  # the same interleaved timing (this folder is on sys.path)

SHAPES = [(8192, 1024, 32000), (8192, 1024, 128256)]


def _inputs(n: int, d: int, k: int, soft: bool) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    h = rng.standard_normal((n, d), dtype=np.float32)
    W = rng.standard_normal((k, d), dtype=np.float32) * np.float32(0.02)
    if soft:
        # probability rows with most mass on one class (a distillation target)
        t = np.full((n, k), 0.1 / (k - 1), dtype=np.float32)
        t[np.arange(n), rng.integers(0, k, n)] = 0.9
    else:
        t = rng.integers(0, k, n)
    return h, W, t


def numpy_calls(h: np.ndarray, W: np.ndarray, t: np.ndarray) -> dict[str, Callable[[], Any]]:
    import softmaxkit as sk

    def products() -> Any:
        z = h @ W.T  # the logits; then G (here z itself) times W and its transpose times h
        return z @ W, z.T @ h

    return {
        "numpy: 3 products alone": products,
        "numpy: softmaxkit": lambda: sk.linear_cross_entropy_with_grad(h, W, t),
    }


def torch_calls(
    h: np.ndarray, W: np.ndarray, t: np.ndarray, device: str
) -> dict[str, Callable[[], Any]]:
    import torch
    import torch.nn.functional as fn

    import softmaxkit as sk

    ht = torch.tensor(h, device=device, requires_grad=True)
    Wt = torch.tensor(W, device=device, requires_grad=True)
    tt = torch.tensor(t, device=device)

    def step(loss_fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            ht.grad = Wt.grad = None
            loss_fn().backward()
            if device == "cuda":
                torch.cuda.synchronize()
            return ht.grad

        return run

    return {
        "torch: F.linear + F.cross_entropy": step(lambda: fn.cross_entropy(fn.linear(ht, Wt), tt)),
        "torch: F.linear_cross_entropy": step(lambda: fn.linear_cross_entropy(ht, Wt, tt)),
        "torch: softmaxkit": step(lambda: sk.linear_cross_entropy(ht, Wt, tt)),
    }


def jax_calls(h: np.ndarray, W: np.ndarray, t: np.ndarray) -> dict[str, Callable[[], Any]]:
    import jax
    import jax.numpy as jnp
    import optax

    import softmaxkit as sk

    hj, Wj, tj = jnp.asarray(h), jnp.asarray(W), jnp.asarray(t)
    soft = t.ndim == 2

    def unfused(h: Any, W: Any) -> Any:
        z = h @ W.T
        if soft:
            return optax.softmax_cross_entropy(z, tj).mean()
        return optax.softmax_cross_entropy_with_integer_labels(z, tj).mean()

    def ours(h: Any, W: Any) -> Any:
        return sk.linear_cross_entropy(h, W, tj)

    def step(fn: Callable[..., Any]) -> Callable[[], Any]:
        vg = jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))
        return lambda: jax.block_until_ready(vg(hj, Wj))

    return {"jax: h @ W.T + optax": step(unfused), "jax: softmaxkit": step(ours)}


def _calls(args: argparse.Namespace, h: Any, W: Any, t: Any) -> dict[str, Callable[[], Any]]:
    calls: dict[str, Callable[[], Any]] = {}
    if args.only in (None, "numpy") and args.device == "cpu":
        calls.update(numpy_calls(h, W, t))
    if args.only in (None, "torch"):
        calls.update(torch_calls(h, W, t, args.device))
    if args.jax:
        calls.update(jax_calls(h, W, t))
    return calls


def _status(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _memory_worker(args: argparse.Namespace) -> None:
    """One method, once, in this fresh process: print its peak memory above the inputs."""
    n, d, k = args.shape
    h, W, t = _inputs(n, d, k, args.soft)
    family = args.memory_of.split(":")[0]
    args.only = family if family in ("numpy", "torch") else "none"
    args.jax = family == "jax"
    call = _calls(args, h, W, t)[args.memory_of]
    if args.device == "cuda":
        import torch

        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        call()
        print(torch.cuda.max_memory_allocated() - base)
        return
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident size (VmHWM) to the current one
    base = _status("VmRSS")
    call()
    print(_status("VmHWM") - base)


def _memory(args: argparse.Namespace, name: str, shape: tuple[int, int, int]) -> int:
    cmd = [sys.executable, __file__, "--memory-of", name, "--shape", *map(str, shape)]
    cmd += ["--device", args.device] + (["--soft"] if args.soft else [])
    cmd += ["--jax"] if args.jax else []
    cmd += ["--only", args.only] if args.only else []
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="N = 1,024 rows")
    parser.add_argument("--soft", action="store_true", help="probability targets")
    parser.add_argument("--jax", action="store_true", help="also JAX (jit, CPU)")
    parser.add_argument("--only", choices=["numpy", "torch", "none"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--k", type=int, nargs="*", help="only these numbers of classes")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)
    parser.add_argument("--shape", type=int, nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:
        _memory_worker(args)
        return

    import torch

    print(f"CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}")
    print(f"targets: {'probabilities' if args.soft else 'integer labels'}, float32\n")
    results = []
    for n, d, k in SHAPES:
        if args.k and k not in args.k:
            continue
        n = 1024 if args.quick else n
        h, W, t = _inputs(n, d, k, args.soft)
        medians = _time(_calls(args, h, W, t), args.repeats)
        del h, W, t
        gc.collect()
        logits = n * k * 4
        print(f"N={n} D={d} K={k}  (the logits: {logits / 2**30:.2f} GiB)")
        peaks = {name: _memory(args, name, (n, d, k)) for name in medians}
        base: dict[str, float] = {}
        for name, seconds in medians.items():
            family = name.split(":")[0]
            base.setdefault(family, seconds)
            line = (
                f"  {name:38s} {seconds:8.3f} s   peak above inputs {peaks[name] / 2**30:6.2f} GiB"
            )
            print(line)
        for name, seconds in medians.items():
            if "softmaxkit" not in name:
                continue
            family = name.split(":")[0]
            for other, theirs in medians.items():
                if other.startswith(family) and other != name:
                    print(f"  ratio {name} / {other}: {seconds / theirs:.2f}")
        results.append({"shape": [n, d, k], "seconds": medians, "peak_bytes": peaks})
        print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
