"""Rules cannot hang, see one sentence, and are checked wherever they come from.

Every regular expression of a taxonomy runs on RE2 (linear time): a rule built to backtrack
forever finishes on the sentences it was built for, in a taxonomy file or inside a model. A
pattern RE2 cannot run is refused when the taxonomy is loaded, with one line naming the theme
and the rule. A ``re:`` rule sees one sentence: it cannot match across two rows, and ``^`` and
``$`` are each sentence's start and end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hostile import invoke, refused, run_cli, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_themes.errors import ConfigError, ModelError
from policy_themes.model.theme_model import load_model
from policy_themes.rules.labeling import label_sentences
from policy_themes.rules.taxonomy import (
    Rule,
    Taxonomy,
    Theme,
    check_taxonomy,
    load_taxonomy,
    taxonomy_from_dict,
    taxonomy_to_dict,
)

TAXONOMY = """name: hostile
themes:
  - id: energy
    name: Energy
    description: oil and gas
    rules:
      - name: energy_words
        patterns: ["gas"]
  - id: evil
    name: Evil
    description: built to backtrack
    rules:
      - name: evil_rule
        patterns: [{pattern}]
"""
# (a+)+$ backtracks 2**n times on n a's followed by anything else; so does a phrase whose one
# word holds many wildcards, on a long word without the letter that ends it
CATASTROPHIC = ['"re:(a+)+$"', '"a*a*a*a*a*a*a*a*a*a*a*a*a*x"']
SENTENCES = "A" + "a" * 40 + "b. And " + "a" * 60 + " and the gas."


def _taxonomy(folder: Path, pattern: str) -> Path:
    path = folder / "hostile.yaml"
    path.write_text(TAXONOMY.format(pattern=pattern), encoding="utf-8")
    return path


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_a_rule_built_to_backtrack_finishes_label(tmp_path, pattern):
    _taxonomy(tmp_path, pattern)
    (tmp_path / "two.txt").write_text(SENTENCES, encoding="utf-8")
    result = run_cli("label", "two.txt", "-t", "hostile.yaml", "-o", "out.csv", "--no-rules",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and ",energy," in lines[2] and "evil" not in "".join(lines)


@pytest.mark.parametrize(
    ("pattern", "why"),
    [('"re:(gas) \\\\1"', "invalid escape sequence: \\1 (RE2, which runs rules in linear time, "
                          "has no backreferences or lookarounds)"),
     ('"re:gas(?= pipeline)"', "invalid perl operator: (?= (RE2"),
     ('"re:(?<!natural )gas"', "invalid perl operator: (?<"),
     ('"re:\\\\Agas"', "\\A is not supported: a rule sees one sentence, use ^ and $"),
     ('"re:gas\\\\Z"', "\\Z is not supported"),
     ('"re:(?-m)^ gas"', "(?-m) is not supported"),
     ('"re:a{2000}"', "invalid repetition size")],
)
def test_a_pattern_re2_cannot_run_is_refused_naming_theme_and_rule(tmp_path, pattern, why):
    _taxonomy(tmp_path, pattern)
    (tmp_path / "doc.txt").write_text("The gas pipeline.", encoding="utf-8")
    before = snapshot(tmp_path)
    line = refused(invoke("label", str(tmp_path / "doc.txt"), "-t", str(tmp_path / "hostile.yaml"),
                          "-o", str(tmp_path / "out.csv")))
    assert line.startswith(f"Error: {tmp_path / 'hostile.yaml'}: theme 'evil', rule 'evil_rule': "
                           "field 'patterns': invalid pattern ")
    assert f"(RE2 cannot run it: {why}" in line or why in line
    assert snapshot(tmp_path) == before


def test_a_regex_rule_does_not_match_across_two_sentences():
    taxonomy = taxonomy_from_dict(
        {"themes": [{"id": "energy", "name": "Energy", "description": "gas",
                     "rules": [{"name": "natural_gas", "patterns": ["re:natural\\s+gas"]}]}]},
        where="test")
    result = label_sentences(["We sell natural", "gas to Europe.", "Natural gas."], taxonomy)
    assert result.primary == ["none", "none", "energy"]


def test_anchors_match_at_each_sentence():
    taxonomy = taxonomy_from_dict(
        {"themes": [{"id": "opening", "name": "Opening", "description": "starts with we",
                     "rules": [{"name": "starts_we", "patterns": ["re:^ we "]},
                               {"name": "ends_gas", "patterns": ["re: gas $"]}]}]},
        where="test")
    texts = ["We met.", "Then we met.", "We met again.", "They sold gas", "Gas, they sold."]
    result = label_sentences(texts, taxonomy)
    assert result.rules_fired == [["starts_we"], [], ["starts_we"], ["ends_gas"], []]
    # the same in a batch of one: a sentence's labels do not depend on its neighbours
    alone = [label_sentences([t], taxonomy).rules_fired[0] for t in texts]
    assert alone == result.rules_fired


def _resign(model_dir: Path, name: str) -> None:
    """Write the SHA-256 of ``name`` into model.json, as someone who edited the file would."""
    from policy_themes.model.store import file_sha256

    meta = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    meta["sha256"][name] = file_sha256(model_dir / name)
    (model_dir / "model.json").write_text(json.dumps(meta), encoding="utf-8")


def _plant_rule(model_dir: Path, pattern: str) -> None:
    """Add a rule with ``pattern`` to the taxonomy model.npz carries, and re-sign it."""
    with np.load(model_dir / "model.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    spec = json.loads(str(arrays["spec"]))
    theme = spec["taxonomy"]["themes"][0]
    theme["rules"].append({"name": "planted", "theme": theme["id"], "patterns": [pattern],
                           "exclude": [], "weight": 1.0})
    arrays["spec"] = np.array(json.dumps(spec))
    with open(model_dir / "model.npz", "wb") as handle:
        np.savez(handle, **arrays)
    _resign(model_dir, "model.npz")


def test_a_catastrophic_rule_inside_a_model_finishes_predict(tmp_path, model_copy):
    _plant_rule(model_copy, "re:(a+)+$")
    result = run_cli("predict", "-m", model_copy, "a" * 40 + "b.", "Gas flows.", "-f", "csv",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.decode().splitlines()) == 3


def test_a_rule_re2_cannot_run_inside_a_model_is_refused_on_load(tmp_path, model_copy):
    _plant_rule(model_copy, "re:(gas) \\1")
    with pytest.raises(ModelError, match=r"model.npz: taxonomy: theme '[a-z_]+', rule 'planted': "
                                         r"field 'patterns': invalid pattern .*RE2 cannot run"):
        load_model(model_copy)
    before = snapshot(tmp_path)
    line = refused(run_cli("predict", "-m", model_copy, "Gas flows.", "-o", "out.csv",
                           cwd=tmp_path))
    assert "rule 'planted'" in line and "backreferences" in line
    assert snapshot(tmp_path) == before


def test_a_taxonomy_of_the_wrong_types_inside_a_model_is_refused(model_copy):
    with np.load(model_copy / "model.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    spec = json.loads(str(arrays["spec"]))
    spec["taxonomy"]["themes"][0]["rules"][0]["patterns"] = [42]
    arrays["spec"] = np.array(json.dumps(spec))
    with open(model_copy / "model.npz", "wb") as handle:
        np.savez(handle, **arrays)
    _resign(model_copy, "model.npz")
    with pytest.raises(ModelError, match="pattern"):  # the spec check or the taxonomy check
        load_model(model_copy)


def test_a_taxonomy_inside_a_shared_model_is_checked(tmp_path, model_copy):
    pytest.importorskip("skops")
    import joblib

    from policy_themes.model.sharing import export_model

    pipeline = joblib.load(model_copy / "model.joblib")
    block = pipeline.named_steps["features"].named_transformers_["rules"]
    theme = block.taxonomy.themes[0]
    planted = Rule("planted", theme.id, ("re:(gas) \\1",))
    themes = (Theme(theme.id, theme.name, theme.description, (*theme.rules, planted)),
              *block.taxonomy.themes[1:])
    block.taxonomy = Taxonomy(themes, name=block.taxonomy.name)
    joblib.dump(pipeline, model_copy / "model.joblib")
    _resign(model_copy, "model.joblib")
    shared = export_model(model_copy, tmp_path / "model.skops")
    with pytest.raises(ModelError, match=r"model.skops: taxonomy: .*rule 'planted'.*RE2"):
        load_model(shared)


def test_a_checked_taxonomy_round_trips_unchanged():
    taxonomy = load_taxonomy()
    again = taxonomy_from_dict(taxonomy_to_dict(taxonomy), where="test")
    assert again == taxonomy and again.source == taxonomy.source
    assert again.fingerprint == taxonomy.fingerprint
    assert check_taxonomy(taxonomy, where="test") == taxonomy


def test_a_stored_rule_naming_another_theme_is_refused():
    raw = taxonomy_to_dict(load_taxonomy())
    raw["themes"][0]["rules"][0]["theme"] = "consular_diaspora"
    with pytest.raises(ConfigError, match="field 'theme' names another theme"):
        taxonomy_from_dict(raw, where="model.npz: taxonomy")


PATTERNS = ["re:^ we ", "re: gas $", "re:\\s+gas", "re:[^x]+", "re:(?s)a.*b", "re:\\W+", "re:a*",
           "re:\\bgas\\b", "re:^", "re:$", "re:natural\\s+gas", "re:(?i)GAS",
           # phrases, with wildcards that a regex confirms
           "gas", "natural gas", "a*s", "gas * pipeline*", "we|us * gas*"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="abgsnturlwe \n.,é", max_size=30), min_size=1, max_size=6),
       st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=4, unique=True))
def test_a_rule_matches_in_a_batch_what_it_matches_in_each_sentence_alone(texts, patterns):
    """A sentence's matches are the same in any batch, at the same offsets in the sentence."""
    from policy_themes.rules.matching import PatternMatcher

    matcher = PatternMatcher([([p], []) for p in patterns])
    found, _, starts = matcher.find(texts)
    in_batch = sorted(zip(found.sentence.tolist(), found.rule.tolist(),
                          (found.start - starts[found.sentence]).tolist(),
                          (found.end - starts[found.sentence]).tolist()))
    alone = []
    for index, text in enumerate(texts):
        one, _, _ = matcher.find([text])
        alone += [(index, rule, start, end) for rule, start, end in
                  zip(one.rule.tolist(), one.start.tolist(), one.end.tolist())]
    assert in_batch == sorted(alone)
