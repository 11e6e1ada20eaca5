"""Data: datasets and loaders, procedural datasets with known ground truth, real-data
loaders, and text tasks (see docs/data.md).

Everything here is host-side NumPy; ``DataLoader`` moves each batch to the chosen
device explicitly. Every procedural generator takes ``seed`` (an int for a
reproducible draw, a NumPy Generator, or None for the global host generator that
``sg.manual_seed`` seeds).

    dataset.py   Dataset, TensorDataset, Subset, random_split
    loader.py    DataLoader, collate, batch_to_device
    toy2d.py     toy2d(name, n, seed), toy2d_truth(name): moons ... pinwheel
    avatars.py   avatars(n, seed), avatar_joint(), render_avatar(s)
    images.py    jars(n, seed), shapes(n, size, seed)
    captions.py  caption_shapes(n, seed, split), encode_captions, HOLDOUT: captioned
                 shapes for text-to-image (the full module: scratchgen.data.captions);
                 caption_avatars(n, seed, split): five-word captioned 32x32 avatars
    idx.py       read_idx, write_idx
    mnist.py     mnist(), fashion_mnist(), digits()
    text.py      CharTokenizer
    tasks.py     addition_task, sort_task
    files.py     load_points, load_images, load_categories, load_text: a user's own
                 data (the demos' --data)

``sg.data.avatars``, ``sg.data.toy2d`` and ``sg.data.mnist`` are the functions; their
modules' other contents are reachable as ``from scratchgen.data.avatars import SHAPE``.
"""
from .dataset import Dataset, TensorDataset, Subset, random_split
from .loader import DataLoader, collate, batch_to_device
from .toy2d import (toy2d, toy2d_truth, Toy2DTruth, ring_means, grid_means,
                    mixture_log_density, checkerboard_log_density)
from .toy2d import NAMES as TOY2D_NAMES
from .avatars import (avatars, avatar_joint, avatar_entropy, render_avatar, render_avatars,
                      describe_avatar, all_avatar_combinations)
from .avatars import FEATURE_NAMES as AVATAR_FEATURES, FEATURE_VALUES as AVATAR_VALUES
from .avatars import SHAPE as AVATAR_SHAPE
from .images import (jars, render_jars, shapes, render_shapes, ShapesData, SHAPE_CLASSES,
                     SHAPE_COLOURS)
from .captions import (caption_shapes, encode_captions, caption_attributes, caption_of,
                       CaptionedShapes, HOLDOUT, load_captioned_images, caption_avatars)
from .idx import read_idx, write_idx
from .mnist import mnist, fashion_mnist, digits, data_dir, DatasetUnavailableError
from .text import CharTokenizer
from .tasks import SequenceTask, addition_task, sort_task
from .files import load_points, load_images, load_categories, load_text, DataFileError

__all__ = [
    'Dataset', 'TensorDataset', 'Subset', 'random_split', 'DataLoader', 'collate',
    'batch_to_device', 'toy2d', 'toy2d_truth', 'Toy2DTruth', 'TOY2D_NAMES', 'ring_means',
    'grid_means', 'mixture_log_density', 'checkerboard_log_density', 'avatars', 'avatar_joint',
    'avatar_entropy', 'render_avatar', 'render_avatars', 'describe_avatar',
    'all_avatar_combinations', 'AVATAR_FEATURES', 'AVATAR_VALUES', 'AVATAR_SHAPE', 'jars',
    'render_jars', 'shapes', 'render_shapes', 'ShapesData', 'SHAPE_CLASSES', 'SHAPE_COLOURS',
    'caption_shapes', 'caption_avatars', 'encode_captions', 'caption_attributes', 'caption_of', 'CaptionedShapes',
    'HOLDOUT', 'load_captioned_images', 'read_idx', 'write_idx', 'mnist', 'fashion_mnist', 'digits', 'data_dir',
    'DatasetUnavailableError', 'CharTokenizer', 'SequenceTask', 'addition_task', 'sort_task',
    'load_points', 'load_images', 'load_categories', 'load_text', 'DataFileError',
]
