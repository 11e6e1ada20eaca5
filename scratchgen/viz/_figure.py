"""Figure plumbing shared by the plots: a pyplot-free Agg figure, and saving it.

Figures are built with matplotlib's object API (``Figure`` + ``FigureCanvasAgg``), never
with pyplot: they are not registered in pyplot's global list of open figures, so
nothing needs closing and a thousand plots in a training loop do not pile up in
memory, and the caller's interactive backend is left alone. matplotlib is imported
only when a figure is made, so ``import scratchgen`` does not need it.
"""
import os

DPI = 100


def new_figure(width, height):
    """An Agg figure of ``width`` x ``height`` inches at ``DPI``, with constrained layout."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("scratchgen.viz needs matplotlib: pip install matplotlib "
                          "(or pip install 'scratchgen[demos]')") from None
    fig = Figure(figsize=(width, height), dpi=DPI, layout='constrained')
    FigureCanvasAgg(fig)        # attaches itself as fig.canvas
    return fig


def save(fig, path):
    """Write ``fig`` as a PNG to ``path`` (folders created) when a path is given."""
    if path is not None:
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fig.savefig(path, dpi=DPI, format='png')
    return fig
