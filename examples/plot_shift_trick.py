"""
The shift trick: softmax that never overflows
=============================================

Result 1 says ``softmax(x + C) = softmax(x)`` for every constant ``C``. With
``C = -max(x)`` every exponent is at most 0, so no term overflows, and the
largest term is exactly 1, so the sum never underflows to 0. A naive
``exp(x) / sum(exp(x))`` has neither guarantee.
"""

# %%
# The naive formula against softmaxkit
# ------------------------------------
# Logits of a few hundred are ordinary for an untrained network with large
# weights; ``exp(710)`` is already past the largest float64.
import matplotlib.pyplot as plt
import numpy as np

import softmaxkit as sk


def naive_softmax(x):
    e = np.exp(x)
    return e / e.sum()


x = np.array([800.0, 799.0, 795.0])
with np.errstate(over="ignore", invalid="ignore"):  # the naive formula overflows
    print("naive:     ", naive_softmax(x))
print("softmaxkit:", sk.softmax(x))
print("shifted:   ", naive_softmax(x - x.max()))

# %%
# The same holds far below: ``exp(-800)`` underflows to 0 for every entry, the
# naive denominator is 0 and the result is NaN.
with np.errstate(invalid="ignore"):
    print("naive:     ", naive_softmax(-x))
print("softmaxkit:", sk.softmax(-x))

# %%
# Where the naive formula breaks
# ------------------------------
# Shift the same three logits by ``C`` and measure the error of each formula
# against the exact answer, which by result 1 does not depend on ``C``.
exact = sk.softmax(np.array([1.0, 0.0, -4.0]))
shifts = np.linspace(-800, 800, 321)
naive_err, kit_err = [], []
for C in shifts:
    z = np.array([1.0, 0.0, -4.0]) + C
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        naive_err.append(np.max(np.abs(naive_softmax(z) - exact)))
    kit_err.append(np.max(np.abs(sk.softmax(z) - exact)))

fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
ax.semilogy(shifts, np.nan_to_num(naive_err, nan=1.0) + 1e-18, label="exp(x) / sum(exp(x))")
ax.semilogy(shifts, np.asarray(kit_err) + 1e-18, label="softmaxkit.softmax")
ax.axvspan(709.8, 800, color="0.9", label="exp overflows")
ax.axvspan(-800, -744, color="0.95", label="exp underflows to 0")
ax.set_xlabel("shift C added to every logit")
ax.set_ylabel("max abs error (+1e-18)")
ax.legend(loc="center left", fontsize="small")
plt.show()

# %%
# The log-probabilities
# ---------------------
# ``log(softmax(x))`` loses everything once a probability underflows;
# ``log_softmax`` computes ``x - logsumexp(x)`` and keeps it.
z = np.array([1000.0, 1.0])
with np.errstate(divide="ignore"):
    print("log(softmax):", np.log(sk.softmax(z)))
print("log_softmax: ", sk.log_softmax(z))
