"""Normalizing flows: exact likelihoods through invertible maps.

A flow f maps data x to z = f(x) with a standard-normal base density, and the change of
variables gives the exact log-likelihood it is trained to maximise:

    log p(x) = log p_z(f(x)) + log |det ∂f/∂x|,     p_z = N(0, I)
    f = f_K ∘ … ∘ f_1  ⇒  log |det ∂f/∂x| = Σ_k log |det ∂f_k/∂h_{k−1}|

Sampling runs the inverse, x = f⁻¹(z), z ~ N(0, I). Every transform returns its output
and the log |det| of its Jacobian, in both directions.

    base.py            Transform, Chain, Flow (log_prob, sample, trajectory)
    transforms.py      ElementwiseAffine, ActNorm, Permutation/Reverse, LULinear
    coupling.py        AffineCoupling (RealNVP), SplineCoupling (rational-quadratic)
    autoregressive.py  MADE, MAF, IAF
    images.py          Squeeze, InvConv1x1, Logit, MultiScale, dequantisation
    pixel.py           PixelMADE, PixelCNN: discrete autoregressive models of binary pixels
    config.py          FlowConfig, build_flow

The derivations, which line computes which term, and measured results: docs/flows.md.
"""
from .base import Transform, Chain, Flow, standard_normal_log_prob, sum_except_batch
from .transforms import ElementwiseAffine, ActNorm, Permutation, Reverse, LULinear
from .coupling import (Coupling, AffineCoupling, SplineCoupling, rational_quadratic_spline,
                       soft_clamp)
from .autoregressive import made_degrees, MaskedLinear, MADE, MAF, IAF
from .images import (Squeeze, InvConv1x1, Logit, MultiScale, conv_conditioner, dequantize,
                     discrete_log_prob_bound)
from .pixel import PixelMADE, MaskedConv2d, PixelCNN
from .config import FlowConfig, build_flow, mlp_conditioner
