"""
Training a softmax classifier from scratch with the y_hat - y gradient
======================================================================

Result 5: for ``L = -sum_i y_i log softmax(z)_i`` with ``sum_i y_i = 1``,
``dL/dz = softmax(z) - y``. For a linear model ``z = X W + b`` the chain rule
gives ``dL/dW = X^T (y_hat - y) / n``: gradient descent in a dozen lines,
here on scikit-learn's handwritten digits, then the same objective solved by
``SoftmaxRegression``.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import softmaxkit as sk

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixel intensities 0..16 -> 0..1
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
n, d = X_train.shape
K = 10

# %%
# Gradient descent
# ----------------
# ``softmax_cross_entropy_with_grad`` returns the mean loss and its gradient in
# the logits, ``(y_hat - y) / n``, in one pass.
W = np.zeros((d, K))
b = np.zeros(K)
losses = []
for _step in range(300):
    loss, G = sk.softmax_cross_entropy_with_grad(X_train @ W + b, y_train)
    losses.append(float(loss))
    W -= 1.0 * (X_train.T @ G)
    b -= 1.0 * G.sum(axis=0)

accuracy = np.mean(np.argmax(X_test @ W + b, axis=1) == y_test)
print(f"after {len(losses)} steps: training loss {losses[-1]:.4f}, test accuracy {accuracy:.3f}")

# %%
# The gradient is the one the formula says
# ----------------------------------------
# Central finite differences of the loss in a few logits.
Z = X_train[:5] @ W + b
labels = y_train[:5]
_, G = sk.softmax_cross_entropy_with_grad(Z, labels)
h = 1e-6
for i, j in [(0, 0), (1, 3), (4, 9)]:
    E = np.zeros_like(Z)
    E[i, j] = h
    fd = (sk.softmax_cross_entropy(Z + E, labels) - sk.softmax_cross_entropy(Z - E, labels)) / (
        2 * h
    )
    print(f"dL/dz[{i},{j}]: formula {G[i, j]:+.10f}  finite differences {fd:+.10f}")

# %%
# The same model by SoftmaxRegression
# -----------------------------------
# ``SoftmaxRegression`` minimises the mean cross-entropy plus an L2 penalty
# with L-BFGS on the same gradient; with a weak penalty it goes on to the
# optimum, well below where 300 plain gradient steps stop.
model = sk.SoftmaxRegression(C=100.0).fit(X_train, y_train)
print(
    f"SoftmaxRegression: {model.n_iter_} iterations, test accuracy "
    f"{model.score(X_test, y_test):.3f}"
)

fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
ax.plot(losses, label="gradient descent, step 1.0")
ax.axhline(
    sk.softmax_cross_entropy(model.decision_function(X_train), y_train),
    color="k",
    ls="--",
    label="SoftmaxRegression(C=100) optimum",
)
ax.set_xlabel("step")
ax.set_ylabel("mean cross-entropy (training)")
ax.set_yscale("log")
ax.legend()
plt.show()

# %%
# What each class's weights look for
# ----------------------------------
fig, axes = plt.subplots(1, 10, figsize=(10, 1.4), layout="constrained")
for k, ax in enumerate(axes):
    ax.imshow(W[:, k].reshape(8, 8), cmap="RdBu_r")
    ax.set_title(str(k))
    ax.axis("off")
plt.show()
