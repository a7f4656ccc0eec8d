"""The delegation layer: a registered fast path is used, can decline, and can be turned off."""

from __future__ import annotations

import numpy as np
import pytest

import softmaxkit as sk
from softmaxkit import _fast


@pytest.fixture
def fake_numpy_softmax():
    calls = []

    def impl(x, *, axes, temperature, where):
        calls.append((axes, temperature, where))
        if temperature != 1.0:
            return NotImplemented  # declines: the reference runs
        return np.full(x.shape, 42.0)

    _fast.register("softmax", "numpy")(impl)
    yield calls
    _fast.unregister("softmax", "numpy")


def test_fast_path_receives_validated_arguments(fake_numpy_softmax):
    out = sk.softmax(np.array([[1, 2, 3]]), axis=-1)
    assert np.all(out == 42.0)
    assert fake_numpy_softmax == [((1,), 1.0, None)]


def test_declined_fast_path_falls_back_to_reference(fake_numpy_softmax):
    out = sk.softmax(np.array([1.0, 2.0]), temperature=2.0)
    np.testing.assert_allclose(out.sum(), 1.0)


def test_reference_only_turns_the_layer_off(fake_numpy_softmax):
    with _fast.reference_only():
        out = sk.softmax(np.array([1.0, 2.0]))
    np.testing.assert_allclose(out.sum(), 1.0)
    assert fake_numpy_softmax == []


def test_backend_names(xp):
    from softmaxkit._array import namespace

    assert _fast.backend_name(namespace(("x", xp.asarray(np.ones(2))))) == xp.name
