"""SoftmaxRegression: multinomial logistic regression trained on the ``y_hat - y`` gradient.

Split as scikit-learn splits ``LogisticRegression``: :mod:`._targets` (labels,
soft targets, weights), :mod:`._loss` (the objective, its gradient and
Hessian-vector product, the penalty in one place), :mod:`._solvers` (plain
functions), :mod:`._dask` (the same objective over Dask chunks, never importing
the estimator), :mod:`._estimator` (the thin estimator) and
:mod:`._model_file` (the saved form). scikit-learn and SciPy are imported here,
not by ``import softmaxkit``.
"""

from ._estimator import SoftmaxRegression

__all__ = ["SoftmaxRegression"]
