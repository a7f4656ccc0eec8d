"""
Temperature scaling and calibration
===================================

A classifier is calibrated when, among the predictions it makes with
confidence 0.8, about 80% are right. Temperature scaling divides every logit
by one number ``T`` fitted on held-out rows (``softmax(z / T)``): it changes no
prediction, only how sure the model says it is. ``SoftmaxRegression.calibrate``
fits ``T`` by minimising the validation cross-entropy.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

import softmaxkit as sk

# %%
# An over-confident model
# -----------------------
# Few rows, many features and almost no penalty: the fit separates the
# training rows and becomes far too sure on new ones.
X, y = make_classification(
    n_samples=3000, n_features=60, n_informative=12, n_classes=5,
    n_clusters_per_class=2, class_sep=1.0, flip_y=0.05, random_state=0,
)  # fmt: skip
X_train, X_rest, y_train, y_rest = train_test_split(X, y, train_size=400, random_state=0)
X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0)

model = sk.SoftmaxRegression(C=1e4, max_iter=5000).fit(X_train, y_train)
before = model.predict_proba(X_test)
model.calibrate(X_val, y_val)
after = model.predict_proba(X_test)
print(f"fitted temperature T = {model.temperature_:.3f}")
print("same predictions:", np.array_equal(before.argmax(1), after.argmax(1)))


def reliability(proba, labels, bins=10):
    """Confidence against accuracy in equal-width bins, and the expected
    calibration error (the bins' |accuracy - confidence| weighted by rows)."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    conf, acc, ece = [], [], 0.0
    for b in range(bins):
        rows = which == b
        if rows.any():
            conf.append(confidence[rows].mean())
            acc.append(correct[rows].mean())
            ece += rows.mean() * abs(acc[-1] - conf[-1])
    return np.array(conf), np.array(acc), ece


# %%
# Before and after
# ----------------
# Log loss is ``softmax_cross_entropy`` on the log-probabilities' logits; the
# reliability diagram bins the test rows by confidence.
fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
ax.plot([0, 1], [0, 1], "k:", label="calibrated")
for name, proba in (("before", before), ("after", after)):
    conf, acc, ece = reliability(proba, y_test)
    log_loss = sk.softmax_cross_entropy(np.log(proba), y_test)
    print(f"{name}: log loss {log_loss:.3f}, expected calibration error {ece:.3f}")
    ax.plot(conf, acc, "o-", label=f"{name} (ECE {ece:.3f})")
ax.set_xlabel("confidence (largest probability)")
ax.set_ylabel("accuracy")
ax.legend()
plt.show()
