"""The autograd engine: Tensor, Function, the graph walk, grad modes, gradcheck, trace."""
from .tensor import Tensor, Parameter
from .function import Function
from .engine import backward, grad
from .grad_mode import (no_grad, enable_grad, set_grad_enabled, is_grad_enabled,
                        detect_anomaly, is_anomaly_enabled)
from .gradcheck import gradcheck, gradgradcheck, GradcheckError
from .creation import (tensor, as_tensor, zeros, ones, empty, full, zeros_like, ones_like,
                       full_like, randn, rand, randint, randn_like, rand_like, arange,
                       linspace, eye)
from .transfer import To
from .trace import trace
