"""Desired state: the reviewed YAML files, validated into immutable `ServiceSpec`s."""
from app.desired_state.loader import (
    DesiredStateError,
    LoadError,
    LoadSettings,
    digest_of,
    load_directory,
    tree_signature,
)
from app.desired_state.spec import CATEGORIES, DesiredState, ServiceSpec

__all__ = ["CATEGORIES", "DesiredState", "DesiredStateError", "LoadError", "LoadSettings",
           "ServiceSpec",
           "digest_of", "load_directory", "tree_signature"]
