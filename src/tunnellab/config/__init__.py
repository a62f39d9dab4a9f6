"""Config schema, validation and composition."""

from tunnellab.config.compose import compose_config
from tunnellab.config.paths import config_dir
from tunnellab.config.store import register_configs
from tunnellab.config.validate import config_problems, validate_config

__all__ = ["compose_config", "config_dir", "config_problems", "register_configs", "validate_config"]
