"""PyTorch: ``torch.softmax`` where its semantics are ours, on any device.

``torch.softmax`` computes ``exp(x - max) / sum`` like the reference, so for
rows with a finite maximum the two agree to a few ulp, on the CPU and on CUDA
without a copy. Rows whose maximum is not finite (all ``-inf``, a ``+inf``
entry) come out as NaN from PyTorch; when any NaN appears, the call declines
and the reference (which handles those rows, and gives NaN only for NaN input)
runs instead. A temperature below 1 declines too: ``x / T`` could overflow
where the reference's ``(x - max) / T`` does not. ``log_softmax`` and
``logsumexp`` are not delegated: PyTorch takes ``log(sum)`` where the
reference takes ``log1p`` of the tail, so results near 0 differ by far more
than a few ulp.
"""

from __future__ import annotations

from typing import Any

import torch

from . import register


@register("softmax", "torch")
def softmax(x: Any, *, axes: tuple[int, ...], temperature: float, where: Any) -> Any:
    if len(axes) != 1 or temperature < 1.0 or x.numel() == 0:
        return NotImplemented
    z = x if where is None else x.masked_fill(~where, float("-inf"))
    if temperature != 1.0:
        z = z / temperature
    out = torch.softmax(z, dim=axes[0])
    if bool(torch.isnan(out).any()):
        return NotImplemented  # rows with a non-finite max (or NaN input): the reference
    return out
