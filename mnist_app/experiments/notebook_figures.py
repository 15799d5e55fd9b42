"""What the course notebooks printed, as data: per lesson and value, the figures quoted exactly
from the course materials (the seeds 001, 004) with the lines they were read from, and 002's
per-epoch tables for the report presets.

A figure the notebook did not print is None. A caveat (`notebook.caveat.<key>` in
locales/lessons.*.json) says where a printed figure is not what it seems: 004 tested on images it
forgot to scale, printed one stale result twice, and called a relu-then-tanh network "tanh".
"""

from __future__ import annotations

from dataclasses import dataclass

# The course documents the figures are quoted from (shared/seeds/ beside the checkout).
SEED_FILES = {"000": "000.txt", "001": "001.txt", "002": "002.txt", "004": "004.txt"}


@dataclass(frozen=True)
class Printed:
    """What a notebook printed for one value of a lesson, and the lines it is read from."""

    value: object
    val_accuracy: float | None  # the last epoch's val_accuracy, as printed
    test_accuracy: float | None  # the test accuracy, as printed (a fraction)
    quotes: tuple[str, ...]  # lines exactly as the notebook has them
    caveats: tuple[str, ...] = ()  # notebook.caveat.<key>: why a figure is not what it seems


# 004's lines: the last epoch of each fit (its val_accuracy) and the print of its test figure.
_BASE_VAL = (
    "500/500 - 1s - 3ms/step - accuracy: 0.9702 - loss: 0.0956 - val_accuracy: 0.9671 - "
    "val_loss: 0.1171"
)
_BASE_TEST = "Pérdida de prueba: 18.33. Precisión de prueba: 96.60%"
_UNSCALED = ("unscaled_test",)
_BASELINE = Printed(100, 0.9671, 0.9660, (_BASE_VAL, _BASE_TEST), _UNSCALED)  # In [93]-[95]


def _004(value, val: float, test: float, val_line: str, test_line: str, *caveats: str):
    return Printed(value, val, test, (val_line, test_line), (*_UNSCALED, *caveats))


def _baseline(value) -> Printed:
    """004's first network (2 × 50 relu, batch 100, Adam 0.001) for the value it stands for."""
    return Printed(value, _BASELINE.val_accuracy, _BASELINE.test_accuracy, _BASELINE.quotes,
                   _UNSCALED)  # fmt: skip


_W500 = _004(
    500, 0.9790, 0.9769,
    "500/500 - 2s - 3ms/step - accuracy: 0.9900 - loss: 0.0301 - val_accuracy: 0.9790 - "
    "val_loss: 0.0758",
    "Pérdida de prueba: 13.89. Precisión de prueba: 97.69%",
)  # fmt: skip
_D3 = _004(
    3, 0.9802, 0.9808,
    "500/500 - 2s - 3ms/step - accuracy: 0.9886 - loss: 0.0360 - val_accuracy: 0.9802 - "
    "val_loss: 0.0706",
    "Pérdida de prueba: 13.43. Precisión de prueba: 98.08%",
)  # fmt: skip
_001_BASE = Printed(
    None, None, 0.9562, ("[0.13791403009481729, 0.9562000036239624]",), ("training_prose",)
)


def _001_base(value) -> Printed:
    """001's one printed result (2 × 64 relu, batch 32, Adam 0.001, 5 epochs), for that value."""
    return Printed(value, None, _001_BASE.test_accuracy, _001_BASE.quotes, _001_BASE.caveats)


def _001_nothing(value, quote: str, caveat: str) -> Printed:
    """A variant 001 wrote but printed no result for."""
    return Printed(value, None, None, (quote,), (caveat,))


FIGURES: dict[str, tuple[Printed, ...]] = {
    "004-width": (
        _004(
            50,
            0.9655,
            0.9610,
            "500/500 - 1s - 3ms/step - accuracy: 0.9691 - loss: 0.1004 - val_accuracy: 0.9655 - "
            "val_loss: 0.1199",
            "Pérdida de prueba: 19.84. Precisión de prueba: 96.10%",
        ),
        _004(
            100,
            0.9732,
            0.9724,
            "500/500 - 1s - 3ms/step - accuracy: 0.9816 - loss: 0.0600 - val_accuracy: 0.9732 - "
            "val_loss: 0.0910",
            "Pérdida de prueba: 16.22. Precisión de prueba: 97.24%",
        ),
        _004(
            200,
            0.9761,
            0.9777,
            "500/500 - 2s - 4ms/step - accuracy: 0.9867 - loss: 0.0403 - val_accuracy: 0.9761 - "
            "val_loss: 0.0808",
            "Pérdida de prueba: 12.85. Precisión de prueba: 97.77%",
        ),
        _004(
            300,
            0.9775,
            0.9777,
            "500/500 - 1s - 3ms/step - accuracy: 0.9905 - loss: 0.0307 - val_accuracy: 0.9775 - "
            "val_loss: 0.0813",
            "Pérdida de prueba: 14.86. Precisión de prueba: 97.77%",
        ),
        _W500,
    ),  # fmt: skip
    "004-depth": (
        Printed(2, _W500.val_accuracy, _W500.test_accuracy, _W500.quotes, _W500.caveats),
        _D3,
    ),
    "004-deep": (
        _D3,
        _004(
            4,
            0.9727,
            0.9719,
            "500/500 - 2s - 3ms/step - accuracy: 0.9872 - loss: 0.0419 - val_accuracy: 0.9727 - "
            "val_loss: 0.0970",
            "Pérdida de prueba: 17.74. Precisión de prueba: 97.19%",
        ),
        _004(
            5,
            0.9734,
            0.9736,
            "500/500 - 2s - 4ms/step - accuracy: 0.9862 - loss: 0.0486 - val_accuracy: 0.9734 - "
            "val_loss: 0.1007",
            "Pérdida de prueba: 16.50. Precisión de prueba: 97.36%",
        ),
    ),  # fmt: skip
    "004-activation": (
        _baseline("relu"),
        _004(
            "sigmoid",
            0.9510,
            0.9412,
            "500/500 - 1s - 3ms/step - accuracy: 0.9474 - loss: 0.1793 - val_accuracy: 0.9510 - "
            "val_loss: 0.1693",
            "Pérdida de prueba: 0.20. Precisión de prueba: 94.12%",
        ),
        _004(
            "tanh",
            0.9680,
            0.9601,
            "500/500 - 2s - 5ms/step - accuracy: 0.9721 - loss: 0.0921 - val_accuracy: 0.9680 - "
            "val_loss: 0.1058",
            "Pérdida de prueba: 0.14. Precisión de prueba: 96.01%",
            "relu_then_tanh",
        ),
    ),  # fmt: skip
    "004-batch": (
        _baseline(100),
        _004(
            10000,
            0.7788,
            0.7648,
            "5/5 - 1s - 251ms/step - accuracy: 0.7170 - loss: 1.0987 - val_accuracy: 0.7788 - "
            "val_loss: 0.9310",
            "Pérdida de prueba: 40.32. Precisión de prueba: 76.48%",
        ),
    ),  # fmt: skip
    "004-sgd": (
        # 004 printed the batch-10,000 network's test figure again: not this network's.
        Printed(
            1,
            0.9590,
            None,
            (
                "50000/50000 - 144s - 3ms/step - accuracy: 0.9685 - loss: 0.1294 - "
                "val_accuracy: 0.9590 - val_loss: 0.1660",
                "Pérdida de prueba: 40.32. Precisión de prueba: 76.48%",
            ),
            ("stale_test",),
        ),
        _baseline(100),
    ),  # fmt: skip
    "004-learning-rate": (
        _004(
            0.0001,
            0.9289,
            0.9257,
            "500/500 - 3s - 5ms/step - accuracy: 0.9196 - loss: 0.2863 - val_accuracy: 0.9289 - "
            "val_loss: 0.2555",
            "Pérdida de prueba: 33.43. Precisión de prueba: 92.57%",
        ),
        _baseline(0.001),
        _004(
            0.02,
            0.9453,
            0.9424,
            "500/500 - 5s - 9ms/step - accuracy: 0.9568 - loss: 0.1612 - val_accuracy: 0.9453 - "
            "val_loss: 0.2446",
            "Pérdida de prueba: 47.56. Precisión de prueba: 94.24%",
        ),
    ),  # fmt: skip
    "004-optimizer": (
        Printed("sgd", None, None, ("## 10. Optimización Avanzada",), ("empty_exercise",)),
        Printed("rmsprop", None, None, ("## 10. Optimización Avanzada",), ("empty_exercise",)),
        _baseline("adam"),
    ),
    "001-learning-rate": (
        _001_base(0.001),
        _001_nothing(0.005, "  optimizer=Adam(lr=0.005),", "epochs_only"),
    ),
    "001-batch": (_001_base(32), _001_nothing(64, "  batch_size=64,", "epochs_only")),
    "001-depth": (
        _001_base(2),
        _001_nothing(4, "¿Qué sucede si agregamos más capas?", "never_trained"),
    ),
    "001-sigmoid": (
        _001_base("relu"),
        _001_nothing("sigmoid", "  Dense(64, activation='sigmoid'),", "never_trained"),
    ),
    "001-dropout": (_001_base(0.0), _001_nothing(0.5, "  Dropout(0.5),", "never_trained")),
    "001-validation": (_001_base(0),),
}


def printed(lesson: str, value: object) -> Printed | None:
    """What the lesson's notebook printed for this value; None if it printed nothing."""
    return next((p for p in FIGURES.get(lesson, ()) if p.value == value), None)


# --- 002: a student's report, per epoch --------------------------------------------------------
@dataclass(frozen=True)
class ReportTable:
    """A version's per-epoch table in the report 002, as its lines are printed (tab-separated:
    epoch, loss, accuracy, twice across), and the test figure it reports."""

    title: str  # the report's heading for it
    lines: tuple[str, ...]
    test_line: str

    def epochs(self) -> list[tuple[int, float, float]]:
        """(epoch, training loss, training accuracy) read from the lines, in epoch order."""
        rows = []
        for line in self.lines:
            cells = line.split("\t")
            for i in range(0, len(cells) - 2, 3):
                if cells[i].strip():
                    rows.append((int(cells[i]), float(cells[i + 1]), float(cells[i + 2])))
        return sorted(rows)


REPORT_TABLES: dict[str, ReportTable] = {
    "report-v1": ReportTable(
        "5.1. Primera versión",
        (
            "1\t0.3603\t0.9007\t11\t0.0271\t0.9927",
            "2\t0.1674\t0.9526\t12\t0.0240\t0.9939",
            "3\t0.1205\t0.9656\t13\t0.0209\t0.9946",
            "4\t0.0929\t0.9736\t14\t0.0174\t0.9958",
            "5\t0.0750\t0.9784\t15\t0.0149\t0.9965",
            "6\t0.0622\t0.9819\t\t\t",
            "7\t0.0524\t0.9853\t\t\t",
            "8\t0.0439\t0.9877\t\t\t",
            "9\t0.0375\t0.9895\t\t\t",
            "10\t0.0326\t0.9911\t\t\t",
        ),
        "Prueba\t0.07754\t97.62000%",
    ),
    "report-v2": ReportTable(
        "5.2. Segunda versión",
        (
            "1\t0.3648\t0.8989\t11\t0.0497\t0.9845",
            "2\t0.1361\t0.9618\t12\t0.0478\t0.9854",
            "3\t0.1361\t0.9712\t13\t0.0455\t0.9860",  # the report repeats epoch 2's loss
            "4\t0.0847\t0.9757\t14\t0.0410\t0.9872",
            "5\t0.0759\t0.9773\t15\t0.0404\t0.9874",
            "6\t0.0691\t0.9791\t\t\t",
            "7\t0.0628\t0.9815\t\t\t",
            "8\t0.0599\t0.9821\t\t\t",
            "9\t0.0567\t0.9830\t\t\t",
            "10\t0.0522\t0.9835\t\t\t",
        ),
        "Prueba\t0.05184\t98.22000%",
    ),
    "report-v3": ReportTable(
        "5.3. Tercera versión",
        (
            "1\t0.1970\t0.9389\t11\t0.0093\t0.9971",
            "2\t0.0560\t0.9831\t12\t0.0088\t0.9973",
            "3\t0.0385\t0.9882\t13\t0.0074\t0.9978",
            "4\t0.0288\t0.9909\t14\t0.0078\t0.9975",
            "5\t0.0227\t0.9934\t15\t0.0055\t0.9983",
            "6\t0.0198\t0.9940\t16\t0.0076\t0.9977",
            "7\t0.0160\t0.9952\t17\t0.0060\t0.9983",
            "8\t0.0130\t0.9957\t18\t0.0064\t0.9980",
            "9\t0.0114\t0.9964\t19\t0.0039\t0.9988",
            "10\t0.0086\t0.9972\t20\t0.0054\t0.9985",
        ),
        "Prueba\t0.04271\t99.15000%",
    ),
}
