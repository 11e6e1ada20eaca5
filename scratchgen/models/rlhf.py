"""ChatGPT's three training steps in miniature: SFT, a reward model, policy optimisation.

Notation: x a prompt, y = (y_1 .. y_A) an answer of A tokens, pi_theta the policy (a
GPT, models/gpt.py), pi_ref the frozen model after step 1, sigma the logistic function.
Every answer has the same length A here, so no padding masks appear.

1. Supervised fine-tuning on demonstrations (x, y): next-token cross-entropy on the
   answer tokens only (the prompt is given, not learned):

       L_SFT = -1/A sum_t log pi_theta(y_t | x, y_<t)

2. A reward model r_phi(x, y): the GPT body with a scalar head read at the last
   position, fitted to rankings "y_w is preferred to y_l" with the Bradley-Terry model
   P(y_w > y_l) = sigma(r(x, y_w) - r(x, y_l)):

       L_RM = -log sigma(r_phi(x, y_w) - r_phi(x, y_l))

3a. PPO: maximise E_{y ~ pi_theta}[ r_phi(x, y) ] - beta KL(pi_theta || pi_ref). The
   penalty is paid per token, inside the reward of an episode of A steps:

       R_t = -beta (log pi_old(y_t | s_t) - log pi_ref(y_t | s_t)) + [t = A] r_phi(x, y)

   with s_t = (x, y_<t). A value head V(s_t) gives advantages by GAE:
   delta_t = R_t + gamma V(s_{t+1}) - V(s_t) (V(s_{A+1}) = 0),
   Adv_t = sum_k (gamma lambda)^k delta_{t+k}, returns G_t = Adv_t + V(s_t); the policy
   takes a few steps on the clipped surrogate, rho_t = pi_theta(y_t|s_t) / pi_old(y_t|s_t):

       L_clip = -mean_t min(rho_t Adv_t, clip(rho_t, 1 - eps, 1 + eps) Adv_t)

   and the value head on (V(s_t) - G_t)^2.

3b. DPO, the direct alternative that needs no reward model nor sampling:

       L_DPO = -log sigma(beta [(log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l))])

   where log pi(y) = sum_t log pi(y_t | x, y_<t).

KL from pi_ref. Exactly per position: KL_t = sum_v pi(v | s_t) (log pi(v | s_t) -
log pi_ref(v | s_t)); summed over t along answers sampled from pi it is an unbiased
estimate of the sequence KL(pi || pi_ref) (chain rule). The one-sample estimate
log pi(y_t | s_t) - log pi_ref(y_t | s_t) is what PPO's per-token penalty uses.

The training loops are in demos/rlhf_tiny.py; equations, code and results:
docs/rlhf.md.
"""
from dataclasses import dataclass

from .. import checks
from .. import functional as F
from .. import nn
from ..autograd import Tensor
from .gpt import GPT

__all__ = ['PPOConfig', 'ScalarGPT', 'answer_logits', 'answer_logprobs', 'sequence_logprob',
           'sft_loss', 'bradley_terry_loss', 'dpo_loss', 'token_kl', 'kl_penalised_rewards',
           'gae', 'ppo_clip_loss']


# ----------------------------------------------------------------------------- config
@dataclass
class PPOConfig:
    """PPO's knobs: ``kl_coef`` = beta, ``clip_eps`` = eps, ``gamma`` and ``lam`` for
    GAE, ``value_coef`` weighs the value loss, ``epochs`` passes over each rollout."""
    kl_coef: float = 0.1
    clip_eps: float = 0.2
    gamma: float = 1.0
    lam: float = 0.95
    value_coef: float = 0.5
    epochs: int = 4

    def __post_init__(self):
        self.kl_coef = checks.number(self.kl_coef, 'kl_coef', 'PPOConfig', low=0)
        self.clip_eps = checks.number(self.clip_eps, 'clip_eps', 'PPOConfig', low=0,
                                      low_open=True)
        self.gamma = checks.number(self.gamma, 'gamma', 'PPOConfig', low=0, high=1)
        self.lam = checks.number(self.lam, 'lam', 'PPOConfig', low=0, high=1)
        self.value_coef = checks.number(self.value_coef, 'value_coef', 'PPOConfig', low=0)
        self.epochs = checks.positive_int(self.epochs, 'epochs', 'PPOConfig')


# ----------------------------------------------------------------------------- models
class ScalarGPT(nn.Module):
    """A GPT body (the blocks of models/gpt.py, through ``GPT.hidden_states``) with a
    scalar head: ``forward(idx (B, T)) -> (B, T)``, one number per position.

    As a reward model read it at the last position, ``r(x, y) = model(tokens)[:, -1]``;
    as PPO's value head read it at the positions that predict answer tokens,
    ``V(s_t) = model(tokens[:, :-1])[:, P - 1:]`` (like ``answer_logits``). The body's
    output layer (its logits) is not used."""

    def __init__(self, config, device=None, dtype=None):
        super().__init__()
        self.body = GPT(config)
        self.head = nn.Linear(config.n_embd, 1)
        nn.init.zeros_(self.head.weight)          # every score starts at 0
        nn.init.zeros_(self.head.bias)
        if device is not None or dtype is not None:
            self.to(device, dtype)

    @classmethod
    def from_gpt(cls, gpt):
        """A ScalarGPT whose body starts as a copy of ``gpt`` (InstructGPT starts its
        reward model from the SFT model), on gpt's device and dtype."""
        if not isinstance(gpt, GPT):
            raise TypeError(f"ScalarGPT.from_gpt: expected a GPT, got {type(gpt).__name__}")
        w = gpt.wte.weight
        model = cls(gpt.config, device=w.device, dtype=w.dtype)
        model.body.load_state_dict(gpt.state_dict())
        return model

    def forward(self, idx):
        h = self.body.hidden_states(idx)                 # (B, T, C)
        return self.head(h).squeeze(-1)                  # (B, T)


# ----------------------------------------------------------------------------- log-probs
def _check_tokens(tokens, prompt_length, who):
    if not isinstance(tokens, Tensor) or tokens.ndim != 2 or tokens.dtype.kind not in 'iu':
        got = getattr(tokens, 'shape', type(tokens).__name__)
        raise ValueError(f"{who}: tokens must be a (B, L) integer Tensor (prompt then "
                         f"answer), got {got}")
    P = checks.positive_int(prompt_length, 'prompt_length', who)
    if P >= tokens.shape[1]:
        raise ValueError(f"{who}: prompt_length {P} leaves no answer in tokens of shape "
                         f"{tokens.shape}")
    return P


def answer_logits(model, tokens, prompt_length):
    """The logits that predict each answer token: tokens (B, L) = prompt (P) + answer
    (A = L - P) -> (B, A, vocab); row t is pi's distribution for y_t given s_t."""
    P = _check_tokens(tokens, prompt_length, 'answer_logits')
    logits, _ = model(tokens[:, :-1])                    # position i predicts token i + 1
    return logits[:, P - 1:]


def answer_logprobs(logits, answers):
    """log pi(y_t | s_t) for the answer tokens: logits (B, A, V), answers (B, A) ints
    -> (B, A)."""
    if logits.ndim != 3 or tuple(answers.shape) != logits.shape[:2]:
        raise ValueError(f"answer_logprobs: logits (B, A, V) and answers (B, A) must match, "
                         f"got {logits.shape} and {tuple(answers.shape)}")
    logp = F.log_softmax(logits, axis=-1)
    idx = answers.data if isinstance(answers, Tensor) else answers
    return F.gather(logp, 2, idx.reshape(*idx.shape, 1)).squeeze(-1)


def sequence_logprob(model, tokens, prompt_length):
    """log pi(y | x) = sum_t log pi(y_t | s_t): tokens (B, L) -> (B,)."""
    P = _check_tokens(tokens, prompt_length, 'sequence_logprob')
    return answer_logprobs(answer_logits(model, tokens, P), tokens[:, P:]).sum(axis=-1)


# ----------------------------------------------------------------------------- objectives
def sft_loss(model, tokens, prompt_length):
    """Step 1: mean cross-entropy of the answer tokens given the prompt (nats/token)."""
    P = _check_tokens(tokens, prompt_length, 'sft_loss')
    logits = answer_logits(model, tokens, P)
    B, A, V = logits.shape
    return F.cross_entropy(logits.reshape(B * A, V), tokens[:, P:].reshape(B * A))


def _same_shape(who, **tensors):
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"{who}: inputs must have one shape, got " +
                         ', '.join(f"{k} {s}" for k, s in shapes.items()))


def bradley_terry_loss(r_chosen, r_rejected):
    """Step 2: mean of -log sigma(r_chosen - r_rejected) = softplus(r_rejected -
    r_chosen) over the pairs (computed stably)."""
    _same_shape('bradley_terry_loss', r_chosen=r_chosen, r_rejected=r_rejected)
    return F.softplus(r_rejected - r_chosen).mean()


def dpo_loss(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta=0.1):
    """Step 3b: mean of -log sigma(beta [(logp_w - ref_w) - (logp_l - ref_l)]), each a
    (B,) sequence log-probability (``sequence_logprob``) under pi and pi_ref."""
    _same_shape('dpo_loss', logp_chosen=logp_chosen, logp_rejected=logp_rejected,
                ref_chosen=ref_chosen, ref_rejected=ref_rejected)
    beta = checks.number(beta, 'beta', 'dpo_loss', low=0, low_open=True)
    margin = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return F.softplus(-beta * margin).mean()


def token_kl(logits, ref_logits):
    """Exact KL(pi(. | s_t) || pi_ref(. | s_t)) at every position: (B, A, V) twice ->
    (B, A)."""
    _same_shape('token_kl', logits=logits, ref_logits=ref_logits)
    logp = F.log_softmax(logits, axis=-1)
    ref = F.log_softmax(ref_logits, axis=-1)
    return (logp.exp() * (logp - ref)).sum(axis=-1)


# ----------------------------------------------------------------------------- PPO
def kl_penalised_rewards(scores, logp, ref_logp, kl_coef):
    """Per-token rewards R_t = -kl_coef (logp_t - ref_logp_t), plus the reward model's
    score at the last token. Arrays: scores (B,), logp and ref_logp (B, A) -> (B, A)."""
    if logp.ndim != 2 or logp.shape != ref_logp.shape or scores.shape != logp.shape[:1]:
        raise ValueError(f"kl_penalised_rewards: expected scores (B,) and logp, ref_logp "
                         f"(B, A), got {scores.shape}, {logp.shape}, {ref_logp.shape}")
    rewards = -kl_coef * (logp - ref_logp)
    rewards[:, -1] += scores
    return rewards


def gae(rewards, values, gamma=1.0, lam=0.95):
    """Generalised advantage estimates and returns for episodes of A steps that end
    after the last one. Arrays rewards, values (B, A) -> (advantages, returns), both
    (B, A): delta_t = R_t + gamma V_{t+1} - V_t with V_{A+1} = 0,
    Adv_t = delta_t + gamma lam Adv_{t+1}, returns = Adv + V."""
    if rewards.ndim != 2 or rewards.shape != values.shape:
        raise ValueError(f"gae: rewards and values must both be (B, A), got "
                         f"{rewards.shape} and {values.shape}")
    A = rewards.shape[1]
    adv = rewards * 0.0
    next_value, running = 0.0, 0.0
    for t in reversed(range(A)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        adv[:, t] = running
        next_value = values[:, t]
    return adv, adv + values


def ppo_clip_loss(logp, old_logp, advantages, clip_eps=0.2):
    """Step 3a: -mean min(rho A, clip(rho, 1 - eps, 1 + eps) A), rho = exp(logp -
    old_logp). logp (B, A) Tensor; old_logp and advantages (B, A) constants."""
    _same_shape('ppo_clip_loss', logp=logp, old_logp=old_logp, advantages=advantages)
    clip_eps = checks.number(clip_eps, 'clip_eps', 'ppo_clip_loss', low=0, low_open=True)
    ratio = (logp - old_logp).exp()
    unclipped = ratio * advantages
    clipped = ratio.clip(1.0 - clip_eps, 1.0 + clip_eps) * advantages
    return -F.minimum(unclipped, clipped).mean()
