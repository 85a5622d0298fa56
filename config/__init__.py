"""Configuration: YAML file -> strict pydantic models (`VigilConfig`)."""

from config.loader import ConfigErrors, load_config, parse_config
from config.models import CameraConfig, CameraRole, VigilConfig

__all__ = ["CameraConfig", "CameraRole", "ConfigErrors", "VigilConfig", "load_config", "parse_config"]
