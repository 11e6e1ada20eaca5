"""File I/O: checkpoints (``save`` / ``load``, a single .npz file, no pickle)."""
from .checkpoint import save, load, CheckpointError

__all__ = ['save', 'load', 'CheckpointError']
