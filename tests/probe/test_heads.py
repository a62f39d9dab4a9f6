"""All taps' linear heads trained together behave like separately trained probes."""

import numpy as np
import torch

from tunnellab.probe.heads import ProbeRecipe, train_linear_probes


def _features(
    n: int, seed: int, informative: bool, width: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    x = torch.randn(n, width, generator=gen)
    if informative:
        x[torch.arange(n), labels] += 3.0
    return x.half(), labels


def _taps(n: int, seed: int):
    good, labels = _features(n, seed, True)
    noise, _ = _features(n, seed + 1, False)
    wide, _ = _features(n, seed + 2, True, width=12)
    return [good, noise, wide], labels


RECIPE = ProbeRecipe(epochs=8, lr=1e-2, batch_size=32)


def test_informative_taps_learn_and_noise_stays_near_chance():
    train, y_train = _taps(400, 0)
    test, y_test = _taps(200, 10)
    curves = train_linear_probes(train, y_train, test, y_test, n_classes=4, recipe=RECIPE)
    assert curves.test_history.shape == (8, 3)
    assert curves.acc_best[0] > 0.9 and curves.acc_best[2] > 0.9
    assert curves.acc_best[1] < 0.45
    assert np.all(curves.acc_best >= curves.acc_last)
    assert np.isnan(curves.acc_selected).all()


def test_a_head_does_not_depend_on_the_other_heads():
    train, y_train = _taps(400, 0)
    test, y_test = _taps(200, 10)
    together = train_linear_probes(train, y_train, test, y_test, n_classes=4, recipe=RECIPE)
    alone = train_linear_probes(train[:1], y_train, test[:1], y_test, n_classes=4, recipe=RECIPE)
    np.testing.assert_allclose(together.test_history[:, 0], alone.test_history[:, 0], atol=1e-6)


def test_holdout_selection_reads_test_at_the_best_holdout_epoch():
    train, y_train = _taps(400, 0)
    test, y_test = _taps(200, 10)
    holdout = np.arange(0, 400, 10)
    curves = train_linear_probes(
        train, y_train, test, y_test, n_classes=4, recipe=RECIPE, holdout_index=holdout
    )
    assert curves.holdout_history is not None
    epochs = curves.holdout_history.argmax(0)
    expected = curves.test_history[epochs, np.arange(3)]
    np.testing.assert_array_equal(curves.acc_selected, expected)


def test_same_seed_same_numbers_and_seed_matters():
    train, y_train = _taps(300, 0)
    test, y_test = _taps(100, 10)

    def run(seed):
        return train_linear_probes(
            train,
            y_train,
            test,
            y_test,
            n_classes=4,
            recipe=ProbeRecipe(epochs=2, lr=1e-3),
            seed=seed,
        ).test_history

    np.testing.assert_array_equal(run(0), run(0))
    assert not np.array_equal(run(0), run(1))
