"""Every network of the paper behind one registry: ``build_model(name)``, ``list_models()``, ``MODELS``."""

from ._registry import MODELS, ModelSpec, build_model, display_name, list_models
from .common import FeatureOutput, count_parameters
from .microaunet import fold_training_branches

__all__ = ["MODELS", "FeatureOutput", "ModelSpec", "build_model", "count_parameters", "display_name",
           "fold_training_branches", "list_models"]
