"""Models: parameters; spectral, spatial, temporal and sky models."""

from gammaxr.models import spatial, spectral, temporal
from gammaxr.models.core import MODEL_REGISTRY, Model, ModelTypeError, register_model
from gammaxr.models.parameters import Parameter, ParameterError, Parameters
from gammaxr.models.spatial import *  # noqa: F403  (the spatial model classes)
from gammaxr.models.spectral import *  # noqa: F403  (the spectral model classes)
from gammaxr.models.temporal import *  # noqa: F403  (the temporal model classes)

__all__ = [  # noqa: PLE0604
    *spatial.__all__,
    *spectral.__all__,
    *temporal.__all__,
    "MODEL_REGISTRY",
    "Model",
    "ModelTypeError",
    "Parameter",
    "ParameterError",
    "Parameters",
    "register_model",
]
