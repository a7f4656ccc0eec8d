"""SoftmaxRegression: the scikit-learn contract, agreement with LogisticRegression,
soft targets, mini-batches, weights, calibration, the model file and bad input."""

from __future__ import annotations

import io
import math
import os
import pickle
import sys
import warnings
import zipfile

import numpy as np
import pytest
import scipy.sparse
from sklearn.datasets import load_digits, load_iris, load_wine, make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import compute_class_weight
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

import softmaxkit as sk
from softmaxkit import SoftmaxRegression
from softmaxkit.classifier import _loss, _targets


def _standardized(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


# --------------------------------------------------------------------------------------
# the scikit-learn contract, with no expected failures declared


@parametrize_with_checks(
    [
        SoftmaxRegression(),
        SoftmaxRegression(solver="newton-cg", label_smoothing=0.1),
        # elastic net: lbfgs on W+ - W-, and the proximal saga
        SoftmaxRegression(C=0.5, l1_ratio=0.5),
        SoftmaxRegression(solver="saga", C=0.1, l1_ratio=0.3, tol=1e-10, random_state=0),
        # the mini-batch path that partial_fit and sparse streams use
        SoftmaxRegression(solver="adam", random_state=0, max_iter=200, tol=1e-3),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    if estimator.solver in ("saga", "adam"):
        # the checks' small unscaled sets are slow for first-order solvers, which say
        # so (ConvergenceWarning): the contract under test is the API, not the speed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            check(estimator)
    else:
        check(estimator)


def test_pipeline_grid_search_and_cross_val_score():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), SoftmaxRegression())
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.9
    grid = GridSearchCV(pipe, {"softmaxregression__C": [0.1, 1.0]}, cv=3).fit(X, y)
    assert grid.best_params_["softmaxregression__C"] in (0.1, 1.0)


# --------------------------------------------------------------------------------------
# the same objective as LogisticRegression


@pytest.mark.parametrize("loader", [load_iris, load_wine, load_digits])
@pytest.mark.parametrize("C", [0.1, 1.0])
def test_matches_logistic_regression(loader, C):
    X, y = _standardized(loader)
    ref = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    ours = SoftmaxRegression(C=C).fit(X, y)
    # Evaluate scikit-learn's solution under our objective: same formula, same C.
    theirs = SoftmaxRegression(C=C).fit(X, y)
    theirs.classes_, theirs.coef_, theirs.intercept_ = ref.classes_, ref.coef_, ref.intercept_
    f_ref, f_ours = theirs.objective(X, y), ours.objective(X, y)
    assert abs(f_ours - f_ref) <= 1e-6 * f_ref
    assert f_ours >= f_ref * (1 - 1e-9)  # not below the optimum: same objective
    tight = SoftmaxRegression(C=C, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(tight.predict_proba(X), ref.predict_proba(X), atol=1e-4)
    newton = SoftmaxRegression(C=C, solver="newton-cg").fit(X, y)
    np.testing.assert_allclose(newton.predict_proba(X), ref.predict_proba(X), atol=1e-4)
    assert abs(newton.objective(X, y) - f_ref) <= 1e-6 * f_ref


def test_objective_value_is_the_documented_formula():
    X, y = _standardized(load_wine)
    model = SoftmaxRegression(C=0.5).fit(X, y)
    Z = X @ model.coef_.T + model.intercept_
    # Written out from the docstring, with scipy's log_softmax as the oracle.
    from scipy.special import log_softmax

    ce = -np.mean(log_softmax(Z, axis=1)[np.arange(len(y)), np.searchsorted(model.classes_, y)])
    expected = ce + np.sum(model.coef_**2) / (2 * 0.5 * len(y))
    assert model.objective(X, y) == pytest.approx(expected, rel=1e-12)


def test_training_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = rng.integers(0, 4, size=40)
    sw = rng.uniform(0.5, 2.0, size=40)
    model = SoftmaxRegression(C=0.7, class_weight="balanced", label_smoothing=0.1).fit(
        X, y, sample_weight=sw
    )
    t = _targets.build(y, model.classes_, sw, "balanced", len(y), X.dtype)
    total = float(np.sum(sw * t.class_weight[t.target]))
    assert t.total == pytest.approx(total)
    loss = _loss.LinearSoftmaxLoss(
        X, t, alpha=1.0 / (0.7 * total), fit_intercept=True, label_smoothing=0.1
    )
    fun = loss.loss_gradient
    params = rng.normal(size=4 * 3 + 4)  # W and the intercept
    _, grad = fun(params)
    h = 1e-6
    fd = np.array(
        [(fun(params + h * e)[0] - fun(params - h * e)[0]) / (2 * h) for e in np.eye(len(params))]
    )
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    # and the Hessian-vector product of newton-cg against differences of the gradient
    hessp = loss.hessp
    v = rng.normal(size=len(params))
    fd_hv = (fun(params + h * v)[1] - fun(params - h * v)[1]) / (2 * h)
    np.testing.assert_allclose(hessp(params, v), fd_hv, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------------------
# soft targets and label smoothing


def test_one_hot_probabilities_give_the_same_model_as_labels():
    X, y = _standardized(load_wine)
    labels = SoftmaxRegression(C=1.0, tol=1e-9).fit(X, y)
    onehot = np.eye(3)[y]
    soft = SoftmaxRegression(C=1.0, tol=1e-9).fit(X, onehot)
    np.testing.assert_array_equal(soft.classes_, [0, 1, 2])
    np.testing.assert_allclose(soft.coef_, labels.coef_, atol=1e-6)
    np.testing.assert_allclose(soft.predict_proba(X), labels.predict_proba(X), atol=1e-7)


def test_soft_targets_and_label_smoothing_make_the_model_less_confident():
    X, y = _standardized(load_iris)
    hard = SoftmaxRegression(C=10.0).fit(X, y)
    smooth = SoftmaxRegression(C=10.0, label_smoothing=0.2).fit(X, y)
    conf_hard = hard.predict_proba(X).max(axis=1).mean()
    conf_smooth = smooth.predict_proba(X).max(axis=1).mean()
    assert conf_smooth < conf_hard
    assert sk.entropy(smooth.predict_proba(X)).mean() > sk.entropy(hard.predict_proba(X)).mean()
    # label_smoothing=eps is the same as fitting the smoothed soft targets
    P = 0.8 * np.eye(3)[y] + 0.2 / 3
    soft = SoftmaxRegression(C=10.0).fit(X, P)
    np.testing.assert_allclose(soft.predict_proba(X), smooth.predict_proba(X), atol=1e-5)


# --------------------------------------------------------------------------------------
# mini-batches


@pytest.mark.parametrize("loader", [load_iris, load_wine, load_digits])
def test_partial_fit_epochs_converge_and_never_drift(loader):
    """The standard loop (shuffled mini-batches, several epochs, no extra arguments)
    converges to the full-batch optimum: the penalty uses the distinct rows seen
    (150, 178, 1797), not every row fed, so re-feeding does not weaken it. Before,
    the gap on iris grew from 0.23 after 10 epochs to 2.2 after 300."""
    X, y = _standardized(loader)
    F = SoftmaxRegression(C=1.0, tol=1e-10).fit(X, y).objective(X, y)
    rng = np.random.default_rng(0)
    model = SoftmaxRegression(C=1.0, random_state=0)
    gaps = []
    for epoch in range(300):
        for rows in np.array_split(rng.permutation(len(X)), 5):
            model.partial_fit(X[rows], y[rows], classes=np.unique(y))
        if epoch + 1 in (100, 200, 300):
            gaps.append(model.objective(X, y) / F - 1)
    assert model._distinct_weight == len(y)
    assert model.n_samples_seen_ == 300 * len(y)
    assert gaps[-1] <= 1e-3
    assert gaps[-1] <= gaps[0] * 1.5  # no drift: the last epochs are no worse


def test_partial_fit_counts_equal_rows_of_the_data_set_once_each():
    """Two copies of a row are two rows of the data set: counted both once a call holds
    both (their order of occurrence tells them apart), and re-feeding counts nothing."""
    X, y = _standardized(load_iris)
    X2, y2 = np.r_[X, X[:10]], np.r_[y, y[:10]]  # 160 rows, 10 duplicated
    model = SoftmaxRegression()
    model.partial_fit(X2, y2, classes=[0, 1, 2])
    assert model._distinct_weight == 160
    for rows in np.array_split(np.arange(160), 4):
        model.partial_fit(X2[rows], y2[rows])
    assert model._distinct_weight == 160
    # a sparse copy of the same rows and a new weight are the same / new rows
    import scipy.sparse as sp

    model.partial_fit(sp.csr_matrix(X2[:20]), y2[:20])
    assert model._distinct_weight == 160
    model.partial_fit(X2[:5], y2[:5], sample_weight=np.full(5, 2.0))
    assert model._distinct_weight == 170


@pytest.mark.parametrize("loader", [load_iris, load_wine, load_digits])
@pytest.mark.parametrize("solver", ["sgd", "adam", "saga"])
def test_first_order_solvers_reach_the_optimum_or_warn(loader, solver):
    """Default max_iter: within 1e-4 of the optimum, or ConvergenceWarning. They stop
    only on F's gradient (its smallest subgradient with L1) at most tol, the test
    L-BFGS-B applies, never on a slow epoch: before, sgd/adam stopped 0.5-5% away
    without a warning."""
    X, y = _standardized(loader)
    F = SoftmaxRegression(C=1.0, tol=1e-10).fit(X, y).objective(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = SoftmaxRegression(C=1.0, solver=solver, random_state=0).fit(X, y)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    gap = model.objective(X, y) / F - 1
    assert gap <= 1e-4 or warned
    assert warned == (model.n_iter_ == 1000)
    if not warned:
        assert gap <= 1e-6


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_minibatch_solvers_in_fit(solver):
    X, y = _standardized(load_wine)
    F = SoftmaxRegression(C=0.1).fit(X, y).objective(X, y)
    model = SoftmaxRegression(C=0.1, solver=solver, max_iter=80, tol=0, random_state=0)
    with pytest.warns(ConvergenceWarning, match=f"{solver} did not converge in 80 epochs"):
        model.fit(X, y)
    assert model.objective(X, y) <= F * (1 + 5e-3)
    assert len(model.loss_curve_) == model.n_iter_ == 80
    assert model.loss_curve_[-1] == pytest.approx(model.objective(X, y), rel=1e-12)
    again = SoftmaxRegression(C=0.1, solver=solver, max_iter=80, tol=0, random_state=0)
    with pytest.warns(ConvergenceWarning):
        again.fit(X, y)
    np.testing.assert_array_equal(again.coef_, model.coef_)  # random_state makes it repeatable


def test_partial_fit_is_multinomial_and_accumulates():
    X, y = _standardized(load_iris)
    model = SoftmaxRegression(random_state=0)
    model.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    assert model.coef_.shape == (3, 4)
    model.partial_fit(X[50:], y[50:])
    assert model.n_samples_seen_ == 150
    assert model.n_iter_ == 2


# --------------------------------------------------------------------------------------
# weights


def test_integer_sample_weights_equal_repeated_rows():
    X, y = _standardized(load_wine)
    rng = np.random.default_rng(1)
    w = rng.integers(0, 4, size=len(y))
    weighted = SoftmaxRegression(C=1.0, tol=1e-9).fit(X, y, sample_weight=w)
    repeated = SoftmaxRegression(C=1.0, tol=1e-9).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, atol=1e-6)
    np.testing.assert_allclose(weighted.intercept_, repeated.intercept_, atol=1e-6)


def test_balanced_class_weight_is_sklearns_definition():
    X, y = _standardized(load_wine)
    y = y.copy()
    keep = np.r_[np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:20], np.flatnonzero(y == 2)]
    X, y = X[keep], y[keep]
    t = _targets.build(y, None, None, "balanced", len(y), X.dtype)
    cw, classes = t.class_weight, t.classes
    expected = len(y) / (3 * np.bincount(y))  # n_samples / (n_classes * bincount(y))
    np.testing.assert_allclose(cw, expected)
    np.testing.assert_allclose(cw, compute_class_weight("balanced", classes=classes, y=y))
    balanced = SoftmaxRegression(class_weight="balanced", tol=1e-9).fit(X, y)
    as_weights = SoftmaxRegression(tol=1e-9).fit(X, y, sample_weight=expected[y])
    np.testing.assert_allclose(balanced.coef_, as_weights.coef_, atol=1e-6)
    ref = LogisticRegression(class_weight="balanced", tol=1e-10, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(balanced.predict_proba(X), ref.predict_proba(X), atol=1e-4)


def test_class_weight_dict_by_label():
    X, y = _standardized(load_iris)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = SoftmaxRegression(class_weight={"virginica": 3.0}).fit(X, labels)
    assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
    with pytest.raises(ValueError, match="class_weight keys"):
        SoftmaxRegression(class_weight={"rose": 2.0}).fit(X, labels)


# --------------------------------------------------------------------------------------
# prediction, dtypes, binary case


def test_string_labels_predict_log_proba_and_decision_function():
    X, y = _standardized(load_iris)
    labels = np.array(["a", "b", "c"], dtype=object)[y]
    model = SoftmaxRegression().fit(X, labels)
    assert set(model.predict(X)) <= {"a", "b", "c"}
    Z = model.decision_function(X)
    assert Z.shape == (150, 3)
    np.testing.assert_allclose(model.predict_log_proba(X), sk.log_softmax(Z), rtol=1e-12)
    # exact where log(predict_proba) underflows
    far = X[:1] * 400
    assert np.all(np.isfinite(model.predict_log_proba(far)))


def test_binary_decision_function_is_the_logit_difference():
    X, y = make_blobs(n_samples=80, centers=2, random_state=0)
    model = SoftmaxRegression().fit(X, y)
    d = model.decision_function(X)
    assert d.shape == (80,)
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], sk.sigmoid(d), rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), model.classes_[(d > 0).astype(int)])


@pytest.mark.parametrize("C", [0.05, 1.0])
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_two_classes_are_logistic_regression_with_the_same_C(C, solver):
    """Two classes: the penalty m ||W||^2 / (2 C n) with m = 2 is the binary
    LogisticRegression(C)'s ||w||^2 / (2 C n) on w = W_1 - W_0 at the optimum
    W_1 = -W_0; scikit-learn's binary fit (tol 1e-10) is the oracle."""
    from sklearn.datasets import load_breast_cancer

    X, y = _standardized(load_breast_cancer)
    ref = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    ours = SoftmaxRegression(C=C, solver=solver, tol=1e-9).fit(X, y)
    np.testing.assert_allclose(ours.coef_[0], -ours.coef_[1], atol=1e-7)  # W_1 = -W_0
    np.testing.assert_allclose(ours.coef_[1] - ours.coef_[0], ref.coef_[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    # F at our optimum equals LogisticRegression's binary objective at its optimum
    # (mean log loss + ||w||^2 / (2 C n)), written out here with scipy's log_expit.
    from scipy.special import log_expit

    z = X @ ref.coef_[0] + ref.intercept_[0]
    f_ref = -np.mean(np.where(y == 1, log_expit(z), log_expit(-z)))
    f_ref += ref.coef_[0] @ ref.coef_[0] / (2 * C * len(y))
    assert ours.objective(X, y) == pytest.approx(f_ref, rel=1e-8)
    # without the factor 2 the same data would be LogisticRegression(2 C): shown by
    # the three-class formula applied to two classes (the penalty on both rows)
    ref2 = LogisticRegression(C=2 * C, tol=1e-10, max_iter=10_000).fit(X, y)
    assert np.max(np.abs(ref2.predict_proba(X) - ref.predict_proba(X))) > 1e-4


def test_float32_end_to_end():
    X, y = _standardized(load_digits)
    X32 = X.astype(np.float32)
    m32 = SoftmaxRegression().fit(X32, y)
    assert m32.coef_.dtype == np.float32
    assert m32.intercept_.dtype == np.float32
    assert m32.predict_proba(X32).dtype == np.float32
    m64 = SoftmaxRegression().fit(X, y)
    assert m64.coef_.dtype == np.float64
    assert np.mean(m32.predict(X32) == m64.predict(X)) > 0.99


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    data = load_iris(as_frame=True)
    model = SoftmaxRegression().fit(data.data, data.target)
    assert list(model.feature_names_in_) == list(data.data.columns)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(data.data[data.data.columns[::-1]])
    assert isinstance(pd.DataFrame, type)


def test_loss_curve_n_iter_and_verbose_progress(capsys):
    X, y = _standardized(load_digits)
    model = SoftmaxRegression(verbose=1).fit(X, y)
    err = capsys.readouterr().err
    assert "objective" in err
    assert "|grad|" in err
    assert len(model.loss_curve_) == model.n_iter_
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    assert model.loss_curve_[-1] == pytest.approx(model.objective(X, y), rel=1e-10)


def test_warm_start_continues_from_the_previous_solution():
    X, y = _standardized(load_digits)
    first = SoftmaxRegression(warm_start=True, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first.fit(X, y)
    f5 = first.objective(X, y)
    first.set_params(max_iter=1000).fit(X, y)
    assert first.objective(X, y) < f5
    assert first.n_iter_ < SoftmaxRegression().fit(X, y).n_iter_


def test_convergence_warning():
    X, y = _standardized(load_digits)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        SoftmaxRegression(max_iter=2).fit(X, y)


# --------------------------------------------------------------------------------------
# calibration


def test_calibrate_fits_a_temperature_and_keeps_predictions():
    X, y = _standardized(load_digits)
    X_train, y_train, X_val, y_val = X[:1000], y[:1000], X[1000:], y[1000:]
    model = SoftmaxRegression(C=100.0).fit(X_train, y_train)  # weakly penalised: overconfident
    before_pred = model.predict(X_val)
    before = float(sk.softmax_cross_entropy(model.decision_function(X_val), y_val))
    model.calibrate(X_val, y_val)
    assert model.temperature_ > 1.0
    np.testing.assert_array_equal(model.predict(X_val), before_pred)
    after = float(sk.softmax_cross_entropy(np.log(model.predict_proba(X_val)), y_val))
    assert after < before
    # T is the minimiser: nearby temperatures do worse
    Z = model.decision_function(X_val)
    T = model.temperature_
    nll = [
        float(sk.softmax_cross_entropy(Z, y_val, temperature=t)) for t in (T / 1.05, T, T * 1.05)
    ]
    assert nll[1] < nll[0]
    assert nll[1] < nll[2]


def test_calibrate_keeps_t_1_on_a_separated_split():
    """Regression: a small validation split the model gets all right drove T to the
    search bound (1e-3) and made every probability 0 or 1 (iris: test log loss
    0.15 -> 3.8). Now T stays 1, with a warning and the reason recorded."""
    X, y = _standardized(load_iris)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    model = SoftmaxRegression().fit(X[:100], y[:100])
    right = np.flatnonzero(model.predict(X[100:130]) == y[100:130])[:20] + 100
    X_val, y_val = X[right], y[right]  # a small split the model gets all right
    assert len(right) == 20
    proba = model.predict_proba(X[120:])
    with pytest.warns(UserWarning, match="separated"):
        model.calibrate(X_val, y_val)
    assert model.temperature_ == 1.0
    np.testing.assert_array_equal(model.predict_proba(X[120:]), proba)
    record = model.calibration_
    assert record["temperature"] == 1.0
    assert "separated" in record["kept_reason"]
    assert record["log_loss_after"] == record["log_loss_before"]


def test_calibrate_keeps_t_1_when_the_minimum_is_at_the_edge():
    """Every validation label is the model's least likely class: its probability
    rises with T towards 1/K, so the cross-entropy keeps falling up to the top
    of the search range; no minimum inside it."""
    X, y = _standardized(load_digits)
    model = SoftmaxRegression().fit(X[:800], y[:800])
    worst = np.argmin(model.decision_function(X[800:]), axis=1)
    with pytest.warns(UserWarning, match="edge of the search range"):
        model.calibrate(X[800:], model.classes_[worst])
    assert model.temperature_ == 1.0
    assert model.calibration_["kept_reason"].startswith("the validation cross-entropy")


def test_calibration_record_and_refit():
    X, y = _standardized(load_digits)
    model = SoftmaxRegression(C=100.0).fit(X[:1000], y[:1000])
    model.calibrate(X[1000:], y[1000:])
    record = model.calibration_
    assert record["kept_reason"] is None
    assert record["temperature"] == model.temperature_ > 1.0
    assert record["log_loss_after"] < record["log_loss_before"]
    model.fit(X[:1000], y[:1000])  # a new fit is not calibrated
    assert model.temperature_ == 1.0
    assert not hasattr(model, "calibration_")


# --------------------------------------------------------------------------------------
# the model file


def test_save_load_round_trip(tmp_path):
    X, y = _standardized(load_iris)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = SoftmaxRegression(C=0.5, class_weight={"setosa": 2.0}).fit(X, labels)
    model.calibrate(X, labels)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = SoftmaxRegression.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.temperature_ == model.temperature_
    assert loaded.get_params() == model.get_params()
    assert loaded.loss_curve_ == model.loss_curve_


def test_save_load_keeps_feature_names_and_float32(tmp_path):
    data = load_iris(as_frame=True)
    model = SoftmaxRegression().fit(data.data.astype(np.float32), data.target)
    model.save(tmp_path / "m.npz")
    loaded = SoftmaxRegression.load(tmp_path / "m.npz")
    assert loaded.coef_.dtype == np.float32
    assert list(loaded.feature_names_in_) == list(data.data.columns)


def test_bad_model_files_raise_value_error(tmp_path):
    X, y = _standardized(load_iris)
    good = tmp_path / "good.npz"
    SoftmaxRegression().fit(X, y).save(good)
    raw = good.read_bytes()
    cases = {
        "truncated.npz": raw[: len(raw) // 2],
        "garbage.npz": b"not a model at all",
        "empty.npz": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match="softmaxkit model file"):
            SoftmaxRegression.load(tmp_path / name)
    # a foreign npz
    np.savez(tmp_path / "foreign.npz", a=np.arange(3))
    with pytest.raises(ValueError, match="no header"):
        SoftmaxRegression.load(tmp_path / "foreign.npz")
    # a pickled object inside: never unpickled
    np.savez(tmp_path / "pickle.npz", header=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="softmaxkit model file"):
        SoftmaxRegression.load(tmp_path / "pickle.npz")
    # consistent zip, inconsistent content: wrong coefficient shape
    with zipfile.ZipFile(good) as zf, np.load(good) as npz:
        header = npz["header"]
        coef = npz["coef"][:, :2]
        np.savez(
            tmp_path / "shape.npz",
            header=header,
            coef=coef,
            intercept=npz["intercept"],
            loss_curve=npz["loss_curve"],
        )
        assert "header.npy" in zf.namelist()
    with pytest.raises(ValueError, match=r"member .coef. has shape \(3, 2\), expected \(3, 4\)"):
        SoftmaxRegression.load(tmp_path / "shape.npz")
    with pytest.raises(ValueError, match="no file"):
        SoftmaxRegression.load(tmp_path / "missing.npz")


def test_labels_that_cannot_be_saved_safely(tmp_path):
    X, y = _standardized(load_iris)
    labels = np.array([(0,), (1,), (2,)] + [(0,)] * 0, dtype=object)
    labels = np.empty(150, dtype=object)
    for i, v in enumerate(y):
        labels[i] = frozenset([int(v)])
    with pytest.raises((ValueError, TypeError)):
        SoftmaxRegression().fit(X, labels).save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_pickle_still_works_for_sklearn_users():
    X, y = _standardized(load_iris)
    model = SoftmaxRegression().fit(X, y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))


# --------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("X_fix", "y_fix", "kwargs", "match"),
    [
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), None, {}, "NaN"),
        (
            lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X),
            None,
            {},
            "infinity",
        ),
        (None, lambda y: np.zeros_like(y), {}, "at least 2 classes"),
        (None, None, {"sample_weight": -np.ones(150)}, "sample_weight >= 0"),
        (None, None, {"sample_weight": np.zeros(150)}, "all zeros"),
        (None, lambda y: np.full((150, 3), 0.5), {}, "sum to 1"),
        (None, lambda y: np.full((150, 3), -1.0), {}, ">= 0"),
        (None, lambda y: y + 0.5, {}, "Unknown label type"),
    ],
)
def test_bad_fit_input(X_fix, y_fix, kwargs, match):
    X, y = _standardized(load_iris)
    X = X_fix(X) if X_fix else X
    y = y_fix(y) if y_fix else y
    with pytest.raises(ValueError, match=match):
        SoftmaxRegression().fit(X, y, **kwargs)


def test_bad_predict_and_partial_fit_input():
    X, y = _standardized(load_iris)
    model = SoftmaxRegression().fit(X, y)
    with pytest.raises(ValueError, match="4 features"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="classes="):
        SoftmaxRegression().partial_fit(X, y)
    pf = SoftmaxRegression().partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="among classes"):
        pf.partial_fit(X[:5], np.array([0, 1, 2, 3, 3]))
    with pytest.raises(ValueError, match="among classes"):
        model.calibrate(X[:5], np.array([0, 1, 7, 1, 1]))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"C": 0}, r"'C' parameter .* range \(0.0, inf\]"),
        ({"C": -1.0}, r"'C' parameter .* range \(0.0, inf\]"),
        ({"C": "1"}, "'C' parameter"),
        # Regressions (issue 15): a bool was accepted as an int (max_iter=True: one
        # iteration) and so was an int as a bool (fit_intercept=1).
        ({"max_iter": True}, "'max_iter' parameter .* not a bool"),
        ({"batch_size": np.True_, "solver": "sgd"}, "'batch_size' parameter"),
        ({"batch_size": True, "solver": "sgd"}, "'batch_size' parameter .* not a bool"),
        ({"fit_intercept": 1}, "'fit_intercept' parameter"),
        ({"warm_start": "yes"}, "'warm_start' parameter"),
        ({"verbose": -1}, "'verbose' parameter"),
        ({"random_state": "x"}, "'random_state' parameter"),
        ({"learning_rate": math.inf}, "'learning_rate' parameter"),
        ({"solver": "liblinear"}, "solver"),
        ({"l1_ratio": 1.5}, "l1_ratio"),
        ({"l1_ratio": 0.5, "solver": "newton-cg"}, "newton-cg"),
        ({"max_iter": 0}, "max_iter"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"class_weight": "auto"}, "class_weight"),
        ({"tol": math.nan}, "tol"),
    ],
)
def test_bad_parameters(params, match):
    """scikit-learn's parameter validation (``_parameter_constraints``): an
    ``InvalidParameterError``, which is both a ValueError and a TypeError."""
    X, y = _standardized(load_iris)
    with pytest.raises(InvalidParameterError, match=match):
        SoftmaxRegression(**params).fit(X, y)
    with pytest.raises(InvalidParameterError, match=match):
        SoftmaxRegression(**params).partial_fit(X, y, classes=np.unique(y))


def test_parameter_constraints_cover_every_parameter():
    # scikit-learn's convention: every __init__ parameter has its constraint.
    assert set(SoftmaxRegression._parameter_constraints) == set(SoftmaxRegression().get_params())


def test_complex_sample_weight_refused_not_cast():
    # Regression (issue 15): complex weights were cast with a ComplexWarning.
    X, y = _standardized(load_iris)
    with pytest.raises(ValueError, match="real numbers for sample_weight, got dtype complex"):
        SoftmaxRegression().fit(X, y, sample_weight=np.ones(len(y)) + 0j)


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "sgd", "saga"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_features_whose_squares_overflow_refused(solver, dtype):
    # Regression (issue 15): newton-cg failed with an overflow in matmul and a SciPy
    # message on features x 1e300; lbfgs stopped at iteration 0 with a gradient of 1e299.
    X, y = _standardized(load_iris)
    big = 1e300 if dtype == np.float64 else 1e30
    X = (X * big).astype(dtype)
    with pytest.raises(ValueError, match=r"feature values within .* scale the features"):
        SoftmaxRegression(solver=solver).fit(X, y)
    with pytest.raises(ValueError, match="feature values within"):
        SoftmaxRegression(solver=solver).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="feature values within"):
        SoftmaxRegression(solver=solver).fit(scipy.sparse.csr_array(X), y)


# --------------------------------------------------------------------------------------
# sparse input


def _documents(n_docs, k=4, vocabulary=600, seed=0):
    """A generated corpus: each class has its own topic words mixed into common words;
    a third of each document's words come from another class's topic (not separable)."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(vocabulary)])
    common = 1.0 / (np.arange(vocabulary) + 5.0)
    topics = [rng.choice(vocabulary, 40, replace=False) for _ in range(k)]
    y = rng.integers(0, k, n_docs)
    docs = []
    for label in y:
        other = (label + rng.integers(1, k)) % k
        n = rng.poisson(30) + 3
        parts = [rng.choice(words, n // 2, p=common / common.sum())]
        parts.append(words[rng.choice(topics[label], n // 3)])
        parts.append(words[rng.choice(topics[other], n - n // 2 - n // 3)])
        docs.append(" ".join(np.concatenate(parts)))
    return docs, y


@pytest.mark.parametrize("C", [0.3, 10.0])
def test_tfidf_pipeline_matches_logistic_regression(C):
    """TfidfVectorizer -> SoftmaxRegression: the objective of LogisticRegression(C) to
    1e-6 relative; scikit-learn's lbfgs at tol 1e-10 is the oracle, evaluated by our
    ``objective`` (the formula checked against scipy in the test above)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs, y = _documents(1500)
    X = TfidfVectorizer().fit_transform(docs)
    assert X.format == "csr"
    ref = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    ours = SoftmaxRegression(C=C, tol=1e-9).fit(X, y)
    probe = SoftmaxRegression(C=C).fit(X[:50], y[:50])
    probe.coef_, probe.intercept_ = ref.coef_, ref.intercept_
    f_ref, f_ours = probe.objective(X, y), ours.objective(X, y)
    assert abs(f_ours - f_ref) <= 1e-6 * f_ref
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    pipe = make_pipeline(TfidfVectorizer(), SoftmaxRegression(C=C)).fit(docs, y)
    assert pipe.score(docs, y) == pytest.approx(ours.score(X, y))


@pytest.mark.parametrize("kind", ["csr_matrix", "csc_matrix", "csr_array", "csc_array"])
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "sgd", "adam"])
def test_sparse_input_gives_the_dense_model(kind, solver):
    import scipy.sparse as sp

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # non-negative and 49% zeros, as counts are
    Xs = getattr(sp, kind)(X)
    # newton-cg to convergence: its trust region magnifies rounding differences
    # between the dense and sparse products along the way, not at the optimum
    steps = {"max_iter": 300, "tol": 1e-9} if solver == "newton-cg" else {"max_iter": 25}
    params = {"solver": solver, "random_state": 0, "class_weight": "balanced", **steps}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = SoftmaxRegression(**params).fit(X, y)
        sparse = SoftmaxRegression(**params).fit(Xs, y)
    exact = solver != "newton-cg"  # the same steps, or the same optimum
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-9 if exact else 1e-6)
    np.testing.assert_allclose(
        sparse.predict_proba(Xs), dense.predict_proba(X), atol=1e-12 if exact else 1e-8
    )
    tol = {"rtol": 1e-7} if exact else {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(sparse.predict_log_proba(Xs), dense.predict_log_proba(X), **tol)
    np.testing.assert_allclose(sparse.decision_function(Xs), dense.decision_function(X), **tol)
    np.testing.assert_array_equal(sparse.predict(Xs), dense.predict(X))
    assert sparse.objective(Xs, y) == pytest.approx(dense.objective(X, y), rel=1e-12)
    # partial_fit and calibrate on sparse pieces
    pf_dense, pf_sparse = SoftmaxRegression(random_state=0), SoftmaxRegression(random_state=0)
    for rows in np.array_split(np.arange(len(y)), 4):
        pf_dense.partial_fit(X[rows], y[rows], classes=np.arange(10))
        pf_sparse.partial_fit(Xs[rows], y[rows], classes=np.arange(10))
    np.testing.assert_allclose(pf_sparse.coef_, pf_dense.coef_, rtol=1e-7, atol=1e-9)
    dense.calibrate(X[::2], y[::2])
    sparse.calibrate(Xs[::2], y[::2])
    assert sparse.temperature_ == pytest.approx(dense.temperature_, rel=1e-6)


def test_sparse_float32_stays_float32():
    import scipy.sparse as sp

    X, y = load_digits(return_X_y=True)
    Xs = sp.csr_matrix((X / 16).astype(np.float32))
    model = SoftmaxRegression(tol=1e-3).fit(Xs, y)
    assert model.coef_.dtype == np.float32
    assert model.predict_proba(Xs).dtype == np.float32


_NEVER_DENSE = """
import gc, warnings
import numpy as np, scipy.sparse as sp
from softmaxkit import SoftmaxRegression

def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key + ":"))

rng = np.random.default_rng(0)
n, d = 20_000, 50_000
nnz = 200_000  # density 1e-4, drawn directly (sp.random takes a minute at this size)
X = sp.csr_matrix(
    (rng.random(nnz), (rng.integers(0, n, nnz), rng.integers(0, d, nnz))), shape=(n, d)
)
y = (np.asarray(X[:, :3000].sum(axis=1)).ravel() > 0.02).astype(int) + rng.integers(0, 2, n)
warnings.simplefilter("ignore")
SoftmaxRegression(solver="newton-cg").fit(X[:100, :50], y[:100]).calibrate(X[:9, :50], y[:9])
gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak resident size (VmHWM) starts again from the current one
base = status("VmRSS")
for solver in ("lbfgs", "newton-cg", "sgd", "adam"):
    model = SoftmaxRegression(solver=solver, max_iter=3, batch_size=512).fit(X, y)
model.partial_fit(X[:5000], y[:5000])
assert model.predict_proba(X).shape == (n, 3)
model.calibrate(X[:5000], y[:5000])
print(status("VmHWM") - base)
"""


def test_sparse_x_is_never_densified():
    """A 20,000 x 50,000 CSR matrix (8 GB dense, 2.4 MB of non-zeros): every solver,
    partial_fit, predict_proba and calibrate stay far below the dense size. The
    peak resident memory above the data (Linux's VmHWM, reset once the data and the
    imports are in place) in a fresh process."""
    import subprocess
    import sys

    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux's /proc/self/clear_refs to measure peak memory")
    out = subprocess.run(
        [sys.executable, "-c", _NEVER_DENSE], capture_output=True, text=True, check=True
    )
    peak = int(out.stdout.strip().splitlines()[-1])
    # dense X would be 8 GB; W (1.2 MB), L-BFGS's history (24 MB) and the (n, 3)
    # logits are what remains
    assert peak < 96 * 2**20, f"peak {peak / 2**20:.0f} MiB above the data"


# --------------------------------------------------------------------------------------
# elastic net


def _sklearn_objective(ref, X, y, C, l1_ratio):
    """scikit-learn's solution under our objective (the formula checked above)."""
    probe = SoftmaxRegression(C=C, l1_ratio=l1_ratio).fit(X[:300], y[:300])
    probe.coef_, probe.intercept_ = ref.coef_, ref.intercept_
    return probe.objective(X, y)


@pytest.mark.parametrize("data", ["digits", "tfidf"])
def test_elastic_net_matches_logistic_regression_saga(data):
    """Objective within 1e-6 of LogisticRegression(solver="saga", l1_ratio=0.5) at
    tol 1e-7 (the oracle), for lbfgs (on W+ - W-) and saga, with the same exact
    zeros in coef_."""
    if data == "digits":
        X, y = _standardized(load_digits)
        C = 0.05
    else:
        from sklearn.feature_extraction.text import TfidfVectorizer

        docs, y = _documents(1500)
        X = TfidfVectorizer().fit_transform(docs)
        C = 1.0
    ref = LogisticRegression(C=C, l1_ratio=0.5, solver="saga", tol=1e-7, max_iter=20_000)
    ref.fit(X, y)
    f_ref = _sklearn_objective(ref, X, y, C, 0.5)
    zeros = ref.coef_ == 0
    assert 0.1 < zeros.mean() < 0.9  # L1 has work to do here
    # saga's tol: its gradient test; 1e-5 on digits (an epoch costs 1797 steps), 1e-6
    # on the sparse set, both well inside the objective's 1e-6
    for solver, tol in (("lbfgs", 1e-7), ("saga", 1e-5 if data == "digits" else 1e-6)):
        ours = SoftmaxRegression(C=C, l1_ratio=0.5, solver=solver, tol=tol, random_state=0)
        ours.fit(X, y)
        assert abs(ours.objective(X, y) - f_ref) <= 1e-6 * f_ref, solver
        np.testing.assert_array_equal(ours.coef_ == 0, zeros)
        np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-3)


@pytest.mark.parametrize("l1_ratio", [0.0, 0.3, 1.0])
def test_elastic_net_lbfgs_matches_logistic_regression_on_the_sparse_set(l1_ratio):
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs, y = _documents(1500)
    X = TfidfVectorizer().fit_transform(docs)
    ref = LogisticRegression(C=1.0, l1_ratio=l1_ratio, solver="saga", tol=1e-8, max_iter=20_000)
    ref.fit(X, y)
    f_ref = _sklearn_objective(ref, X, y, 1.0, l1_ratio)
    ours = SoftmaxRegression(C=1.0, l1_ratio=l1_ratio, tol=1e-8).fit(X, y)
    assert abs(ours.objective(X, y) - f_ref) <= 1e-6 * f_ref
    if l1_ratio > 0:
        assert np.mean((ours.coef_ == 0) != (ref.coef_ == 0)) < 1e-3


def test_elastic_net_objective_and_exact_zeros():
    """The objective is mean CE + (1 - r) ||W||^2 / (2 C n) + r ||W||_1 / (C n), written
    out here; L1 alone gives more zeros than the elastic net, L2 alone none; the
    proximal sgd/adam also put exact zeros."""
    X, y = _standardized(load_wine)
    C, r = 0.2, 0.5
    model = SoftmaxRegression(C=C, l1_ratio=r).fit(X, y)
    from scipy.special import log_softmax

    Z = X @ model.coef_.T + model.intercept_
    ce = -np.mean(log_softmax(Z, axis=1)[np.arange(len(y)), y])
    W = model.coef_
    expected = ce + ((1 - r) * np.sum(W**2) / 2 + r * np.abs(W).sum()) / (C * len(y))
    assert model.objective(X, y) == pytest.approx(expected, rel=1e-12)
    n_zero = {
        ratio: int(np.sum(SoftmaxRegression(C=C, l1_ratio=ratio).fit(X, y).coef_ == 0))
        for ratio in (0, 0.5, 1)
    }
    assert n_zero[0] == 0 < n_zero[0.5] < n_zero[1]
    for solver in ("sgd", "adam"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = SoftmaxRegression(C=C, l1_ratio=1.0, solver=solver, random_state=0).fit(X, y)
        assert np.sum(fit.coef_ == 0) > 0


def test_elastic_net_on_dask_matches_in_memory():
    da = pytest.importorskip("dask.array")
    X, y = _standardized(load_wine)
    ref = SoftmaxRegression(C=0.3, l1_ratio=0.7, tol=1e-9).fit(X, y)
    lazy = SoftmaxRegression(C=0.3, l1_ratio=0.7, tol=1e-9)
    lazy.fit(da.from_array(X, chunks=50), da.from_array(y, chunks=50))
    assert lazy.objective(X, y) == pytest.approx(ref.objective(X, y), rel=1e-9)
    np.testing.assert_array_equal(lazy.coef_ == 0, ref.coef_ == 0)
    with pytest.raises(ValueError, match="saga"):
        SoftmaxRegression(solver="saga").fit(da.from_array(X, chunks=50), y)


# --------------------------------------------------------------------------------------
# warm start (cases from scikit-learn's linear_model/tests/test_logistic.py)


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "saga", "sgd", "adam"])
@pytest.mark.parametrize("warm_start", [True, False])
def test_warm_start(solver, warm_start):
    """Ported from scikit-learn's test_warm_start: a 1-iteration second fit on the same
    data stays close with warm_start and moves far without it (raw iris)."""
    X, y = load_iris(return_X_y=True)
    model = SoftmaxRegression(tol=1e-4, warm_start=warm_start, solver=solver, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        coef = model.coef_.copy()
        model.max_iter = 1
        model.fit(X, y)
    diff = np.sum(np.abs(coef - model.coef_))
    assert (diff < 2.0) if warm_start else (diff > 2.0)


@pytest.mark.parametrize("solver", ["lbfgs", "saga", "sgd", "adam"])
def test_warm_start_converges_like_one_fit(solver):
    """Ported from scikit-learn's test_warm_start_converge_LR: five warm-started fits
    give the log loss of one fit (here: of the optimum, for every solver)."""
    from sklearn.metrics import log_loss

    rng = np.random.RandomState(0)
    X = np.concatenate((rng.randn(100, 2) + 1, rng.randn(100, 2)))
    y = np.array([1] * 100 + [-1] * 100)
    one = SoftmaxRegression(solver="lbfgs", tol=1e-10).fit(X, y)
    warm = SoftmaxRegression(solver=solver, warm_start=True, max_iter=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(5):
            warm.fit(X, y)
    expected = log_loss(y, one.predict_proba(X))
    rel = 1e-3 if solver in ("sgd", "adam") else 1e-5  # stochastic: 1000 epochs in all
    assert log_loss(y, warm.predict_proba(X)) == pytest.approx(expected, rel=rel)


def test_warm_started_sgd_epoch_continues_the_step_size():
    """One warm-started sgd epoch after a fit: the step goes on decaying where it was,
    so the objective stays near the fit's (before, 0.248 went to 8.54 on iris)."""
    X, y = _standardized(load_iris)
    model = SoftmaxRegression(solver="sgd", warm_start=True, random_state=0, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        before = model.objective(X, y)
        model.set_params(max_iter=1).fit(X, y)
    assert model.objective(X, y) <= before * 1.01


def test_saga_on_rows_without_curvature():
    """All-zero rows, no intercept and no penalty: F is flat in W, saga's step bound
    is 0; it must still fit (W stays 0) rather than divide by zero."""
    X, y = np.zeros((6, 2)), np.array([0, 1, 2, 0, 1, 2])
    model = SoftmaxRegression(solver="saga", fit_intercept=False, C=math.inf).fit(X, y)
    np.testing.assert_array_equal(model.coef_, 0.0)
    np.testing.assert_allclose(model.predict_proba(X), 1 / 3)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_ends_full_when_the_fit_converges(monkeypatch):
    """On a terminal the fit's progress is a tqdm bar: an lbfgs fit that converges in
    a few dozen of max_iter=1000 iterations ends at 100% (not at 3%), shows the
    objective and a real gradient norm, and leaves no stray characters after the
    last redraw. Without a terminal: plain lines."""
    pytest.importorskip("tqdm")
    X, y = _standardized(load_iris)
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    model = SoftmaxRegression(verbose=1).fit(X, y)
    text = screen.getvalue()
    last = text.rstrip("\n").split("\r")[-1]
    assert "100%" in last
    assert f"{model.n_iter_}/{model.n_iter_}" in last
    assert "objective" in last
    assert "|grad|" in last
    assert "|grad| 0.00e+00" not in text
    for solver in ("sgd", "adam"):  # their real last gradient, not 0
        screen = _Terminal()
        monkeypatch.setattr(sys, "stderr", screen)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            SoftmaxRegression(solver=solver, max_iter=5, verbose=1, random_state=0).fit(X, y)
        last = screen.getvalue().rstrip("\n").split("\r")[-1]
        assert "5/5" in last
        assert "|grad| 0.00e+00" not in last
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    SoftmaxRegression(verbose=2).fit(X, y)
    lines = plain.getvalue().splitlines()
    assert len(lines) == model.n_iter_
    assert "\r" not in plain.getvalue()


@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize(
    "bad",
    ["n_samples", "label", "nan", "rows", "weight", "features"],
)
def test_partial_fit_validates_before_it_changes_anything(first, bad):
    """A partial_fit call that raises leaves the model exactly as it was (it once set
    n_features_in_ on a failed first call)."""
    import copy

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 3
    calls = {
        "n_samples": lambda m: m.partial_fit(X, y, classes=[0, 1, 2], n_samples=-1),
        "label": lambda m: m.partial_fit(X, np.full(40, 7), classes=[0, 1, 2]),
        "nan": lambda m: m.partial_fit(np.where(X > 1, np.nan, X), y, classes=[0, 1, 2]),
        "rows": lambda m: m.partial_fit(X, y[:10], classes=[0, 1, 2]),
        "weight": lambda m: m.partial_fit(X, y, classes=[0, 1, 2], sample_weight=-np.ones(40)),
        "features": lambda m: m.partial_fit(X[:, :2], y, classes=[0, 1, 2]),
    }
    if first and bad == "features":
        pytest.skip("any number of features is right on a first call")
    model = SoftmaxRegression()
    if not first:
        model.partial_fit(X, y, classes=[0, 1, 2])
    before = copy.deepcopy(model.__dict__)
    with pytest.raises(ValueError, match=r"expect|contains NaN"):
        calls[bad](model)
    assert set(model.__dict__) == set(before)
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(model.__dict__[key], value)
        elif key not in ("_opt_state", "_rows_seen"):
            assert model.__dict__[key] == value, key
    if not first:
        assert model._rows_seen == before["_rows_seen"]


def test_separated_reads_row_blocks_without_a_copy_of_the_logits():
    # Regression (issue 15, many classes): separated() copied the whole n x K validation
    # logits; it now works a row block at a time. 3000 x 500 spans three blocks; the one
    # row whose label is not the strict maximum is in the last block (then in the first).
    from softmaxkit.classifier._solvers import separated

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(3000, 500))
    y = Z.argmax(axis=1)
    assert separated(Z, y)
    for row in (2999, 0):
        bad = y.copy()
        bad[row] = (y[row] + 1) % 500
        assert not separated(Z, bad)
    tie = Z.copy()
    tie[2500, (y[2500] + 1) % 500] = tie[2500, y[2500]]  # a tie is not strict
    assert not separated(tie, y)


def test_calibrate_in_row_blocks_finds_the_full_logits_temperature(monkeypatch):
    # calibrate no longer holds the n x K validation logits (10,000 classes x 22,609 rows:
    # 3.8 GB peak for the command line); it recomputes them a row block at a time for each
    # evaluation. Oracle: scipy's bounded Brent on the mean cross-entropy of the whole
    # logits matrix, written out here with the same bounds.
    from scipy import optimize

    from softmaxkit.classifier import _solvers

    X, y = make_blobs(n_samples=1500, centers=6, cluster_std=4.0, random_state=0)
    model = SoftmaxRegression(C=100.0).fit(X[:1000], y[:1000])
    Xv, yv = X[1000:], y[1000:]
    monkeypatch.setattr(_solvers, "block_rows", lambda k: 64)  # eight blocks
    model.calibrate(Xv, yv)
    Z = Xv @ model.coef_.T + model.intercept_

    def nll(log_t):
        return float(sk.softmax_cross_entropy(Z, yv, temperature=math.exp(log_t)))

    res = optimize.minimize_scalar(
        nll, bounds=(math.log(1e-3), math.log(1e3)), method="bounded", options={"xatol": 1e-8}
    )
    assert model.temperature_ != 1.0
    assert model.temperature_ == pytest.approx(math.exp(res.x), rel=1e-6)
    assert model.calibration_["log_loss_after"] == pytest.approx(nll(res.x), rel=1e-10)
    assert model.calibration_["log_loss_before"] == pytest.approx(nll(0.0), rel=1e-12)
    # the same from logits given whole
    other = SoftmaxRegression(C=100.0).fit(X[:1000], y[:1000]).calibrate_logits(Z, yv)
    assert other.temperature_ == pytest.approx(model.temperature_, rel=1e-9)
