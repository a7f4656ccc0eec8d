"""softmaxkit: the softmax family, exact at every edge, on any Array API array.

Softmax, log-softmax, log-sum-exp, sigmoid, the softmax Jacobian and its
products, softmax cross-entropy with its ``y_hat - y`` gradient, entropy,
cross-entropy and KL divergence, for NumPy, PyTorch, JAX, CuPy, Dask and any
other Array API library.
"""

from .activations import log_sigmoid, log_softmax, logsumexp, sigmoid, softmax
from .information import cross_entropy, entropy, kl_divergence
from .jacobian import (
    softmax_jacobian,
    softmax_jacobian_iterative,
    softmax_jvp,
    softmax_vjp,
)
from .losses import (
    linear_cross_entropy,
    linear_cross_entropy_with_grad,
    sigmoid_cross_entropy,
    softmax_cross_entropy,
    softmax_cross_entropy_grad,
    softmax_cross_entropy_with_grad,
)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The classifier needs scikit-learn and SciPy: import them on first use only,
    # so that `import softmaxkit` stays light.
    if name == "SoftmaxRegression":
        from .classifier import SoftmaxRegression

        return SoftmaxRegression
    raise AttributeError(f"module 'softmaxkit' has no attribute {name!r}")


__all__ = [
    "SoftmaxRegression",
    "__version__",
    "cross_entropy",
    "entropy",
    "kl_divergence",
    "linear_cross_entropy",
    "linear_cross_entropy_with_grad",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "sigmoid",
    "sigmoid_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_cross_entropy_with_grad",
    "softmax_jacobian",
    "softmax_jacobian_iterative",
    "softmax_jvp",
    "softmax_vjp",
]
