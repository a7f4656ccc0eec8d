"""The public functions on GPU arrays: PyTorch CUDA, CuPy and JAX on a GPU.

These run only where a GPU and the library are present (they are skipped on
the CPU-only CI machine, and run on a GPU machine with
``python -m pytest tests/test_gpu.py``). Each checks that results stay on the
input's device with the input's dtype, equal the NumPy float64 results, and
follow the edge-case policy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import softmaxkit as sk

INF, NAN = math.inf, math.nan


def _cuda_torch() -> Any:
    """PyTorch, or a skip where it or a CUDA device is missing."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch


def _torch_cuda() -> Any:
    torch = _cuda_torch()
    dev = torch.device("cuda")

    class B:
        name = "torch-cuda"
        dtypes = ("float32", "float64", "bfloat16", "float16")

        @staticmethod
        def asarray(a: np.ndarray, dtype: str | None = None) -> Any:
            t = torch.asarray(np.asarray(a, dtype=None if dtype == "bfloat16" else dtype).copy())
            t = t.to(dev)
            return t.to(torch.bfloat16) if dtype == "bfloat16" else t

        @staticmethod
        def to_numpy(a: Any) -> np.ndarray:
            a = a.detach().cpu()
            return (a.float() if a.dtype == torch.bfloat16 else a).numpy()

        @staticmethod
        def same_device(a: Any, b: Any) -> bool:
            return a.device == b.device and a.is_cuda

    return B


def _cupy() -> Any:
    cp = pytest.importorskip("cupy")
    try:
        cp.cuda.runtime.getDeviceCount()
    except Exception:  # pragma: no cover - depends on the machine
        pytest.skip("no CUDA device for CuPy")

    class B:
        name = "cupy"
        dtypes = ("float32", "float64", "float16")

        @staticmethod
        def asarray(a: np.ndarray, dtype: str | None = None) -> Any:
            return cp.asarray(np.asarray(a, dtype=dtype))

        @staticmethod
        def to_numpy(a: Any) -> np.ndarray:
            return cp.asnumpy(a)

        @staticmethod
        def same_device(a: Any, b: Any) -> bool:
            return isinstance(a, cp.ndarray) and a.device == b.device

    return B


def _jax_gpu() -> Any:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        pytest.skip("no GPU for JAX")
    import jax.numpy as jnp

    class B:
        name = "jax-gpu"
        dtypes = ("float32", "float64", "bfloat16")

        @staticmethod
        def asarray(a: np.ndarray, dtype: str | None = None) -> Any:
            a = np.asarray(a, dtype=None if dtype == "bfloat16" else dtype)
            x = jax.device_put(jnp.asarray(a), gpus[0])
            return x.astype(jnp.bfloat16) if dtype == "bfloat16" else x

        @staticmethod
        def to_numpy(a: Any) -> np.ndarray:
            return np.asarray(a.astype(jnp.float32) if a.dtype == jnp.bfloat16 else a)

        @staticmethod
        def same_device(a: Any, b: Any) -> bool:
            return a.devices() == b.devices()

    return B


@pytest.fixture(params=["torch-cuda", "cupy", "jax-gpu"])
def gpu(request: pytest.FixtureRequest) -> Any:
    return {"torch-cuda": _torch_cuda, "cupy": _cupy, "jax-gpu": _jax_gpu}[request.param]()


TOL = {"bfloat16": 2e-2, "float16": 2e-3, "float32": 5e-6, "float64": 1e-13}


@pytest.mark.parametrize(
    "fn", [sk.softmax, sk.log_softmax, sk.logsumexp, sk.sigmoid, sk.log_sigmoid, sk.entropy]
)
def test_elementwise_and_row_functions_stay_on_device(gpu, fn):
    rng = np.random.default_rng(0)
    data = rng.normal(scale=3.0, size=(64, 33))
    if fn is sk.entropy:
        data = sk.softmax(data)
    for dt in gpu.dtypes:
        x = gpu.asarray(data, dtype=dt)
        out = fn(x)
        assert gpu.same_device(out, x)
        assert out.dtype == x.dtype
        ref = fn(gpu.to_numpy(x).astype(np.float64))
        np.testing.assert_allclose(gpu.to_numpy(out), ref, rtol=TOL[dt], atol=TOL[dt])


def test_edge_cases_on_device(gpu):
    rows = np.array([[-INF, -INF, -INF], [INF, 0.0, INF], [NAN, 0.0, 1.0], [1e300, -1e300, 0.0]])
    x = gpu.asarray(rows)
    s = gpu.to_numpy(sk.softmax(x))
    np.testing.assert_array_equal(s[0], 0.0)
    np.testing.assert_array_equal(s[1], [0.5, 0.0, 0.5])
    assert np.all(np.isnan(s[2]))
    np.testing.assert_array_equal(s[3], [1.0, 0.0, 0.0])
    ls = gpu.to_numpy(sk.log_softmax(x))
    np.testing.assert_array_equal(ls[0], -INF)
    np.testing.assert_array_equal(ls[3], [0.0, -2e300, -1e300])
    lse = gpu.to_numpy(sk.logsumexp(x))
    assert lse[0] == -INF
    assert lse[1] == INF
    assert np.isnan(lse[2])
    assert lse[3] == 1e300


def test_loss_grad_and_jacobian_on_device(gpu):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(128, 10))
    labels = rng.integers(0, 10, size=128)
    cw = rng.uniform(0.5, 2.0, size=10)
    ref_loss, ref_grad = sk.softmax_cross_entropy_with_grad(
        logits, labels, class_weight=cw, label_smoothing=0.1
    )
    z, y, w = gpu.asarray(logits), gpu.asarray(labels), gpu.asarray(cw)
    loss, grad = sk.softmax_cross_entropy_with_grad(z, y, class_weight=w, label_smoothing=0.1)
    assert gpu.same_device(loss, z)
    assert gpu.same_device(grad, z)
    np.testing.assert_allclose(float(gpu.to_numpy(loss)), ref_loss, rtol=1e-13)
    np.testing.assert_allclose(gpu.to_numpy(grad), ref_grad, rtol=1e-12, atol=1e-16)
    s = sk.softmax(z)
    J = sk.softmax_jacobian(s)
    assert gpu.same_device(J, z)
    np.testing.assert_allclose(
        gpu.to_numpy(J), sk.softmax_jacobian(sk.softmax(logits)), rtol=1e-13, atol=1e-17
    )
    v = gpu.asarray(rng.normal(size=(128, 10)))
    np.testing.assert_allclose(
        gpu.to_numpy(sk.softmax_vjp(s, v)),
        np.einsum("bi,bij->bj", gpu.to_numpy(v), gpu.to_numpy(J)),
        rtol=1e-12,
        atol=1e-15,
    )


def test_bad_labels_on_device_give_nan_rows_without_a_host_read(gpu):
    # Reading labels on a device would wait for it: not checked there (docs/gradients.md);
    # the invalid row is NaN instead, the valid one is log(3).
    out = sk.softmax_cross_entropy(
        gpu.asarray(np.zeros((2, 3))), gpu.asarray(np.array([0, 12])), reduction="none"
    )
    values = gpu.to_numpy(out)
    assert math.isclose(values[0], math.log(3), rel_tol=1e-12)
    assert math.isnan(values[1])


def test_torch_autograd_on_cuda_matches_fused_gradient():
    torch = _cuda_torch()
    rng = np.random.default_rng(2)
    logits = torch.asarray(rng.normal(size=(256, 50)), device="cuda", requires_grad=True)
    labels = torch.asarray(rng.integers(0, 50, size=256), device="cuda")
    loss = sk.softmax_cross_entropy(logits, labels, label_smoothing=0.05)
    (auto,) = torch.autograd.grad(loss, logits)
    fused = sk.softmax_cross_entropy_grad(logits.detach(), labels, label_smoothing=0.05)
    assert fused.is_cuda
    torch.testing.assert_close(fused, auto, rtol=1e-12, atol=1e-15)
    ref = torch.nn.functional.cross_entropy(logits.detach(), labels, label_smoothing=0.05)
    torch.testing.assert_close(loss.detach(), ref, rtol=1e-12, atol=0)


def test_torch_cuda_forward_and_backward_never_synchronise():
    # PyTorch raises on any host synchronisation in this mode: the value checks,
    # fast-path decisions and backward passes must all stay on the device.
    torch = _cuda_torch()
    rng = np.random.default_rng(3)
    z = torch.asarray(rng.normal(size=(512, 100)), device="cuda", requires_grad=True)
    y = torch.asarray(rng.integers(0, 100, size=512), device="cuda")
    p = torch.softmax(torch.asarray(rng.normal(size=(512, 100)), device="cuda"), -1)
    w = torch.rand(512, device="cuda", dtype=torch.float64)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        losses = [
            sk.softmax_cross_entropy(z, y, sample_weight=w, label_smoothing=0.1),
            sk.softmax_cross_entropy(z, p),
            sk.softmax(z).square().sum(),
            sk.log_softmax(z, temperature=2.0)[:, 0].sum(),
            sk.logsumexp(z).sum(),
            sk.kl_divergence(p, sk.softmax(z)).sum(),
        ]
        for loss in losses:
            torch.autograd.grad(loss, z)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    ref = torch.nn.functional.cross_entropy(z.detach(), p)
    torch.testing.assert_close(losses[1].detach(), ref, rtol=1e-12, atol=0)


def test_linear_cross_entropy_on_device(gpu):
    """Values and the three gradients on the device, against NumPy float64."""
    rng = np.random.default_rng(4)
    h, W, b = rng.normal(size=(300, 16)), rng.normal(size=(40, 16)), rng.normal(size=40)
    labels = rng.integers(0, 40, size=300)
    opts = {"label_smoothing": 0.1, "z_loss": 0.01, "chunk_size": (64, 16)}
    ref = sk.linear_cross_entropy_with_grad(h, W, labels, bias=b, **opts)
    args = [gpu.asarray(a) for a in (h, W, labels)]
    out = sk.linear_cross_entropy_with_grad(*args, bias=gpu.asarray(b), **opts)
    for got, want in zip(out, ref, strict=True):
        assert gpu.same_device(got, args[0])
        np.testing.assert_allclose(gpu.to_numpy(got), want, rtol=1e-11, atol=1e-14)


def test_torch_cuda_linear_cross_entropy_memory_and_no_sync():
    """Forward + backward never waits for the device, and its peak memory above the
    inputs is a fraction of the unfused F.linear + F.cross_entropy's."""
    torch = _cuda_torch()
    n, d, k = 4096, 256, 32000
    h = torch.randn(n, d, device="cuda", requires_grad=True)
    W = (0.02 * torch.randn(k, d, device="cuda")).requires_grad_()
    y = torch.randint(0, k, (n,), device="cuda")

    def peak(step: Any) -> int:
        h.grad = W.grad = None
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    unfused = peak(lambda: torch.nn.functional.cross_entropy(h @ W.T, y).backward())
    ref = (h.grad.clone(), W.grad.clone())
    torch.cuda.set_sync_debug_mode("error")
    try:
        ours = peak(lambda: sk.linear_cross_entropy(h, W, y).backward())
    finally:
        torch.cuda.set_sync_debug_mode(0)
    torch.testing.assert_close(h.grad, ref[0], rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(W.grad, ref[1], rtol=1e-4, atol=1e-7)
    logits = n * k * 4
    assert unfused > 2 * logits
    assert ours < logits  # the gradients (h and W sized) and a few chunks
