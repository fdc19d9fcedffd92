import re

import pytest

from policy_themes.config import (
    CVConfig,
    DataConfig,
    ThresholdConfig,
    TrainConfig,
    default_train_config_path,
    load_train_config,
    parse_override,
)
from policy_themes.errors import ConfigError
from policy_themes.model.classifier import build_pipeline
from policy_themes.workflows.training import train_model


def write_config(tmp_path, text: str):
    path = tmp_path / "train.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads():
    config = load_train_config()
    assert config.source == str(default_train_config_path())
    assert config.seed == 0
    assert config.features == {"word": True, "char": True, "rules": True,
                               "context_words": True, "context_rules": True,
                               "embeddings": False, "context_embeddings": False}
    assert config.cv == CVConfig(folds=5, group_column=None)
    assert config.thresholds == ThresholdConfig(default=0.5, minimum=0.1, maximum=0.9)
    assert config.params["clf__C"] == 3.0
    assert config.data == DataConfig(weights={"ungdc": 3.0}, cross_validate=("ungdc",))
    assert config.context.dropout == 0.3
    assert config.params["features__word__ngram_range"] == (1, 2)
    assert config.params["features__char__ngram_range"] == (3, 5)


def test_test_config_loads(train_config_path):
    config = load_train_config(train_config_path)
    assert config.features == {"word": True, "char": False, "rules": True,
                               "context_words": False, "context_rules": False,
                               "embeddings": False, "context_embeddings": False}
    assert config.cv.folds == 3


def test_empty_file_gives_the_defaults(tmp_path):
    config = load_train_config(write_config(tmp_path, ""))
    assert config.to_dict() == TrainConfig().to_dict()


def test_to_dict_is_plain_data():
    data = load_train_config().to_dict()
    assert data["params"]["features__word__ngram_range"] == [1, 2]
    assert data["cv"] == {"folds": 5, "group_column": None}
    assert data["thresholds"] == {"default": 0.5, "minimum": 0.1, "maximum": 0.9}


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: training config not found$"):
        load_train_config(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seed: 0\nepochs: 3\n",
         "unknown key 'epochs' (allowed: context, cv, data, features, params, seed, "
         "thresholds)"),
        ("cv:\n  fold: 3\n", "'cv': unknown key 'fold' (allowed: folds, group_column)"),
        ("features:\n  words: true\n", "'features': unknown key 'words' (allowed: char, "
                                       "context_embeddings, context_rules, context_words, "
                                       "embeddings, rules, word)"),
        ("context:\n  window: 0\n", "'context.window' must be >= 1, got 0"),
        ("context:\n  columns: before\n", "'context.columns' must be a list of column names"),
        ("thresholds:\n  max: 0.8\n", "'thresholds': unknown key 'max' (allowed: default, "
                                      "maximum, minimum)"),
        ("seed: abc\n", "'seed' must be a whole number, got 'abc'"),
        ("seed: true\n", "'seed' must be a whole number, got True"),
        ("cv:\n  folds: 2.5\n", "'cv.folds' must be a whole number, got 2.5"),
        ("features:\n  char: 'no'\n", "'features.char' must be true or false, got 'no'"),
        ("features: [word]\n", "'features' must be a mapping of word, char, rules, "
                               "context_words, context_rules, embeddings, context_embeddings "
                               "to true/false"),
        ("features:\n  word: false\n  char: false\n  rules: false\n",
         "'features' switches every feature block off"),
        ("cv:\n  folds: 1\n", "'cv.folds' must be 0 (no cross-validation) or >= 2, got 1"),
        ("cv:\n  folds: -3\n", "'cv.folds' must be 0 (no cross-validation) or >= 2, got -3"),
        ("cv:\n  group_column: 3\n", "'cv.group_column' must be a column name or null, got 3"),
        ("thresholds:\n  default: 1.5\n",
         "'thresholds.default' must be a number between 0 and 1, got 1.5"),
        ("thresholds:\n  minimum: 0\n",
         "'thresholds.minimum' must be a number between 0 and 1, got 0"),
        ("thresholds:\n  maximum: high\n",
         "'thresholds.maximum' must be a number between 0 and 1, got 'high'"),
        ("thresholds:\n  minimum: 0.8\n  maximum: 0.2\n",
         "'thresholds.minimum' is above 'thresholds.maximum'"),
        ("params:\n  C: 1.0\n", "'params' key 'C' must be a step__param name, e.g. clf__C"),
        ("params: [clf__C]\n", "'params' must be a mapping of step__param names to values"),
        ("- seed\n", "expected a mapping at the top level"),
        ("data:\n  weight: {a: 2}\n", "'data': unknown key 'weight' (allowed: cross_validate, "
                                      "weights)"),
        ("data:\n  weights: {ungdc: 0}\n", "'data.weights.ungdc' must be a number > 0, got 0"),
        ("data:\n  weights: {ungdc: two}\n",
         "'data.weights.ungdc' must be a number > 0, got 'two'"),
        ("data:\n  weights: [ungdc]\n",
         "'data.weights' must map file names to numbers, e.g. {ungdc: 3}"),
        ("data:\n  cross_validate: ungdc\n",
         "'data.cross_validate' must be a list of file names"),
        ("context:\n  dropout: 1\n",
         "'context.dropout' must be a number from 0 to below 1, got 1"),
        ("context:\n  dropout: true\n",
         "'context.dropout' must be a number from 0 to below 1, got True"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path, text, message):
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_train_config(path)
    assert str(info.value) == f"{path}: {message}"


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    path = write_config(tmp_path, "seed: 0\nparams:\n  clf__C: [1.0\n")
    with pytest.raises(ConfigError) as info:
        load_train_config(path)
    assert str(info.value).startswith(f"{path}: malformed YAML at line ")


def test_ngram_range_lists_become_tuples(tmp_path):
    path = write_config(tmp_path, "params:\n  features__word__ngram_range: [1, 3]\n"
                                  "  clf__C: 2.0\n")
    config = load_train_config(path)
    assert config.params == {"features__word__ngram_range": (1, 3), "clf__C": 2.0}


def test_with_overrides_returns_a_new_config():
    config = load_train_config()
    new = config.with_overrides(seed=7, folds=0,
                                params={"clf__C": 0.5, "features__char__ngram_range": [3, 4]})
    assert (new.seed, new.cv.folds, new.cv.group_column) == (7, 0, None)
    assert new.params["clf__C"] == 0.5
    assert new.params["features__char__ngram_range"] == (3, 4)
    assert new.params["features__word__ngram_range"] == (1, 2)  # kept
    assert (config.seed, config.cv.folds, config.params["clf__C"]) == (0, 5, 3.0)  # unchanged
    assert config.with_overrides() == config


def test_with_overrides_checks_folds():
    with pytest.raises(ConfigError, match=r"'cv\.folds' must be 0 \(no cross-validation\) or "
                                          r">= 2, got 1$"):
        load_train_config().with_overrides(folds=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clf__C=0.5", ("clf__C", 0.5)),
        (" clf__C = 2 ", ("clf__C", 2)),
        ("features__word__ngram_range=[1, 3]", ("features__word__ngram_range", [1, 3])),
        ("clf__class_weight=null", ("clf__class_weight", None)),
        ("clf__multilabel=false", ("clf__multilabel", False)),
        ("clf__solver=lbfgs", ("clf__solver", "lbfgs")),
        ("clf__solver=[oops", ("clf__solver", "[oops")),  # not YAML: kept as text
        ("features__word__token_pattern=a=b", ("features__word__token_pattern", "a=b")),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["clf__C", "=0.5", "  =1"])
def test_parse_override_needs_a_name_and_equals(text):
    with pytest.raises(ConfigError) as info:
        parse_override(text)
    assert str(info.value) == f"--set {text!r}: expected step__param=value, e.g. clf__C=0.5"


def test_unknown_sklearn_parameter_names_the_config(tmp_path, taxonomy):
    path = write_config(tmp_path, "params:\n  features__word__min_df: 1\n  clf__nope: 1\n"
                                  "  clf__C: 1.0\n")
    config = load_train_config(path)
    with pytest.raises(ConfigError) as info:
        build_pipeline(config, taxonomy)
    assert str(info.value).startswith(
        f"{path}: params key 'clf__nope' is not a parameter of the pipeline"
    )


def test_unknown_sklearn_parameter_stops_training(tmp_path, taxonomy):
    path = write_config(tmp_path, "cv:\n  folds: 0\nparams:\n  clf__nope: 1\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: params key 'clf__nope'"):
        train_model(TEXTS, THEMES, config=load_train_config(path), taxonomy=taxonomy)


def test_unknown_step_names_the_config(tmp_path, taxonomy):
    path = write_config(tmp_path, "params:\n  svm__C: 1\n")
    with pytest.raises(ConfigError, match=r"params key 'svm__C' is not a parameter"):
        build_pipeline(load_train_config(path), taxonomy)


def test_settings_of_a_switched_off_block_are_ignored(tmp_path, taxonomy):
    path = write_config(tmp_path, "features:\n  char: false\n"
                                  "params:\n  features__char__min_df: 3\n")
    pipeline = build_pipeline(load_train_config(path), taxonomy)
    assert [name for name, _, _ in pipeline.named_steps["features"].transformers] == [
        "word", "rules"]


TEXTS = ["Gas pipeline talks.", "Oil exports rose.", "The visa regime was eased.",
         "Consular help for citizens.", "Thank you.", "Good afternoon."]
THEMES = [["energy_diplomacy"], ["energy_diplomacy"], ["consular_diaspora"],
          ["consular_diaspora"], ["none"], ["none"]]


@pytest.mark.parametrize(
    ("param", "value", "fragment"),
    [
        ("clf__C", -1, "'C' parameter of LogisticRegression must be a float in the range "
                       "(0.0, inf]"),
        ("features__word__min_df", -2, "'min_df' parameter of HashedTfidf"),
        ("features__word__ngram_range", "wide", "'ngram_range' parameter of HashedTfidf"),
    ],
)
@pytest.mark.parametrize("folds", [0, 2])
def test_out_of_range_sklearn_parameter_is_a_config_error(tmp_path, taxonomy, param, value,
                                                          fragment, folds):
    path = write_config(tmp_path, f"features:\n  char: false\ncv:\n  folds: {folds}\n"
                                  f"params:\n  {param}: {value}\n")
    config = load_train_config(path)
    with pytest.raises(ConfigError) as info:
        train_model(TEXTS, THEMES, config=config, taxonomy=taxonomy)
    message = str(info.value)
    assert message.startswith(f"{path}: '{param}': ")
    assert fragment in message
