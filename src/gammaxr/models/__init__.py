"""Models: parameters; spectral, spatial, temporal and sky models."""

from gammaxr.models import spectral
from gammaxr.models.core import MODEL_REGISTRY, Model, ModelTypeError, register_model
from gammaxr.models.parameters import Parameter, ParameterError, Parameters
from gammaxr.models.spectral import *  # noqa: F403  (the spectral model classes)

__all__ = [  # noqa: PLE0604
    *spectral.__all__,
    "MODEL_REGISTRY",
    "Model",
    "ModelTypeError",
    "Parameter",
    "ParameterError",
    "Parameters",
    "register_model",
]
