"""rnnlab.comparison: the numbers of comparing two runs (oracle: the inputs themselves)."""

import numpy as np
import pandas as pd

from rnnlab.comparison import per_step


def metrics_frame():
    return pd.DataFrame(
        {
            "step": [0, 0, 1, 1, 2, 2],
            "update": [0, 1, 2, 3, 4, 5],
            "loss": [1.0, 0.5, 0.8, 0.4, 0.6, 0.3],
            "seq_loss": [1.5, 1.5, 1.2, 1.2, 0.9, 0.9],
        }
    )


def test_per_step_keeps_one_loss_per_training_step():
    ps = per_step(metrics_frame())
    assert list(ps["step"]) == [0, 1, 2] and list(ps["seq_loss"]) == [1.5, 1.2, 0.9]
    live = metrics_frame().drop(columns="seq_loss")  # live records: chunk losses, summed per step
    np.testing.assert_allclose(per_step(live)["seq_loss"], [1.5, 1.2, 0.9])
