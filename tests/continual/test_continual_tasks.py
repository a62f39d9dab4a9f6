"""Task splits: 1-based class ranges and lists, relabelling, and one-paragraph errors."""

from __future__ import annotations

import pytest
import torch

from tunnellab.continual.tasks import parse_classes, task_classes, task_splits
from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.errors import ConfigError


def test_ranges_and_lists_parse_to_zero_based_classes():
    assert parse_classes("1-3,7", 10, "k") == [0, 1, 2, 6]
    assert parse_classes([10, 2], 10, "k") == [9, 1]
    assert task_classes(["1-50", "51-100"], 100) == [list(range(50)), list(range(50, 100))]


@pytest.mark.parametrize("spec", ["0-3", "5-11", "a-b", [], [1, 1]])
def test_bad_task_is_a_config_error(spec):
    with pytest.raises(ConfigError, match="is not a task"):
        parse_classes(spec, 10, "continual.tasks[0]")


def test_overlapping_tasks_are_refused():
    with pytest.raises(ConfigError, match="shares classes"):
        task_classes(["1-5", "5-10"], 10)


def test_task_splits_keep_only_their_classes_relabelled():
    labels = torch.arange(12) % 4
    arrays = ImageArrays(torch.zeros(12, 3, 4, 4, dtype=torch.uint8), labels, list("abcd"))
    arrays.images[:, 0, 0, 0] = torch.arange(12, dtype=torch.uint8)
    task = task_splits(DatasetSplits("d", arrays, arrays, arrays), [3, 1], "d-task2")
    assert task.train.classes == ["d", "b"] and task.n_classes == 2
    originals = task.train.images[:, 0, 0, 0].long()
    assert torch.equal(labels[originals], torch.tensor([1, 3, 1, 3, 1, 3]))
    assert torch.equal(task.train.labels, torch.tensor([1, 0, 1, 0, 1, 0]))
