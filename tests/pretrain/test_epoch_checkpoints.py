"""Which epochs are kept: defaults per experiment, the range check, the file names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunnellab.errors import ConfigError
from tunnellab.pretrain.epoch_checkpoints import (
    KeepEpochs,
    check_at_epochs,
    epoch_checkpoint,
    kept_epochs,
)


@pytest.mark.parametrize(
    ("experiment", "epochs"),
    [("quickstart", [1, 2, 5, 10, 20]), ("lab/depth", []), ("paper/architecture", [])],
)
def test_defaults(compose, experiment, epochs):
    assert kept_epochs(compose(f"experiment={experiment}")) == epochs


def test_kept_epochs_sorted_once_each(compose):
    assert kept_epochs(compose("experiment=smoke", "probe.at_epochs=[2,1,2]")) == [1, 2]


def test_last_epoch_allowed_one_more_refused(compose):
    check_at_epochs(compose("experiment=quickstart", "probe.at_epochs=[20]"))
    with pytest.raises(ConfigError, match=r"'probe\.at_epochs=\[5, 21\]'.*\(21\).*1 to 20"):
        check_at_epochs(compose("experiment=quickstart", "probe.at_epochs=[5,21]"))


def test_file_name():
    assert epoch_checkpoint(Path("/r"), 5) == Path("/r/checkpoints/epoch_5.ckpt")


class RecordingTrainer:
    """What :class:`KeepEpochs` asks of the trainer: its epoch and ``save_checkpoint``."""

    def __init__(self) -> None:
        self.current_epoch = 0
        self.saved: list[tuple[Path, bool]] = []

    def save_checkpoint(self, path: Path, weights_only: bool = False) -> None:
        self.saved.append((path, weights_only))


def test_keep_epochs_saves_the_listed_epochs_weights_only():
    trainer, keep = RecordingTrainer(), KeepEpochs(Path("/r"), [2, 3])
    for epoch in range(4):  # Lightning counts epochs from 0; at_epochs from 1
        trainer.current_epoch = epoch
        keep.on_train_epoch_end(trainer, None)
    assert trainer.saved == [(epoch_checkpoint(Path("/r"), e), True) for e in (2, 3)]
