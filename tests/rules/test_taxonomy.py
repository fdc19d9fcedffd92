import re

import pytest

from policy_themes.errors import ConfigError
from policy_themes.rules.matching import normalize_text
from policy_themes.rules.taxonomy import NO_THEME, compile_pattern, load_taxonomy

THEME_IDS = [
    "foreign_policy_principles", "sovereignty_territorial_integrity", "security_defense",
    "counter_terrorism", "international_law", "multilateral_diplomacy", "bilateral_relations",
    "regional_cooperation", "energy_diplomacy", "transport_connectivity", "economic_trade",
    "multiculturalism_dialogue", "humanitarian_cultural", "consular_diaspora",
    "information_disinformation", "none",
]


def test_default_taxonomy_has_the_fixed_ids_in_order(taxonomy):
    assert taxonomy.ids == THEME_IDS


def test_every_theme_but_none_has_several_rules(taxonomy):
    for theme in taxonomy.themes:
        if theme.id == NO_THEME:
            assert theme.rules == ()
        else:
            assert len(theme.rules) >= 2, theme.id
            assert theme.name and theme.description


def test_fingerprint_is_stable_and_content_based(taxonomy, data_dir):
    assert taxonomy.fingerprint == load_taxonomy().fingerprint
    assert taxonomy.fingerprint != load_taxonomy(data_dir / "mini_taxonomy.yaml").fingerprint


@pytest.mark.parametrize(
    ("pattern", "text", "hit"),
    [
        ("cooperat*", "bilateral cooperation grew", True),
        ("cooperat*", "they cooperated", True),
        ("cooperat*", "uncooperative", False),
        ("oil", "oil prices", True),
        ("oil", "turmoil in the region", False),
        ("oil", "toil", False),
        ("multi-vector", "a multivector policy", True),
        ("multi-vector", "a multi vector policy", True),
        ("multi-vector", "a multi-vector policy", True),
        ("natural gas", "natural  gas", True),
        ("natural gas", "natural-gas exports", True),
        ("u.n.", "the U.N. said", True),
        ("re:\\blng\\b", "lng terminal", True),
        ("inviolability of * borders", "inviolability of its borders", True),
        ("inviolability of * borders", "inviolability of borders", False),
        ("eu|nato summit*", "the NATO summits", True),
        ("un|african_union * summit", "the African Union extraordinary summit", True),
        ("un|african_union * summit", "the union extraordinary summit", False),
        # a * inside a word stands for letters too: British and American spellings
        ("recogni*ed borders", "internationally recognised borders", True),
        ("recogni*ed borders", "internationally recognized borders", True),
        ("recogni*ed borders", "recogni ed borders", False),
        ("world trade organi*ation", "the World Trade Organization", True),
        ("regional organi*ation*", "regional organisations", True),
        ("regional organi*ation*", "regional organising", False),
    ],
)
def test_phrase_patterns_match_words_with_inflections(pattern, text, hit):
    assert bool(compile_pattern(pattern).search(normalize_text(text))) is hit


@pytest.mark.parametrize("pattern", ["recogni*ed borders", "world trade organi*ation",
                                     "regional organi*ation*", "foreign polic*", "eu|nato summit*",
                                     "inviolability of * borders", "u.n."])
def test_the_one_pass_matcher_agrees_with_the_pattern_regex(pattern):
    from policy_themes.rules.matching import PatternMatcher

    texts = ["Within internationally recognised borders.", "Recognized borders hold.",
             "The World Trade Organization and regional organisations met.",
             "Foreign policies of the EU summits.", "The inviolability of its borders.",
             "The U.N. said so.", "Recogni ed borders; organi ation."]
    matches, _, _ = PatternMatcher([([pattern], [])]).find(texts)
    regex = compile_pattern(pattern)
    assert sorted(set(matches.sentence.tolist())) == \
        [i for i, t in enumerate(texts) if regex.search(normalize_text(t))]


def test_regex_patterns_are_case_insensitive():
    assert compile_pattern("re:\\bLNG\\b").search("lng")


def test_phrase_may_not_start_with_a_bare_wildcard(tmp_path):
    body = "themes:" + GOOD_THEME.replace('["oil"]', '["* pipeline"]')
    with pytest.raises(ConfigError, match="cannot start with a bare"):
        load_taxonomy(_write(tmp_path, body))


def _write(tmp_path, text):
    path = tmp_path / "themes.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD_THEME = """
  - id: energy
    name: Energy
    description: oil and gas
    rules:
      - name: oil
        patterns: ["oil"]
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("themes:\n  - id: energy\n    name: E\n    description: d\n    colour: red\n",
         r"theme 'energy': unknown key 'colour'"),
        ("themes:" + GOOD_THEME + GOOD_THEME.replace("name: oil", "name: gas"),
         r"theme 'energy': duplicate theme id"),
        ("themes:" + GOOD_THEME + GOOD_THEME.replace("id: energy", "id: trade"),
         r"theme 'trade', rule 'oil': duplicate rule name"),
        ("themes:" + GOOD_THEME.replace('["oil"]', '["re:(unclosed"]'),
         r"theme 'energy', rule 'oil': field 'patterns': invalid pattern"),
        ("themes:\n  - id: energy\n    description: d\n", r"theme 'energy': missing field 'name'"),
        ("themes:" + GOOD_THEME.replace('patterns: ["oil"]', 'pattern: ["oil"]'),
         r"rule 'oil': unknown key 'pattern'"),
        ("themes:" + GOOD_THEME.replace("id: energy", "id: Energy Theme"),
         r"field 'id' must be lower-case"),
        ("themes:" + GOOD_THEME.replace('patterns: ["oil"]', "patterns: []"),
         r"rule 'oil': field 'patterns' must be a non-empty list"),
        ("themes: [\n", r"malformed YAML at line"),
        ("- just\n- a list\n", r"expected a mapping"),
        ("themes: []\n", r"'themes' must be a non-empty list"),
        ("themes:" + GOOD_THEME.replace("patterns:", "weight: -1\n        patterns:"),
         r"field 'weight' must be a number > 0"),
    ],
)
def test_invalid_taxonomies_name_file_theme_and_field(tmp_path, body, message):
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError, match=message) as info:
        load_taxonomy(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_taxonomy_file(tmp_path):
    with pytest.raises(ConfigError, match="taxonomy file not found"):
        load_taxonomy(tmp_path / "nope.yaml")


def test_none_is_added_last_when_absent(tmp_path):
    taxonomy = load_taxonomy(_write(tmp_path, "themes:" + GOOD_THEME))
    assert taxonomy.ids == ["energy", "none"]


def test_none_may_not_have_rules(tmp_path):
    body = "themes:" + GOOD_THEME + GOOD_THEME.replace("id: energy", "id: none").replace(
        "name: oil", "name: oil2")
    with pytest.raises(ConfigError, match=re.escape("theme 'none': field 'rules' must be empty")):
        load_taxonomy(_write(tmp_path, body))


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    body = ("themes:\n"
            "  - id: Energy Theme\n    name: E\n    colour: red\n"
            "    rules:\n      - name: oil\n        patterns: ['re:(unclosed', 'oil']\n"
            "        weight: -1\n"
            "  - id: trade\n    description: d\n"
            "  - id: cooperation\n    name: C\n"
            "    rules:\n      - name: oil\n        patterns: ['coop*']\n        typo: 1\n")
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    message = str(info.value)
    assert message.startswith(f"{path}: 7 problems: ")
    for part in ["theme 'Energy Theme': unknown key 'colour'",
                 "theme 'Energy Theme': field 'id' must be lower-case",
                 "theme 'Energy Theme', rule 'oil': field 'patterns': invalid pattern",
                 "theme 'Energy Theme', rule 'oil': field 'weight' must be a number > 0",
                 "theme 'trade': missing field 'name'",
                 "theme 'cooperation', rule 'oil': unknown key 'typo'",
                 "theme 'cooperation', rule 'oil': duplicate rule name"]:
        assert part in message
    assert message.count(str(path)) == 1 and "\n" not in message


def test_a_long_list_of_problems_is_cut_short(tmp_path):
    body = "themes:\n" + "".join(f"  - id: t{i}\n    nom: x\n" for i in range(30))
    with pytest.raises(ConfigError, match=r": 60 problems: .*; and 40 more$"):
        load_taxonomy(_write(tmp_path, body))


def test_descriptions_and_rules_may_be_left_out(tmp_path):
    body = ("themes:\n  - id: energy\n    name: Energy\n"
            "  - id: trade\n    name: Trade\n    description:\n    rules: []\n")
    taxonomy = load_taxonomy(_write(tmp_path, body))
    assert [(t.id, t.description) for t in taxonomy.themes][:2] == [("energy", ""),
                                                                   ("trade", "")]


def test_a_description_must_be_text(tmp_path):
    body = "themes:\n  - id: energy\n    name: Energy\n    description: [oil]\n"
    with pytest.raises(ConfigError, match="theme 'energy': field 'description' must be text"):
        load_taxonomy(_write(tmp_path, body))
