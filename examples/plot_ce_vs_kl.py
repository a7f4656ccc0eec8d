"""
Cross-entropy against KL divergence during training
===================================================

Result 6: ``H(P, Q) = H(P) + KL(P || Q)``. The targets P do not depend on the
model, so ``H(P)`` is a constant and minimising the cross-entropy is
minimising the KL divergence: the gradients are equal and training by either
takes the same steps. With one-hot targets ``H(P) = 0`` and the two objectives
are the same number; with label smoothing they differ by ``H(P) > 0`` at every
step.
"""

import matplotlib.pyplot as plt

from softmaxkit.theory import ce_vs_kl_training

# %%
# ``ce_vs_kl_training`` trains one linear softmax model twice from the same
# start: by cross-entropy with the fused ``y_hat - y`` gradient, and by KL with
# its gradient ``-p / q`` pulled back through the softmax Jacobian.
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for ax, eps in zip(axes, (0.0, 0.1), strict=True):
    run = ce_vs_kl_training(label_smoothing=eps, steps=80)
    run.plot(ax=ax)
    print(
        f"label smoothing {eps}: H(P) = {run.entropy_of_targets:.6f}, "
        f"largest |W_CE - W_KL| = {run.max_weight_difference:.1e}, "
        f"largest |(CE - KL) - H(P)| = {run.max_gap_error:.1e}"
    )
plt.show()

# %%
# The weights of the two runs never differ by more than rounding, and the gap
# between the objectives is H(P) to the last digits.
