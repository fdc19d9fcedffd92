"""Hostile model files, built here: none crashes, hangs, lies or runs code.

A ``model.npz`` re-signed (its SHA-256 updated in model.json) with short or inflated arrays, a
``.skops`` file of allowed types holding bad arrays, a ``.skops`` file naming a type skops trusts
by default but policy-themes does not, and a model directory with a pickle that writes a marker
file: each is refused with one ``Error:`` line naming what is wrong, nothing is unpickled, and the
CLI never dies of a signal (a negative return code would be a segfault).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from policy_themes.errors import ConfigError, ModelError
from policy_themes.io.checksums import file_sha256
from policy_themes.model.sharing import export_model, read_model_meta
from policy_themes.model.store import META_FILE, MODEL_FILE
from policy_themes.model.theme_model import load_model

sio = pytest.importorskip("skops.io")

SRC = Path(__file__).resolve().parents[2] / "src"
TEXTS = ["The two ministers discussed the new gas pipeline.", "The talks lasted two hours."]
FULL_CONFIG = """\
seed: 0
features: {word: true, char: true, rules: true, context_words: true, context_rules: true}
params:
  features__char__ngram_range: [2, 4]
  features__char__min_df: 1
cv: {folds: 0}
context: {window: 1}
"""


class WritesMarker:
    """Unpickling this object creates a file: it stands for any code a pickle can run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# --- models, trained once for this module ---------------------------------------------------


@pytest.fixture(scope="module")
def full_model(tmp_path_factory, train_small_path) -> Path:
    """A model with every kind of block the default model has (word, char, rules, context)."""
    from policy_themes.workflows.training import train

    folder = tmp_path_factory.mktemp("hostile")
    config = folder / "full.yaml"
    config.write_text(FULL_CONFIG, encoding="utf-8")
    train([train_small_path], config=config, model_dir=folder / "full")
    return folder / "full"


@pytest.fixture(scope="module")
def streaming_model(tmp_path_factory, train_small_path) -> Path:
    """A streaming model: hashed n-grams (a block of 2**n_bits columns) and one linear model."""
    from policy_themes.workflows.streaming_training import train_streaming

    model_dir = tmp_path_factory.mktemp("hostile") / "sgd"
    train_streaming([train_small_path], model_dir=model_dir, epochs=1, chunksize=30,
                    holdout=0.2, n_features=2**12)
    return model_dir


@pytest.fixture(scope="module")
def shared_model(full_model, tmp_path_factory) -> Path:
    return export_model(full_model, tmp_path_factory.mktemp("hostile") / "full.skops")


def copy_of(model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model_dir, tmp_path / model_dir.name))


def read_npz(model_dir: Path) -> tuple[dict, dict]:
    with np.load(model_dir / "model.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    return arrays, json.loads(str(arrays.pop("spec")))


def re_sign(model_dir: Path, arrays: dict, spec: dict | str, *, compressed: bool = False) -> None:
    """Write model.npz and put its SHA-256 in model.json, as someone who altered it would."""
    spec_text = spec if isinstance(spec, str) else json.dumps(spec)
    save = np.savez_compressed if compressed else np.savez
    with open(model_dir / "model.npz", "wb") as handle:
        save(handle, spec=np.array(spec_text), **arrays)
    sign(model_dir)


def sign(model_dir: Path, **hashes) -> None:
    meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    meta["sha256"] = hashes or {name: file_sha256(model_dir / name)
                                for name in (MODEL_FILE, "model.npz")}
    (model_dir / META_FILE).write_text(json.dumps(meta), encoding="utf-8")


def predict_refused(model_path: Path) -> str:
    """The message of the ModelError that loading and predicting with the model gives."""
    with pytest.raises(ModelError) as info:
        load_model(model_path).predict(TEXTS)
    return str(info.value)


# --- the CLI, as a real process -----------------------------------------------------------


def run_cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH",
                                                                                   "")])}
    return subprocess.run([sys.executable, "-m", "policy_themes", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


def assert_one_error_line(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit code 1 (a crash by a signal gives a negative one), no traceback, one Error line."""
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: "), line
    for fragment in fragments:
        assert fragment in line, line


# --- model.npz: every array and field checked against the spec and each other ----------------


def _shorten(name, by=7):
    def change(arrays, spec):
        arrays[name] = arrays[name][:-by]
    return change


def _set(name, index, value):
    def change(arrays, spec):
        arrays[name] = arrays[name].copy()
        arrays[name][index] = value
    return change


def _spec(path, value):
    def change(arrays, spec):
        target = spec
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _both(*changes):
    def change(arrays, spec):
        for one in changes:
            one(arrays, spec)
    return change


def _swap_buckets(arrays, spec):
    buckets = arrays["word.buckets"].copy()
    buckets[[3, 4]] = buckets[[4, 3]]
    arrays["word.buckets"] = buckets


def _inflate_last_bucket(arrays, spec):
    arrays["word.buckets"] = arrays["word.buckets"].copy()
    arrays["word.buckets"][-1] = 2**21 + 12345  # past the 2**n_bits buckets, still sorted


def _drop_theme_head(arrays, spec):
    spec["membership_columns"] = spec["membership_columns"][:-1]
    arrays["membership.coef"] = arrays["membership.coef"][:, :-1]
    arrays["membership.intercept"] = arrays["membership.intercept"][:-1]


NPZ_CASES = {
    # short arrays
    "short idf": (_shorten("word.idf"), "array 'word.idf' holds"),
    "short buckets and idf": (_both(_shorten("word.buckets"), _shorten("word.idf")),
                              "array 'primary.coef' has shape"),
    "short primary coefficients": (lambda a, s: a.update({"primary.coef": a["primary.coef"][
        :, :-7]}), "array 'primary.coef' has shape"),
    "short membership coefficients": (_shorten("membership.coef", 3),
                                      "array 'membership.coef' has shape"),
    "short intercept": (_shorten("primary.intercept", 1), "array 'primary.intercept' has shape"),
    "missing array": (lambda a, s: a.pop("char.idf"), "array 'char.idf' is missing"),
    "extra array": (lambda a, s: a.update(evil=np.zeros(3)), "array 'evil' is not part"),
    # inflated indices and out-of-range values
    "bucket past 2**n_bits": (_inflate_last_bucket, "array 'word.buckets' must be sorted"),
    "negative bucket": (_set("word.buckets", 0, -5), "array 'word.buckets' must be sorted"),
    "unsorted buckets": (_swap_buckets, "array 'word.buckets' must be sorted"),
    "NaN coefficient": (_set("primary.coef", (0, 0), np.nan),
                        "array 'primary.coef' holds values that are not finite"),
    "infinite idf": (_set("char.idf", 3, np.inf), "array 'char.idf' holds values that are not"),
    "buckets as floats": (lambda a, s: a.update({"word.buckets": a["word.buckets"].astype(
        float)}), "array 'word.buckets' has dtype float64"),
    "idf as a matrix": (lambda a, s: a.update({"word.idf": a["word.idf"].reshape(-1, 1)}),
                        "array 'word.idf' has 2 dimensions"),
    "complex coefficients": (lambda a, s: a.update({"primary.coef": a["primary.coef"].astype(
        complex)}), "array 'primary.coef' has dtype complex128"),
    # the spec: fields typed, in range, consistent with the arrays
    "class column out of range": (_spec(["primary_columns", 0], 99),
                                  "primary_columns[0] must be a column from 0 to 15"),
    "a theme without output": (_drop_theme_head, "must give every theme exactly once"),
    "rule block wider than the taxonomy": (_spec(["blocks", 2, "n_themes"], 40),
                                           "blocks[2].n_themes must be the taxonomy's 15 themes"),
    "n_bits as text": (_spec(["blocks", 0, "n_bits"], "21"),
                       "blocks[0].n_bits must be an integer, got str"),
    "n_bits too large": (_spec(["blocks", 0, "n_bits"], 40), "blocks[0].n_bits must be from"),
    "n-grams too long": (_spec(["blocks", 0, "ngram_range"], [1, 99]),
                         "blocks[0].ngram_range[1] must be from 1 to 16"),
    "threshold as text": (_spec(["thresholds", "energy_diplomacy"], "0.5"),
                          "thresholds['energy_diplomacy'] must be a number"),
    "threshold out of range": (_spec(["thresholds", "energy_diplomacy"], 7),
                               "thresholds['energy_diplomacy'] must be a finite number"),
    "classes not a list": (_spec(["classes"], "none"), "classes must be a list, got str"),
    "rule weight as a list": (_spec(["taxonomy", "themes", 0, "rules", 0, "weight"], [1]),
                              "taxonomy.themes[0].rules[0].weight must be a number"),
    "unknown block kind": (_spec(["blocks", 0, "kind"], "shell"), "blocks[0].kind must be one"),
    "binary head with 16 classes": (_spec(["primary_binary"], True),
                                    "columns for a binary primary head"),
    "another format": (_spec(["format"], 2), "format 2 is not 1"),
}


@pytest.mark.parametrize("case", NPZ_CASES)
def test_a_re_signed_model_npz_that_does_not_add_up_is_refused(full_model, tmp_path, case):
    change, expected = NPZ_CASES[case]
    model_dir = copy_of(full_model, tmp_path)
    arrays, spec = read_npz(model_dir)
    change(arrays, spec)
    re_sign(model_dir, arrays, spec)
    message = predict_refused(model_dir)
    assert message.startswith(f"{model_dir / 'model.npz'}: "), message
    assert expected in message
    assert message.endswith("the model is damaged or was altered: retrain it")


@pytest.mark.parametrize(("spec", "expected"), [
    ("{not json", "array 'spec' is not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "array 'spec' is not valid JSON"),  # deeper than the stack
    ("[1, 2]", "spec: the spec must be an object, got list"),
])
def test_a_spec_that_is_not_a_json_object_is_refused(full_model, tmp_path, spec, expected):
    model_dir = copy_of(full_model, tmp_path)
    arrays, _ = read_npz(model_dir)
    re_sign(model_dir, arrays, spec)
    assert expected in predict_refused(model_dir)


def test_the_hashed_block_of_a_streaming_model_must_match_its_weights(streaming_model,
                                                                      tmp_path):
    model_dir = copy_of(streaming_model, tmp_path)
    arrays, spec = read_npz(model_dir)
    hashed = next(i for i, b in enumerate(spec["blocks"]) if b["kind"] == "hashed")
    spec["blocks"][hashed]["n_bits"] += 1  # twice the columns the weights have rows for
    re_sign(model_dir, arrays, spec)
    message = predict_refused(model_dir)
    assert "array 'primary.coef' has shape" in message
    assert f"({2**13 + 15} features)" in message


def test_a_compressed_or_lying_npz_is_refused_before_its_arrays_are_read(full_model, tmp_path):
    model_dir = copy_of(full_model, tmp_path)
    arrays, spec = read_npz(model_dir)
    re_sign(model_dir, arrays, spec, compressed=True)  # a small file could expand to gigabytes
    assert "array 'spec' is compressed (model.npz stores its arrays uncompressed)" in \
        predict_refused(model_dir)
    # a member whose header announces a billion values, holding a few bytes
    re_sign(model_dir, arrays, spec)
    path = model_dir / "model.npz"
    with zipfile.ZipFile(path, "a") as archive:
        header = b"\x93NUMPY\x01\x00" + b"v\x00" + (
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000,), }").ljust(
            117) + b"\n"
        archive.writestr("huge.npy", header + b"\x00" * 8)
    sign(model_dir)
    message = predict_refused(model_dir)
    assert "array 'huge' announces 8000000000 bytes of data, its member holds 8" in message


def test_an_array_of_python_objects_is_refused(full_model, tmp_path):
    model_dir = copy_of(full_model, tmp_path)
    arrays, spec = read_npz(model_dir)
    arrays["word.idf"] = np.array([WritesMarker(tmp_path / "marker")], dtype=object)
    spec_text = json.dumps(spec)
    with open(model_dir / "model.npz", "wb") as handle:
        np.savez(handle, spec=np.array(spec_text), **arrays)  # pickles the object array
    sign(model_dir)
    assert "array 'word.idf' holds Python objects" in predict_refused(model_dir)
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("training_data", ["a"], "model.json.training_data must be an object, got list"),
    ("thresholds", {"energy_diplomacy": "high"},
     "model.json.thresholds['energy_diplomacy'] must be a number, got str"),
    ("taxonomy", {"ids": "energy"}, "model.json.taxonomy.ids must be a list, got str"),
    ("sha256", {"model.npz": 5}, "model.json.sha256['model.npz'] must be text, got int"),
    ("config", {"features": {"word": "yes"}},
     "model.json.config.features['word'] must be true or false, got str"),
])
def test_model_json_fields_of_the_wrong_type_are_refused(full_model, tmp_path, field, value,
                                                         expected):
    model_dir = copy_of(full_model, tmp_path)
    meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    meta[field] = value
    (model_dir / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    for load in (load_model, read_model_meta):
        with pytest.raises(ModelError) as info:
            load(model_dir)
        assert expected in str(info.value)


def test_the_cli_refuses_re_signed_arrays_with_one_line(full_model, tmp_path):
    short, inflated = copy_of(full_model, tmp_path / "a"), copy_of(full_model, tmp_path / "b")
    for model_dir, change in ((short, NPZ_CASES["short idf"][0]),
                              (inflated, _inflate_last_bucket)):
        arrays, spec = read_npz(model_dir)
        change(arrays, spec)
        re_sign(model_dir, arrays, spec)
    gold = tmp_path / "gold.csv"
    pd.DataFrame({"text": TEXTS, "themes": ["energy_diplomacy", "none"]}).to_csv(gold,
                                                                                 index=False)
    for args, array in (
            (["predict", "-m", short, *TEXTS], "array 'word.idf' holds"),
            (["predict", "-m", inflated, "-o", tmp_path / "out.csv", *TEXTS],
             "array 'word.buckets' must be sorted"),
            (["evaluate", gold, "-m", inflated, "-o", tmp_path / "report"],
             "array 'word.buckets' must be sorted"),
            (["info", "-m", short], "array 'word.idf' holds")):
        assert_one_error_line(run_cli(*args, cwd=tmp_path), array)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "report").exists()


# --- .skops: the same checks, and every type against the allow-list --------------------------


def hostile_skops(shared_model: Path, out: Path, change) -> Path:
    """The shared model loaded, changed with allowed types only, and dumped again."""
    content = sio.load(shared_model, trusted=sio.get_untrusted_types(file=shared_model))
    change(content)
    sio.dump(content, out)
    return out


def _word_block(content):
    return content["pipeline"].named_steps["features"].named_transformers_["word"]


def _short_skops_idf(content):
    _word_block(content).idf_ = _word_block(content).idf_[:-5]


def _inflated_skops_buckets(content):
    block = _word_block(content)
    block.buckets_ = block.buckets_.copy()
    block.buckets_[-1] = 2**21 + 99


def _nan_skops_coefficients(content):
    head = content["pipeline"].named_steps["clf"].primary_
    head.coef_ = head.coef_.copy()
    head.coef_[2, 5] = np.nan


@pytest.mark.parametrize(("change", "expected"), [
    (_short_skops_idf, "array 'word.idf' holds"),
    (_inflated_skops_buckets, "array 'word.buckets' must be sorted"),
    (_nan_skops_coefficients, "array 'primary.coef' holds values that are not finite"),
    (lambda c: setattr(_word_block(c), "n_bits", 64), "blocks[0].n_bits must be from 1 to 30"),
])
def test_a_skops_file_of_allowed_types_with_bad_arrays_is_refused(shared_model, tmp_path, change,
                                                                  expected):
    path = hostile_skops(shared_model, tmp_path / "bad.skops", change)
    assert sio.get_untrusted_types(file=path) == sio.get_untrusted_types(file=shared_model)
    message = predict_refused(path)
    assert message.startswith(f"{path}: ") and expected in message


def test_the_cli_refuses_a_skops_file_with_bad_arrays(shared_model, tmp_path):
    path = hostile_skops(shared_model, tmp_path / "bad.skops", _inflated_skops_buckets)
    for args in (["predict", "-m", path, *TEXTS], ["info", "-m", path]):
        assert_one_error_line(run_cli(*args, cwd=tmp_path), f"Error: {path}: ",
                              "array 'word.buckets' must be sorted")


def _foreign_estimator(content):
    from sklearn.linear_model import LinearRegression

    content["pipeline"].steps.append(("extra", LinearRegression()))


DEFAULT_TRUSTED = {
    # an estimator skops trusts (every scikit-learn estimator is), inside the pipeline
    "estimator": (_foreign_estimator, "sklearn.linear_model._base.LinearRegression"),
    # a NumPy function skops trusts (every ufunc is), as a value
    "numpy function": (lambda c: c.update(extra=np.add), "numpy.add"),
    # a builtin type skops trusts, built by a loader the allow-list does not give it
    "type as a value": (lambda c: c.update(extra=set), "builtins.set"),
}


@pytest.mark.parametrize("case", DEFAULT_TRUSTED)
def test_a_type_skops_trusts_by_default_but_we_do_not_is_refused(shared_model, tmp_path, case):
    change, name = DEFAULT_TRUSTED[case]
    path = hostile_skops(shared_model, tmp_path / "foreign.skops", change)
    assert name not in sio.get_untrusted_types(file=path)  # skops itself would load it
    message = predict_refused(path)
    assert message == (f"{path}: refused, it names types that are not on policy-themes' "
                       f"allow-list: {name}; nothing was loaded (load only models exported by "
                       "`policy-themes export`)")
    result = run_cli("info", "-m", path, cwd=tmp_path) if case == "estimator" else None
    if result is not None:
        assert_one_error_line(result, f"allow-list: {name};")


def test_a_compression_bomb_is_refused_before_skops_reads_it(tmp_path):
    path = tmp_path / "bomb.skops"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", json.dumps({"__class__": "dict", "__module__": "builtins",
                                                    "__loader__": "DictNode", "content": {},
                                                    "key_types": []}))
        archive.writestr("1.npy", b"\x00" * (200 << 20))  # 200 MB of zeros, 200 KB on disk
    assert path.stat().st_size < 1 << 20
    message = predict_refused(path)
    assert message.startswith(f"{path}: refused, its ") and "would expand to" in message


def test_the_unzipped_limit_of_a_skops_model_is_set_in_the_environment(shared_model,
                                                                        monkeypatch):
    monkeypatch.setenv("POLICY_THEMES_MAX_UNZIPPED", "1k")
    message = predict_refused(shared_model)
    assert "POLICY_THEMES_MAX_UNZIPPED is 1k); nothing was loaded" in message
    monkeypatch.setenv("POLICY_THEMES_MAX_UNZIPPED", "4G")
    assert len(load_model(shared_model).predict(TEXTS)) == len(TEXTS)
    monkeypatch.setenv("POLICY_THEMES_MAX_UNZIPPED", "lots")
    with pytest.raises(ConfigError, match="POLICY_THEMES_MAX_UNZIPPED='lots': expected a size"):
        load_model(shared_model)


def test_an_array_read_twice_is_refused(shared_model, tmp_path):
    path = tmp_path / "twice.skops"
    with zipfile.ZipFile(shared_model) as source, zipfile.ZipFile(path, "w") as target:
        schema = json.loads(source.read("schema.json"))
        for info in source.infolist():
            if info.filename != "schema.json":
                target.writestr(info, source.read(info))
        array = next(n for n in _nodes(schema) if n.get("__loader__") == "NdArrayNode"
                     and "file" in n)
        schema["content"]["again"] = dict(array)  # the same member, read into memory twice
        schema["content"]["again"]["__id__"] = 1
        target.writestr("schema.json", json.dumps(schema))
    assert "reads the array" in predict_refused(path)


def _nodes(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


# --- pickles: predict, evaluate and info never unpickle ----------------------------------------


def test_a_pickle_with_a_side_effect_is_never_unpickled(full_model, tmp_path):
    marker = tmp_path / "code-ran"
    model_dir = copy_of(full_model, tmp_path)
    (model_dir / "model.npz").unlink()
    with open(model_dir / MODEL_FILE, "wb") as handle:
        pickle.dump(WritesMarker(marker), handle)
    sign(model_dir, **{MODEL_FILE: file_sha256(model_dir / MODEL_FILE)})  # re-signed: valid
    gold = tmp_path / "gold.csv"
    pd.DataFrame({"text": TEXTS, "themes": ["energy_diplomacy", "none"]}).to_csv(gold,
                                                                                 index=False)
    expected = (f"Error: {model_dir}: no model.npz, the model's arrays (predict, evaluate and "
                "info never unpickle its model.joblib); retrain it with `policy-themes train`")
    for args in (["predict", "-m", model_dir, *TEXTS],
                 ["predict", "-i", gold, "-m", model_dir, "-o", tmp_path / "out.csv"],
                 ["evaluate", gold, "-m", model_dir, "-o", tmp_path / "report"],
                 ["info", "-m", model_dir]):
        result = run_cli(*args, cwd=tmp_path)
        assert_one_error_line(result)
        assert result.stderr.splitlines() == [expected]
        assert not marker.exists()
    # --explain and export read model.joblib only from a --model-dir named on the command line
    shutil.copytree(model_dir, tmp_path / "models" / "default")
    for args in (["predict", "--explain", *TEXTS], ["export"]):
        result = run_cli(*args, cwd=tmp_path)
        assert_one_error_line(result, "reads the model's scikit-learn pipeline",
                              "name the model directory you trust with --model-dir")
        assert not marker.exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_model_json_that_is_a_pipe_is_refused_not_waited_for(full_model, tmp_path):
    model_dir = copy_of(full_model, tmp_path)
    (model_dir / META_FILE).unlink()
    os.mkfifo(model_dir / META_FILE)  # reading it would wait for a writer for ever
    assert_one_error_line(run_cli("info", "-m", model_dir, cwd=tmp_path),
                          f"Error: {model_dir / META_FILE}: not a regular file")
