"""
Two classes: softmax is the sigmoid of the logit difference
===========================================================

Result 2: for two logits ``(z0, z1)``,
``softmax(z)_1 = sigmoid(z1 - z0)`` and ``softmax(z)_0 = 1 - sigmoid(z1 - z0)``.
A binary classifier with one logit is a two-class softmax classifier whose
first logit is pinned at 0.
"""

import matplotlib.pyplot as plt
import numpy as np

import softmaxkit as sk

# %%
# The identity, evaluated
# -----------------------
d = np.linspace(-12, 12, 481)  # the logit difference z1 - z0
z0 = np.random.default_rng(0).normal(size=d.shape) * 5  # any z0: only d matters
logits = np.stack([z0, z0 + d], axis=-1)
p1 = sk.softmax(logits)[:, 1]
s = sk.sigmoid(d)
print("max |softmax(z)_1 - sigmoid(z1 - z0)| =", np.max(np.abs(p1 - s)))

fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 5), sharex=True, layout="constrained")
top.plot(d, p1, lw=3, label="softmax(z0, z1)[1]")
top.plot(d, s, "k:", lw=1.5, label="sigmoid(z1 - z0)")
top.set_ylabel("probability of class 1")
top.legend()
bottom.plot(d, (p1 - s) / np.finfo(float).eps)
bottom.set_xlabel("z1 - z0")
bottom.set_ylabel("difference / eps")
plt.show()

# %%
# The losses agree too
# --------------------
# Softmax cross-entropy on two logits equals sigmoid (binary) cross-entropy on
# their difference, and their gradients are ``y_hat - y`` in both forms.
rng = np.random.default_rng(1)
z = rng.normal(size=(6, 2)) * 3
labels = rng.integers(0, 2, size=6)
two_class = sk.softmax_cross_entropy(z, labels)
binary = sk.sigmoid_cross_entropy(z[:, 1] - z[:, 0], labels.astype(float))
print(f"softmax CE {two_class:.15f}\nsigmoid CE {binary:.15f}")
