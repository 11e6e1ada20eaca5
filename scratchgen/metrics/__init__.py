"""Sample-quality and likelihood metrics, computed on the host with NumPy.

Inputs may be NumPy arrays or scratchgen Tensors on any device (Tensors are copied to
the host with ``.numpy()``). Definitions, equations and how to read the numbers:
docs/metrics.md.

two_sample     mmd2_unbiased, mmd_permutation_test, one_nn_accuracy
frechet        frechet_distance (Gaussian fits, optional ``features=`` map)
feature_net    train_feature_net (self-trained stand-in for Inception), classifier_accuracy
modes          modes_captured, high_quality_fraction, reverse_kl_over_modes (ring / grid)
discrete       log_likelihood, kl_divergence, total_variation; nats <-> bits per dim
memorisation   nearest_training_distance
scores         inception_score, mode_score (on a classifier's p(y|x))
wasserstein    wasserstein_distance (exact in 1-D, sliced in more dimensions)
attributes     train_attribute_classifiers, attribute_accuracy (prompted attributes), recall_at_1
"""
from .two_sample import *      # noqa: F401,F403
from .frechet import *         # noqa: F401,F403
from .feature_net import *     # noqa: F401,F403
from .modes import *           # noqa: F401,F403
from .discrete import *        # noqa: F401,F403
from .memorisation import *    # noqa: F401,F403
from .scores import *          # noqa: F401,F403
from .wasserstein import *     # noqa: F401,F403
from .attributes import *      # noqa: F401,F403
