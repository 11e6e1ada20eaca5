"""Spatial layers on (N, C, H, W) images: ``Conv2d``, ``ConvTranspose2d``, pooling and
``Upsample``. The arithmetic lives in the conv ops (``F.conv2d`` ...); these modules own
the weights and their PyTorch layout and initialisation.

Output size of a convolution along one axis (input n, kernel k, stride s, padding p,
dilation d):  out = floor((n + 2p - d (k - 1) - 1) / s) + 1.
A transposed convolution inverts it: out = (n - 1) s - 2p + d (k - 1) + output_padding + 1.
"""

from . import functional as F
from ._utils import new_parameter, reset_like_pytorch_
from ..checks import int_pair, positive_int
from .module import Module

__all__ = ['Conv2d', 'ConvTranspose2d', 'MaxPool2d', 'AvgPool2d', 'Upsample']


def _check_image(x, channels, who):
    if x.ndim != 4:
        raise ValueError(f"{who}: expected input of shape (N, C, H, W), got shape {x.shape}")
    if x.shape[1] != channels:
        raise ValueError(f"{who}: input of shape {x.shape} has {x.shape[1]} channels, "
                         f"expected {channels}")


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: arguments, bias, init, repr."""

    def __init__(self, who, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, weight_shape, device, dtype):
        super().__init__()
        self.in_channels = positive_int(in_channels, 'in_channels', who)
        self.out_channels = positive_int(out_channels, 'out_channels', who)
        self.groups = positive_int(groups, 'groups', who)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{who}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        self.kernel_size = int_pair(kernel_size, 'kernel_size', who, minimum=1)
        self.stride = int_pair(stride, 'stride', who, minimum=1)
        self.dilation = int_pair(dilation, 'dilation', who, minimum=1)
        for name in ('kernel_size', 'stride', 'dilation'):
            if min(getattr(self, name)) < 1:
                raise ValueError(f"{who}: {name} must be positive, got {getattr(self, name)}")
        self.padding = padding if isinstance(padding, str) else int_pair(padding, 'padding', who)
        if not isinstance(self.padding, str) and min(self.padding) < 0:
            raise ValueError(f"{who}: padding must be non-negative, got {padding}")
        self.weight = new_parameter(*weight_shape, device=device, dtype=dtype)
        if bias:
            self.bias = new_parameter(out_channels, device=device, dtype=dtype)
        else:
            self.register_parameter('bias', None)
        self.reset_parameters()

    def reset_parameters(self):
        # fan_in = weight.shape[1] * kh * kw (for ConvTranspose2d: out_channels/groups * kh * kw)
        reset_like_pytorch_(self.weight, self.bias,
                            self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1])

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if getattr(self, 'output_padding', (0, 0)) != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != 'zeros':
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-d cross-correlation, as PyTorch's Conv2d.

    x (N, C_in, H, W) -> (N, C_out, H_out, W_out); weight (C_out, C_in / groups, kh, kw),
    bias (C_out,). ``padding``: an int, a pair, 'valid' (0) or 'same' (stride 1; output
    size equals input size, extra padding on the bottom/right when the total is odd).
    ``padding_mode``: 'zeros', 'reflect', 'replicate' or 'circular'.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode='zeros', device=None, dtype=None):
        if padding_mode not in ('zeros', 'reflect', 'replicate', 'circular'):
            raise ValueError(f"Conv2d: padding_mode must be 'zeros', 'reflect', 'replicate' or "
                             f"'circular', got {padding_mode!r}")
        if isinstance(padding, str):
            if padding not in ('same', 'valid'):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'same' or 'valid', "
                                 f"got {padding!r}")
            if padding == 'same' and int_pair(stride, 'stride', 'Conv2d') != (1, 1):
                raise ValueError("Conv2d: padding='same' needs stride 1")
        self.padding_mode = padding_mode
        k = int_pair(kernel_size, 'kernel_size', 'Conv2d')
        groups_ok = isinstance(groups, int) and groups > 0
        super().__init__('Conv2d', in_channels, out_channels, kernel_size, stride, padding,
                         dilation, groups, bias,
                         (out_channels, in_channels // groups if groups_ok else 0) + k,
                         device, dtype)

    def _padding(self):
        """(top, bottom, left, right) padding, for the non-zero padding modes."""
        if self.padding == 'valid':
            return 0, 0, 0, 0
        if self.padding == 'same':      # an odd total pads the bottom/right one more
            pads = []
            for k, d in zip(self.kernel_size, self.dilation):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]
            return tuple(pads)
        ph, pw = self.padding
        return ph, ph, pw, pw

    def forward(self, x):
        _check_image(x, self.in_channels, 'Conv2d')
        padding = self.padding
        if self.padding_mode != 'zeros':     # pad explicitly, then convolve unpadded
            top, bottom, left, right = self._padding()
            x = F.pad(x, (left, right, top, bottom), mode=self.padding_mode)
            padding = 0
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvNd):
    """2-d transposed convolution (the gradient of Conv2d w.r.t. its input), as PyTorch's.

    x (N, C_in, H, W) -> (N, C_out, H_out, W_out); weight (C_in, C_out / groups, kh, kw),
    H_out = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1.
    ``forward(x, output_size=None)``: an explicit (H_out, W_out) picks output_padding.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode='zeros',
                 device=None, dtype=None):
        if padding_mode != 'zeros':
            raise ValueError(f"ConvTranspose2d: padding_mode {padding_mode!r} is not supported "
                             "(only 'zeros')")
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a pair, got {padding!r}")
        self.padding_mode = padding_mode
        self.output_padding = int_pair(output_padding, 'output_padding', 'ConvTranspose2d')
        k = int_pair(kernel_size, 'kernel_size', 'ConvTranspose2d')
        groups_ok = isinstance(groups, int) and groups > 0
        super().__init__('ConvTranspose2d', in_channels, out_channels, kernel_size, stride,
                         padding, dilation, groups, bias,
                         (in_channels, out_channels // groups if groups_ok else 0) + k,
                         device, dtype)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if not 0 <= op < max(s, d):
                raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be "
                                 f"smaller than stride {self.stride} or dilation {self.dilation}")

    def _output_padding(self, x, output_size):
        if output_size is None:
            return self.output_padding
        size = tuple(output_size)[-2:]
        pads = []
        for i in range(2):
            smallest = ((x.shape[2 + i] - 1) * self.stride[i] - 2 * self.padding[i]
                        + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            extra, room = size[i] - smallest, max(self.stride[i], self.dilation[i])
            if not 0 <= extra < room:
                raise ValueError(f"ConvTranspose2d: output_size {tuple(output_size)} is not "
                                 f"reachable from input of shape {x.shape}; sizes from "
                                 f"{smallest} to {smallest + room - 1} are possible along "
                                 f"dim {2 + i}")
            pads.append(extra)
        return tuple(pads)

    def forward(self, x, output_size=None):
        _check_image(x, self.in_channels, 'ConvTranspose2d')
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation)


class MaxPool2d(Module):
    """Maximum over (kh, kw) windows: (N, C, H, W) -> (N, C, H_out, W_out); ``stride``
    defaults to ``kernel_size``; padding counts as -inf."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation, self.ceil_mode = padding, dilation, ceil_mode

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over (kh, kw) windows; zero padding counts in the mean unless
    ``count_include_pad=False`` (as PyTorch)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Upsample(Module):
    """Resize (N, C, H, W) images by ``scale_factor`` or to ``size``, mode 'nearest'
    (PyTorch's index rule) or 'nearest-exact'."""

    def __init__(self, size=None, scale_factor=None, mode='nearest'):
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor")
        if mode not in ('nearest', 'nearest-exact'):
            raise ValueError(f"Upsample: mode {mode!r} is not supported; use 'nearest' or "
                             "'nearest-exact'")
        self.size, self.mode = size, mode
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) \
            else scale_factor

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode)

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"
