"""Diffusion models (docs/diffusion.md): DDPM, DDIM, the VP-SDE and its probability-flow
ODE, exact likelihood, inpainting, classifier-free guidance and progressive distillation.

schedule     Schedule: ᾱ, α, β, SNR (linear, cosine); q(x_t | x_0) in closed form
objectives   ε-, v- and x₀-prediction: losses and conversions
samplers     ddpm, ddim (+ encode), sde, ode (Heun, RK4), ode_log_likelihood, inpaint, cfg_combine
networks     MLPDenoiser (2-D points), UNet (images), TimeEmbedding
model        DiffusionConfig, Diffusion (schedule + network + loss + eps_fn + sample)
distill      progressive distillation: student_times, batch_eps_fn, distill_target, distill_loss,
             distill_round
conditioning TextCondition (tokens, padding, pooled): what a text-conditioned denoiser reads
dit          DiT: a transformer on patches with adaLN-Zero conditioning; patchify, unpatchify
"""
from .schedule import Schedule
from .objectives import PREDICTIONS, WEIGHTINGS, to_eps, to_x0, target, loss_weight, diffusion_loss
from .samplers import (ddpm_step, ddpm_sample, ddim_timesteps, ddim_step, ddim_sample,
                       ddim_encode, denoise, sde_sample, ode_drift, ode_sample,
                       ode_log_likelihood, inpaint, cfg_combine)
from .networks import TimeEmbedding, MLPDenoiser, UNet, ResBlock, AttentionBlock, CrossAttentionBlock
from .model import DiffusionConfig, Diffusion, predict_eps, guided_eps_fn
from .distill import student_times, batch_eps_fn, distill_target, distill_loss, distill_round
from .conditioning import TextCondition, concat_conditions
from .dit import DiT, patchify, unpatchify
