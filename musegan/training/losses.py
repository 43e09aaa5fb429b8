"""The GAN losses, the gradient penalty and the learning-rate schedule, written once over
`musegan.nets.layers.Ops` (both training backends compute them with these functions)."""
from typing import Tuple

from musegan.nets.layers import Array, Ops
from musegan.nets.network import MuseGAN

__all__ = ["gan_losses", "gradient_penalty", "learning_rate"]


def gan_losses(ops: Ops, kind: str, d_real: Array, d_fake: Array) -> Tuple[Array, Array]:
    """(d_loss, g_loss) from scores `(groups, batch)` of real and generated phrases
    (`d_real` may be None for the G loss alone); each group is its own D, so losses add."""
    def mean(t):
        return ops.reduce_sum(ops.reduce_mean(t, axis=1), axis=0)

    if kind in ("wasserstein-gp", "hinge"):
        g_loss = -mean(d_fake)
    elif kind == "classic":  # G minimises log(1 - D(G(z)))
        g_loss = -mean(ops.softplus(d_fake))
    else:  # nonsaturating
        g_loss = mean(ops.softplus(-d_fake))
    if d_real is None:
        return None, g_loss
    if kind == "wasserstein-gp":
        d_loss = mean(d_fake) - mean(d_real)
    elif kind == "hinge":
        d_loss = mean(ops.relu(1.0 - d_real)) + mean(ops.relu(1.0 + d_fake))
    else:
        d_loss = mean(ops.softplus(-d_real)) + mean(ops.softplus(d_fake))
    return d_loss, g_loss


def gradient_penalty(model: MuseGAN, real: Array, fake: Array, eps: Array) -> Array:
    """Sum over discriminators of mean over examples of (||grad D(x_hat)|| - 1)^2,
    x_hat = eps * real + (1 - eps) * fake with one eps per example, `eps` `(batch,)` in [0, 1)."""
    ops = model.ops
    batch = real.shape[0]
    e = ops.reshape(eps, [-1, 1, 1, 1, 1])
    groups = model.group(e * real + (1.0 - e) * fake)
    grads = ops.gradients(lambda gs: ops.reduce_sum(model.score(gs), axis=[0, 1]), groups)
    penalty = 0.0
    for grad in grads:  # each discriminator sees only its own group
        norm = ops.sqrt(ops.reduce_sum(ops.square(ops.reshape(grad, [batch, -1])), axis=1) + 1e-12)
        penalty += ops.reduce_mean(ops.square(norm - 1.0))
    return penalty


def learning_rate(ops: Ops, step: Array, config: dict) -> Array:
    """Constant `learning_rate`, then linear decay to 0 from `lr_decay_start` to `steps`
    (`step` counts G updates)."""
    base, start, end = config["learning_rate"], config["lr_decay_start"], config["steps"]
    if start >= end:
        return ops.to_float(base)
    frac = (float(end) - ops.to_float(step)) / float(end - start)
    return base * ops.clip(frac, 0.0, 1.0)
