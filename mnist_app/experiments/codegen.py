"""The code behind a run: a plain Keras script and notebook that train what a config describes.

The script needs only keras and numpy, and reads like a cell a teacher would write: one step
per block (load, scale, split, build, compile, train, evaluate), with short comments in the
course's language. It builds exactly the layers `mnist_app.engine.models.build_model` builds, in the
same order, and ends by printing `params: <count>` and `test_accuracy: <fraction>`.

What it cannot do in a few plain lines it leaves out and says so: the handwriting forms of
`forms` (mnist_app/engine/handforms.py) and the class's own drawings of `class_digits` (they live
in the class's database, not beside a script) are named in the script's docstring, the notebook's
introduction and a comment at the training step.
"""

from __future__ import annotations

from dataclasses import dataclass

import nbformat

from mnist_app.engine.config import (
    AUGMENT_DEGREES,
    AUGMENT_SHIFT,
    AUGMENT_ZOOM,
    RunConfig,
    layer_plan,
)
from mnist_app.engine.plan import BatchNorm, Conv, Dense, Dropout, LayerSpec, Pool, works_on_images
from mnist_app.engine.precision import resolve
from mnist_app.engine.schedules import ONECYCLE_START, ONECYCLE_WARMUP
from mnist_app.i18n import DEFAULT_LANGUAGE, format_number, translate

SCRIPT_NAME = "mnist_lab.py"
EVAL_BATCH = 1024  # images per batch when scoring, as mnist_app.engine.training does
OPTIMIZER_NAMES = {  # our names → Keras' classes
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "adam": "Adam",
    "adadelta": "Adadelta",
    "adagrad": "Adagrad",
    "adamax": "Adamax",
    "nadam": "Nadam",
    "ftrl": "Ftrl",
}
SCALING_CODE = {
    "unit": 'x_train = x_train.astype("float32") / 255\nx_test = x_test.astype("float32") / 255',
    "centered": 'x_train = x_train.astype("float32") / 255 - 0.5\n'
    'x_test = x_test.astype("float32") / 255 - 0.5',
    "none": 'x_train = x_train.astype("float32")\nx_test = x_test.astype("float32")',
}


@dataclass(frozen=True)
class Step:
    """One step of the lesson: a comment saying what it does, and its code."""

    comment: str
    code: str

    def text(self) -> str:
        return f"# {self.comment}\n{self.code}" if self.comment else self.code


@dataclass(frozen=True)
class Inputs:
    """What the steps call the three values a reader may change: the data file, limit, epochs."""

    data: str
    limit: str
    epochs: str


SCRIPT_INPUTS = Inputs("args.data", "args.limit", "args.epochs")
NOTEBOOK_INPUTS = Inputs("data_path", "limit", "epochs")


def script_for(
    config: RunConfig, language: str = DEFAULT_LANGUAGE, file_name: str = SCRIPT_NAME
) -> str:
    """A standalone Python script that trains and scores the network the config describes."""

    def say(key: str, **values: object) -> str:
        return translate(key, language, **values)

    docstring = f'"""{say("code.title", network=network_text(config, language))}\n\n'
    docstring += f"{say('code.run_it', file=file_name)}\n"
    docstring += "".join(
        f"\n{say(f'code.left_out.{what}', n=config.class_digits)}\n" for what in left_out(config)
    )
    docstring += '"""'
    settings = Step(
        say("code.settings"),
        "parser = argparse.ArgumentParser()\n"
        f'parser.add_argument("--data", help="{say("code.help.data")}")\n'
        "parser.add_argument(\n"
        f'    "--limit", type=int, default={config.limit}, help="{say("code.help.limit")}"\n'
        ")\n"
        "parser.add_argument(\n"
        f'    "--epochs", type=int, default={config.epochs}, help="{say("code.help.epochs")}"\n'
        ")\n"
        "args = parser.parse_args()",
    )
    imports = "import argparse\n" + _imports(config)
    blocks = [docstring, imports, settings.text()]
    blocks += [step.text() for step in steps(config, language, SCRIPT_INPUTS)]
    return "\n\n".join(blocks) + "\n"


def notebook_for(config: RunConfig, language: str = DEFAULT_LANGUAGE) -> nbformat.NotebookNode:
    """The same training as a Jupyter notebook: what it trains, then one cell per step."""

    def say(key: str, **values: object) -> str:
        return translate(key, language, **values)

    scheduled = config.lr_schedule != "constant"
    schedule = say(f"code.notebook.{config.lr_schedule}") if scheduled else ""
    settings = say(
        "code.notebook.settings_line",
        optimizer=OPTIMIZER_NAMES[config.optimizer],
        rate=number(config.learning_rate),
        schedule=schedule,
        batch=config.batch_size,
        epochs=config.epochs,
        seed=config.seed,
    )
    intro = say("code.notebook.intro", network=network_text(config, language), settings=settings)
    for what in left_out(config):
        intro += f"\n\n{say(f'code.left_out.{what}', n=config.class_digits)}"
    variables = Step(
        say("code.notebook.variables"),
        f"data_path = None  # {say('code.help.data')}\n"
        f"limit = {config.limit}  # {say('code.help.limit')}\n"
        f"epochs = {config.epochs}",
    )
    cells = [nbformat.v4.new_markdown_cell(f"# MNIST Lab\n\n{intro}")]
    cells.append(nbformat.v4.new_code_cell(_imports(config).strip()))
    cells.append(nbformat.v4.new_code_cell(variables.text()))
    for step in steps(config, language, NOTEBOOK_INPUTS):
        cells.append(nbformat.v4.new_code_cell(step.text()))
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernel})


def notebook_text(config: RunConfig, language: str = DEFAULT_LANGUAGE) -> str:
    """The notebook as the JSON text of an .ipynb file."""
    return nbformat.writes(notebook_for(config, language))


def network_text(config: RunConfig, language: str = DEFAULT_LANGUAGE) -> str:
    """The network in a few words, e.g. 'a convolutional network (conv32x3 pool dense128)'."""
    specs = layer_plan(config)
    if not specs:
        return translate("code.network.none", language)
    kind = "cnn" if any(isinstance(spec, Conv | Pool) for spec in specs) else "mlp"
    plan = " ".join(str(spec) for spec in specs)
    return translate(f"code.network.{kind}", language, plan=plan)


def steps(config: RunConfig, language: str, inputs: Inputs) -> list[Step]:
    """The training, step by step: seed, load, scale, split, build, compile, train, evaluate."""

    def say(key: str, **values: object) -> str:
        return translate(key, language, **values)

    return [
        Step(say("code.seed"), f"keras.utils.set_random_seed({config.seed})"),
        Step(say("code.load"), _load_code(inputs)),
        Step(say(f"code.scale.{config.scaling}"), _scale_code(config)),
        *_mistake_steps(config, language),
        *_split_steps(config, language, inputs),
        *_label_mistake_steps(config, language),
        Step(say("code.build"), _model_code(config, language)),
        Step(*_compile_code(config, language, inputs)),
        Step(_train_comment(config, language), _fit_code(config, language, inputs)),
        Step(
            say("code.evaluate"),
            f"test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size={EVAL_BATCH}, "
            "verbose=0)\n"
            'print(f"params: {model.count_params()}")\n'
            'print(f"test_accuracy: {test_accuracy:.4f}")',
        ),
    ]


def _imports(config: RunConfig) -> str:
    scheduled = config.lr_schedule != "constant"
    return ("import math\n\n" if scheduled else "\n") + "import keras\nimport numpy as np"


def _load_code(inputs: Inputs) -> str:
    return (
        f"if {inputs.data}:\n"
        f"    with np.load({inputs.data}) as mnist:\n"
        '        x_train, y_train = mnist["x_train"], mnist["y_train"]\n'
        '        x_test, y_test = mnist["x_test"], mnist["y_test"]\n'
        "else:\n"
        "    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()"
    )


def _mistake_steps(config: RunConfig, language: str) -> list[Step]:
    """Notebook 004's mistake, made on purpose: the test images go back to raw 0..255."""
    if not config.unscaled_test:
        return []
    return [
        Step(translate("code.mistake.unscaled_test", language), 'x_test = x_test.astype("float32")')
    ]


def _scale_code(config: RunConfig) -> str:
    """The scaling of the images; only the training images' with notebook 004's mistake."""
    lines = SCALING_CODE[config.scaling].splitlines()
    return "\n".join(line for line in lines if not config.unscaled_test or "x_train" in line)


def _label_mistake_steps(config: RunConfig, language: str) -> list[Step]:
    """Notebook 003's mistake, made on purpose: the training labels divided by 255."""
    if not config.labels_255:
        return []
    code = "y_train = y_train / 255" + ("\ny_val = y_val / 255" if config.validation_size else "")
    return [Step(translate("code.mistake.labels_255", language), code)]


def _split_steps(config: RunConfig, language: str, inputs: Inputs) -> list[Step]:
    """Validation images from the end of the training set, then the first `limit` images."""
    held = config.validation_size
    split = Step(
        translate("code.split", language, count=format_number(held, 0, language)),
        f"x_val, y_val = x_train[-{held}:], y_train[-{held}:]\n"
        f"x_train, y_train = x_train[:-{held}], y_train[:-{held}]",
    )
    limit = Step(
        translate("code.limit", language),
        f"if {inputs.limit}:\n"
        f"    x_train, y_train = x_train[: {inputs.limit}], y_train[: {inputs.limit}]",
    )
    return [split, limit] if held else [limit]


def _model_code(config: RunConfig, language: str) -> str:
    """`model = keras.Sequential([...])` with the layers build_model makes, in its order."""
    specs = layer_plan(config)
    images = works_on_images(specs, config.augment)
    lines = ["keras.Input(shape=(28, 28)),"]
    if images:
        lines.append(
            f"keras.layers.Reshape((28, 28, 1)),  # {translate('code.add_channel', language)}"
        )
    else:
        lines.append(f"keras.layers.Flatten(),  # {translate('code.flatten_pixels', language)}")
    mixed = resolve(config) == "bfloat16"
    if config.augment:
        lines += _augmentation_lines(config, language, mixed)
    flat = not images
    for spec in (*specs, None):  # None: the output layer
        if not flat and (spec is None or isinstance(spec, Dense)):
            lines.append(f"keras.layers.Flatten(),  # {_flatten_comment(specs, language)}")
            flat = True
        if spec is not None:
            lines.append(layer_code(spec, config.activation))
    full = ', dtype="float32"' if mixed else ""  # the probabilities in full precision
    lines.append(
        f'keras.layers.Dense(10, activation="softmax"{full}),  '
        f"# {translate('code.output', language)}"
    )
    body = "\n".join(f"        {line}" for line in lines)
    model = f"model = keras.Sequential(\n    [\n{body}\n    ]\n)"
    if mixed:  # as build_model does: bfloat16 sums in the hidden layers, float32 weights
        policy = translate("code.mixed_precision", language)
        return f'keras.config.set_dtype_policy("mixed_bfloat16")  # {policy}\n{model}'
    return model


def _flatten_comment(specs: tuple[LayerSpec, ...], language: str) -> str:
    """Flattening feature maps after convolutions, or still the (augmented) pixels."""
    convolved = any(isinstance(spec, Conv | Pool) for spec in specs)
    return translate("code.flatten_maps" if convolved else "code.flatten_pixels", language)


def _augmentation_lines(config: RunConfig, language: str, mixed: bool = False) -> list[str]:
    fill = 'fill_mode="constant"'
    if config.scaling == "centered":  # an empty pixel is -0.5 there, not 0
        fill += ", fill_value=-0.5"
    if mixed:  # the images are moved about in full precision, as build_model does
        fill += ', dtype="float32"'
    return [
        f"# {translate('code.augment', language)}",
        f"keras.layers.RandomRotation({AUGMENT_DEGREES} / 360, {fill}),",
        f"keras.layers.RandomZoom({AUGMENT_ZOOM}, {fill}),",
        f"keras.layers.RandomTranslation({AUGMENT_SHIFT}, {AUGMENT_SHIFT}, {fill}),",
    ]


def layer_code(spec: LayerSpec, activation: str) -> str:
    """The Keras layer one spec of a plan stands for, as a line of code."""
    match spec:
        case Conv(filters, kernel, stride):
            strides = f", strides={stride}" if stride > 1 else ""
            return f'keras.layers.Conv2D({filters}, {kernel}{strides}, activation="{activation}"),'
        case Dense(units):
            return f'keras.layers.Dense({units}, activation="{activation}"),'
        case Dropout(rate):
            return f"keras.layers.Dropout({number(rate)}),"
        case Pool():
            return "keras.layers.MaxPooling2D(2),"
        case BatchNorm():
            return "keras.layers.BatchNormalization(),"
    raise TypeError(f"not a layer spec: {spec!r}")


def _compile_code(config: RunConfig, language: str, inputs: Inputs) -> tuple[str, str]:
    """The comment and code of the compile step; a learning-rate schedule is set up first
    (mnist_app.engine.schedules gives each batch the same rate)."""
    optimizer = OPTIMIZER_NAMES[config.optimizer]
    rate = number(config.learning_rate)
    code = ""
    comment = translate("code.compile", language)
    if config.lr_schedule != "constant":
        comment = translate(f"code.{config.lr_schedule}", language, rate=rate)
        code = f"steps_per_epoch = math.ceil(len(x_train) / {config.batch_size})\n"
        code += _schedule_code(config.lr_schedule, rate, inputs)
        code += f"\n\n# {translate('code.compile', language)}\n"
        rate = "learning_rate"
    code += (
        "model.compile(\n"
        f"    optimizer=keras.optimizers.{optimizer}(learning_rate={rate}),\n"
        '    loss="sparse_categorical_crossentropy",\n'
        '    metrics=["accuracy"],\n'
        ")"
    )
    return comment, code


def _schedule_code(schedule: str, rate: str, inputs: Inputs) -> str:
    """Keras' CosineDecay for the schedule: from the peak down to 0, or one cycle up first."""
    if schedule == "cosine":
        return (
            "learning_rate = keras.optimizers.schedules.CosineDecay(\n"
            f"    {rate}, decay_steps={inputs.epochs} * steps_per_epoch\n"
            ")"
        )
    return (
        f"steps = {inputs.epochs} * steps_per_epoch\n"
        f"warmup_steps = max(1, round({ONECYCLE_WARMUP} * steps))\n"
        "learning_rate = keras.optimizers.schedules.CosineDecay(\n"
        f"    {rate} / {round(1 / ONECYCLE_START)},\n"
        "    decay_steps=max(1, steps - warmup_steps),\n"
        f"    warmup_target={rate},\n"
        "    warmup_steps=warmup_steps,\n"
        ")"
    )


def left_out(config: RunConfig) -> list[str]:
    """What of the run the code leaves out: "forms", "class_digits" (its locale keys' ends)."""
    return [what for what in ("forms", "class_digits") if getattr(config, what)]


def _train_comment(config: RunConfig, language: str) -> str:
    """What the training step does, and what it leaves out."""
    comment = translate("code.train", language, batch=config.batch_size)
    for what in left_out(config):
        comment += f"\n# {translate(f'code.left_out.{what}_short', language)}"
    return comment


def _fit_code(config: RunConfig, language: str, inputs: Inputs) -> str:
    lines = [
        "x_train,",
        "y_train,",
        f"batch_size={config.batch_size},",
        f"epochs={inputs.epochs},",
    ]
    if config.validation_size:
        lines.append("validation_data=(x_val, y_val),")
        comment = translate("code.validation_batch", language)
        lines.append(f"validation_batch_size={EVAL_BATCH},  # {comment}")
    body = "\n".join(f"    {line}" for line in lines)
    return f"model.fit(\n{body}\n)"


def number(value: float) -> str:
    """A setting's number as a person would write it: 0.001, not 0.0010000000474974513."""
    if isinstance(value, int):
        return str(value)
    text = f"{value:.7g}".replace("e-0", "e-")  # float32 holds about 7 digits
    return text if any(mark in text for mark in ".e") else text + ".0"
