"""softmaxkit vs torch.softmax on a CUDA tensor: the delegation layer's overhead on a GPU.

Times ``softmaxkit.softmax`` (which calls ``torch.softmax`` and checks the output
for NaN) against ``torch.softmax`` itself on the same tensor, median of 20 runs
with CUDA synchronisation, and prints the ratio. Needs a CUDA device.

Run: ``python benchmarks/gpu.py``
"""

from __future__ import annotations

import statistics
import time

import torch

import softmaxkit as sk


def median_ms(fn, repeats: int = 20) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    print(torch.cuda.get_device_name(0))
    for shape, dtype in (
        ((4096, 32000), torch.float32),
        ((4096, 32000), torch.bfloat16),
        ((1_000_000, 10), torch.float32),
    ):
        x = torch.randn(shape, device="cuda").to(dtype)
        t_native = median_ms(lambda x=x: torch.softmax(x, -1))
        t_ours = median_ms(lambda x=x: sk.softmax(x))
        print(
            f"{shape!s:<16}{dtype!s:<16}torch {t_native:8.3f} ms   softmaxkit "
            f"{t_ours:8.3f} ms   ratio {t_ours / t_native:5.2f}"
        )


if __name__ == "__main__":
    main()
