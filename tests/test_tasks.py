"""rnnlab.tasks: each task owns its sequence length and whether a network on it can run free."""

import numpy as np
import pytest

from rnnlab import RunConfig, tasks


@pytest.mark.parametrize("name", tuple(tasks.TASKS))
@pytest.mark.parametrize("seq_len", [5, 37])
def test_the_length_a_config_reports_is_the_length_sampled(name, seq_len):
    batch = tasks.make_task(name, seq_len).sample(np.random.default_rng(0), 3)
    L = RunConfig(task=name, seq_len=seq_len).seq_total
    assert batch.x.shape[0] == tasks.sequence_length(name, seq_len) == L


@pytest.mark.parametrize("name", tuple(tasks.TASKS))
def test_only_a_task_whose_input_is_the_last_target_can_run_free(name):
    batch = tasks.make_task(name, 12).sample(np.random.default_rng(1), 4)
    feeds_back = (
        batch.y.dim() == 2 and batch.y.is_floating_point() and bool((batch.x[1:, :, 0] == batch.y[:-1]).all())
    )  # x_{t+1} = y_t: the network can feed its output back
    assert tasks.free_running(name, teacher_forcing=False) == feeds_back
    assert not tasks.free_running(name, teacher_forcing=True)


def test_an_unknown_task_names_the_choices():
    with pytest.raises(ValueError, match="task: 'parity' is not one of adding, copy, order, sine"):
        tasks.sequence_length("parity", 10)
