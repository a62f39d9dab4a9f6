"""``tunnellab-advise``: which layer of a pretrained backbone transfers to your images?"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from tunnellab.advise.advisor import advise
from tunnellab.cli.app import hydra_app
from tunnellab.cli.summary import format_advice_summary
from tunnellab.report import write_advice_html


def advise_command(cfg: DictConfig, run_dir: Path) -> str:
    """Probe every tap on ``data.path``; recommend one; check resolution and robustness."""
    result = advise(cfg, run_dir)
    if cfg.get("report", True):  # advice.html next to advice.md
        markdown = result.files["advice"]
        result.files["advice_html"] = write_advice_html(markdown.parent, markdown.read_text())
    return format_advice_summary(result.advice, result.files, run_dir)


main = hydra_app(advise_command, config_name="advise")
