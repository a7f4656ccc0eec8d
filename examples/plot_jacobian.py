"""
The softmax Jacobian: two loops against one formula
===================================================

Results 3 and 4: the Jacobian of ``s = softmax(x)`` has entries
``s_i (1 - s_i)`` on the diagonal and ``-s_i s_j`` elsewhere, that is
``J = diag(s) - s s^T``. ``softmax_jacobian_iterative`` builds it entry by entry
with two loops, as the derivation reads; ``softmax_jacobian`` uses the matrix
formula. Both are checked here against finite differences.
"""

import matplotlib.pyplot as plt
import numpy as np

import softmaxkit as sk

# %%
# The seed example
# ----------------
x = np.array([5.0, 7.0, 8.0])
s = sk.softmax(x)
J_loops = sk.softmax_jacobian_iterative(s)
J = sk.softmax_jacobian(s)
np.set_printoptions(precision=8, suppress=True)
print(J)
print("max |loops - formula| =", np.max(np.abs(J_loops - J)))

# %%
# Against central finite differences
# ----------------------------------
h = 1e-6
J_fd = np.empty((3, 3))
for j in range(3):
    e = np.zeros(3)
    e[j] = h
    J_fd[:, j] = (sk.softmax(x + e) - sk.softmax(x - e)) / (2 * h)
print("max |formula - finite differences| =", np.max(np.abs(J - J_fd)))

# %%
# What the matrix looks like
# --------------------------
# Rows sum to 0 (softmax outputs sum to 1 whatever x is), the matrix is
# symmetric, and it is positive semi-definite with the constant vector in its
# null space.
rng = np.random.default_rng(0)
s10 = sk.softmax(rng.normal(size=10) * 2)
J10 = sk.softmax_jacobian(s10)
print("row sums:", np.abs(J10.sum(axis=1)).max(), " symmetric:", np.allclose(J10, J10.T))
print("eigenvalues:", np.linalg.eigvalsh(J10).round(6))

fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.4), layout="constrained")
axes[0].bar(range(10), s10)
axes[0].set_title("s = softmax(x)")
limit = np.abs(J10).max()
image = axes[1].imshow(J10, cmap="RdBu_r", vmin=-limit, vmax=limit)
axes[1].set_title("J = diag(s) - s s^T")
fig.colorbar(image, ax=axes[1])
plt.show()

# %%
# Products without the matrix
# ---------------------------
# Training never forms J: ``softmax_vjp(s, g) = s * (g - <g, s>)`` is the
# vector-Jacobian product in O(K).
g = rng.normal(size=10)
print("max |J^T g - vjp| =", np.max(np.abs(J10.T @ g - sk.softmax_vjp(s10, g))))
