"""Register the structured schemas with Hydra's ConfigStore (``conf/`` files extend them)."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from tunnellab.config.data_schema import DATA_SCHEMAS
from tunnellab.config.schema import (
    AdviseDataConfig,
    LabDataConfig,
    ModelConfig,
    RunConfig,
    TimmModelConfig,
    TorchvisionModelConfig,
    ViTModelConfig,
)
from tunnellab.pretrain.paper_recipe import register_resolvers

_registered = False


def register_configs() -> None:
    """Store the schemas once: ``run_schema`` (primary) and ``schema/<name>`` for group files."""
    global _registered
    if _registered:
        return
    register_resolvers()
    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    cs.store(group="schema", name="lab_data", node=LabDataConfig)
    cs.store(group="schema", name="advise_data", node=AdviseDataConfig)
    cs.store(group="schema", name="model", node=ModelConfig)
    cs.store(group="schema", name="vit_model", node=ViTModelConfig)
    cs.store(group="schema", name="timm_model", node=TimmModelConfig)
    cs.store(group="schema", name="torchvision_model", node=TorchvisionModelConfig)
    for name, node in DATA_SCHEMAS.items():  # real datasets: conf/data/*.yaml, conf/ood/*.yaml
        cs.store(group="schema", name=name, node=node)
    _registered = True
