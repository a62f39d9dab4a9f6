"""Register the structured schemas with Hydra's ConfigStore (``conf/`` files extend them)."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from tunnellab.config.schema import LabDataConfig, ModelConfig, RunConfig

_registered = False


def register_configs() -> None:
    """Store the schemas once: ``run_schema`` (primary) and ``schema/<name>`` for group files."""
    global _registered
    if _registered:
        return
    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    cs.store(group="schema", name="lab_data", node=LabDataConfig)
    cs.store(group="schema", name="model", node=ModelConfig)
    _registered = True
