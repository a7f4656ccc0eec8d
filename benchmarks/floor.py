"""Where the short rows' time goes: the compiled core against a copy, into a fresh
output and into an existing one, on one thread and on two.

``python benchmarks/floor.py`` (1,000,000 x 10 float64 log_softmax by default)
prints medians of interleaved calls: the copy (``x.copy()``, and into an existing
array), the library's call, the core on threads of this script's own into an
existing output and into a fresh one, and the cost of faulting in a fresh
output's pages alone (one element written per 4 KB page, upwards or downwards).
A fresh output's pages are zeroed by the system when first written, which is CPU
time of its own, and zeroing a 2 MB page first touched near its start costs
more than one first touched near its end, the way the core now writes. See
docs/performance.md ("Third round", "Fourth round").
"""

from __future__ import annotations

import argparse
import statistics
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from run import interleaved_samples  # this directory's benchmark: the same timing

import softmaxkit as sk
from softmaxkit._fast import numpy as numpy_fast

KINDS = {"softmax": 0, "log_softmax": 1}


def _core_call(x: np.ndarray, kind: int, threads: int, out: np.ndarray | None) -> Callable[[], Any]:
    """The core over the library's blocks of rows (4 MB, meeting at the output's
    pages) taken from a shared queue by ``threads`` threads started for the call;
    into ``out``, or a fresh array when it is None."""
    core = numpy_fast._compiled
    assert core is not None
    n, k = x.shape

    def call() -> np.ndarray:
        o = np.empty_like(x) if out is None else out
        blocks = iter(numpy_fast._block_bounds(n, k, x.itemsize, True, o))
        lock = threading.Lock()

        def run() -> None:
            while True:
                with lock:
                    block = next(blocks, None)
                if block is None:
                    return
                s, e = block
                core.rows(kind, x[s:e], o[s:e], np.zeros(e - s, dtype=np.uint8), 1.0)

        workers = [threading.Thread(target=run) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return o

    return call


def _touch(x: np.ndarray, page: int, upwards: bool) -> None:
    """Fault in a fresh array like ``x`` alone: one element per 4 KB page written,
    from the first page to the last, or 1 MB at a time from the last MB to the first
    (so that every 2 MB page is first touched in its upper half; a negative stride
    would not do: NumPy fills in memory order). The system zeroes a 2 MB page at its
    first touch, from the end away from that touch towards it."""
    flat = np.empty_like(x).reshape(-1)
    if upwards:
        flat[::page].fill(0)
        return
    step = page * 256  # 1 MB
    for start in range(len(flat) - len(flat) % step, -1, -step):
        flat[start : start + step : page].fill(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--op", default="log_softmax", choices=sorted(KINDS))
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    if numpy_fast._compiled is None:
        raise SystemExit("the compiled core is not built: nothing to measure")
    rng = np.random.default_rng(0)
    x = rng.normal(scale=3.0, size=(args.rows, args.classes)).astype(args.dtype)
    existing = np.empty_like(x)
    kind = KINDS[args.op]
    page = 4096 // x.itemsize
    calls: dict[str, Callable[[], Any]] = {
        "copy, fresh output": x.copy,
        "copy, existing output": lambda: np.copyto(existing, x),
        f"softmaxkit.{args.op}": lambda: getattr(sk, args.op)(x, axis=-1),
        "core, 1 thread, existing": _core_call(x, kind, 1, existing),
        "core, 1 thread, fresh": _core_call(x, kind, 1, None),
        "core, 2 threads, existing": _core_call(x, kind, 2, existing),
        "core, 2 threads, fresh": _core_call(x, kind, 2, None),
        "fresh pages, touched upwards": lambda: _touch(x, page, upwards=True),
        "fresh pages, touched downwards": lambda: _touch(x, page, upwards=False),
    }
    samples = interleaved_samples(calls, args.repeats)
    copy = statistics.median(samples["copy, fresh output"])
    print(
        f"{args.op}, {args.rows} x {args.classes} {args.dtype}, medians of {args.repeats} "
        f"interleaved calls (core: {numpy_fast._compiled.isa()})"
    )
    for name, v in samples.items():
        t = statistics.median(v)
        print(f"  {name:<30}{t * 1e3:>8.1f} ms{t / copy:>7.2f}x the fresh copy")


if __name__ == "__main__":
    main()
