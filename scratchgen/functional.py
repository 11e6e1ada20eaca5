"""The functional API (``import scratchgen.functional as F``): every op as a function.

Each op family lists its public functions in ``__all__``; this module gathers them.
(``scratchgen.nn.functional`` adds attention on top.)
"""
from .ops.arith import *     # noqa: F401,F403
from .ops.unary import *     # noqa: F401,F403
from .ops.reduce import *    # noqa: F401,F403
from .ops.shape import *     # noqa: F401,F403
from .ops.index import *     # noqa: F401,F403
from .ops.conv import *      # noqa: F401,F403
from .ops.norm import *      # noqa: F401,F403
from .ops.dropout import *   # noqa: F401,F403
from .ops.loss import *      # noqa: F401,F403
