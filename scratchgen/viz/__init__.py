"""Figures: image grids, 2-D scatter and density plots, training curves, latent traversals,
and the autograd graph behind a tensor.

Each function draws with matplotlib's Agg backend, writes a PNG when given ``path``
and returns the figure. Figures never go through pyplot, so nothing needs closing
(see ``_figure.py``), and matplotlib is imported only when a figure is drawn.
"""
from .images import *     # noqa: F401,F403  make_grid, image_grid, latent_traversal
from .plots import *      # noqa: F401,F403  scatter2d, density2d, training_curves
from .graph import graph  # noqa: F401       the autograd graph behind a tensor
from ._figure import new_figure, save   # noqa: F401  for figures drawn by hand (demos)
