"""Models: parameters; spectral, spatial, temporal and sky models."""

from gammaxr.models import spatial, spectral, temporal
from gammaxr.models.core import MODEL_REGISTRY, Model, ModelTypeError, register_model
from gammaxr.models.npred import FoldingError, NpredEvaluator, fold, npred, psf_kernel
from gammaxr.models.parameters import Parameter, ParameterError, Parameters
from gammaxr.models.sky import FoVBackgroundModel, Models, SkyModel
from gammaxr.models.spatial import *  # noqa: F403  (the spatial model classes)
from gammaxr.models.spectral import *  # noqa: F403  (the spectral model classes)
from gammaxr.models.temporal import *  # noqa: F403  (the temporal model classes)

__all__ = [  # noqa: PLE0604
    *spatial.__all__,
    *spectral.__all__,
    *temporal.__all__,
    "FoVBackgroundModel",
    "FoldingError",
    "MODEL_REGISTRY",
    "Model",
    "Models",
    "NpredEvaluator",
    "ModelTypeError",
    "Parameter",
    "ParameterError",
    "Parameters",
    "SkyModel",
    "fold",
    "npred",
    "psf_kernel",
    "register_model",
]
