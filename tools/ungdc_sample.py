"""Draw the UN General Debate sentences that ``data/labeled/ungdc.csv`` is labeled from.

Two draws, both seeded, from ``ungdc_1946_2024.csv.gz`` (CC0):

``random``
    Speeches from every decade since 1960 and every region, the same number of speeches from
    each (decade, region) cell where the cell has them, and a few sentences at random from each
    speech: the sentences as the archive holds them.
``targeted``
    Speeches not drawn before, split into sentences; the candidates of each named theme are the
    sentences a model (``--model-dir``) gives that theme as primary, or a rule of the taxonomy
    fires for, at most ``--per-speech`` from one speech; a random choice of them per theme.
    What a person labels them is their label: the model only decides which sentences are read.
``keywords``
    As ``targeted``, the candidates of a theme being the sentences that match the theme's
    regular expression in ``KEYWORDS`` (for themes the UN debate rarely speaks of, where the
    model's candidates were mostly something else).

Each row keeps its provenance (``speech``: iso3 and year; ``sentence``: index in the speech) and
its neighbours (``previous``, ``next``), so the sentence can be read, and modelled, in context.

Run from the repository::

    python tools/ungdc_sample.py random --out random.csv
    python tools/ungdc_sample.py targeted --model-dir models/default \
        --theme energy_diplomacy=160 --theme transport_connectivity=170 \
        --exclude random.csv --out targeted.csv

Needs ``pycountry-convert`` (``pip install pycountry-convert``) for the regions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from policy_themes.text.sentences import split_sentences

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "ungdc_1946_2024.csv.gz"
# Former states and the EU, which ISO 3166 no longer lists.
_REGION_OF_FORMER = {"CSK": "Europe", "DDR": "Europe", "EU": "Europe", "VAT": "Europe",
                     "YUG": "Europe", "TLS": "Asia", "YMD": "Asia"}
_CONTINENT_REGION = {"AF": "Africa", "AS": "Asia", "EU": "Europe", "NA": "Americas",
                     "SA": "Americas", "OC": "Oceania"}
_MIN_LETTERS = 3
# Words that find the rarer themes in the UN debate; the labels come from reading, not from these.
KEYWORDS = {
    "consular_diaspora": r"\b(?:diaspora|compatriots|nationals abroad|citizens abroad|consular|"
                         r"migrant workers|expatriates?|remittances|our (?:migrants|emigrants)|"
                         r"hostages?|evacuat\w+)\b",
    # a second, narrower draw: the first's consular candidates were mostly hostages in conflicts
    "consular_diaspora_2": r"\b(?:migrant workers|remittances|diaspora|overseas workers|"
                           r"expatriates|our (?:nationals|citizens|compatriots|migrants|"
                           r"emigrants|workers)|nationals (?:abroad|living))\b",
    "consular_diaspora_3": r"\b(?:migrant workers|remittances|diaspora|our nationals|"
                           r"nationals abroad|citizens abroad|compatriots abroad|"
                           r"repatriat\w+ (?:of )?(?:our|its|their) (?:nationals|citizens)|"
                           r"(?:our|its) (?:nationals|citizens) (?:living|working|residing))\b",
    "information_disinformation_2": r"\b(?:disinformation|misinformation|fake news|cyber\w*|"
                                    r"new (?:world|international) information|"
                                    r"propaganda campaigns?)\b",
    "information_disinformation": r"\b(?:disinformation|misinformation|propaganda|fake news|"
                                  r"cyber\w*|information and communication|mass media|"
                                  r"hybrid (?:war\w*|threats?)|information (?:war\w*|security|"
                                  r"order)|social media|hate speech)\b",
    "multiculturalism_dialogue": r"\b(?:civili[sz]ations|interfaith|inter-religious|"
                                 r"interreligious|intercultural|tolerance|Islamophobia|"
                                 r"xenophobia|anti-Semitism|antisemitism|religions|"
                                 r"multicultural\w*)\b",
    "regional_cooperation": r"\b(?:regional (?:co-?operation|integration)|subregional|"
                            r"sub-regional|neighbouring countries|good-neighbourl\w+|our region|"
                            r"SADC|ECOWAS|CARICOM|SAARC|ASEAN|Pacific Islands Forum|"
                            r"Central American integration)\b",
    "transport_connectivity": r"\b(?:transit|land-?locked|railways?|corridors?|seaports?|"
                              r"shipping|connectivity|highways?|Silk Road|canal)\b",
    "bilateral_relations": r"\b(?:bilateral|state visit|official visit|treaty of friendship|"
                           r"relations between our two|our two countries|our neighbour)\b",
    "energy_diplomacy": r"\b(?:oil|natural gas|pipelines?|petroleum|OPEC|energy security|"
                        r"nuclear power|energy resources|energy supply)\b",
    "foreign_policy_principles": r"\b(?:our foreign policy|non-alignment|neutrality|"
                                 r"national interests?|policy of peace|"
                                 r"principles of our (?:foreign )?policy)\b",
}


def region_of(iso3: str) -> str:
    """Return the region (Africa, Americas, Asia, Europe, Oceania) of a speech's iso3 code."""
    if iso3 in _REGION_OF_FORMER:
        return _REGION_OF_FORMER[iso3]
    import pycountry_convert as pc

    alpha2 = pc.country_alpha3_to_country_alpha2(iso3)
    return _CONTINENT_REGION[pc.country_alpha2_to_continent_code(alpha2)]


def read_speeches(first_year: int = 1960) -> pd.DataFrame:
    """Return the corpus' speeches from ``first_year`` on, with a speech id, decade and region."""
    speeches = pd.read_csv(CORPUS)
    speeches = speeches[speeches["year"] >= first_year].reset_index(drop=True)
    speeches["speech_id"] = speeches["iso3"] + "_" + speeches["year"].astype(str)
    speeches["decade"] = speeches["year"] // 10 * 10
    speeches["region"] = speeches["iso3"].map(region_of)
    return speeches


def speech_sentences(speech: pd.Series) -> pd.DataFrame:
    """Split one speech into sentences with their neighbours and provenance."""
    texts = [s.text for s in split_sentences(speech["text"], speech["speech_id"])]
    rows = pd.DataFrame({"text": texts})
    rows["sentence"] = np.arange(len(texts))
    rows["previous"] = rows["text"].shift(1, fill_value="")
    rows["next"] = rows["text"].shift(-1, fill_value="")
    for column in ("speech_id", "iso3", "year", "region"):
        rows[column] = speech[column]
    letters = rows["text"].str.count(r"[A-Za-z]")
    return rows[letters >= _MIN_LETTERS]


def random_draw(speeches: pd.DataFrame, *, per_cell: int, per_speech: int,
                seed: int) -> pd.DataFrame:
    """Draw ``per_cell`` speeches from each (decade, region) cell, ``per_speech`` sentences each."""
    rng = np.random.default_rng(seed)
    parts = []
    for _, cell in speeches.groupby(["decade", "region"], sort=True):
        chosen = rng.choice(len(cell), size=min(per_cell, len(cell)), replace=False)
        for index in sorted(chosen):
            sentences = speech_sentences(cell.iloc[index])
            take = rng.choice(len(sentences), size=min(per_speech, len(sentences)),
                              replace=False)
            parts.append(sentences.iloc[np.sort(take)])
    return pd.concat(parts, ignore_index=True)


def targeted_draw(speeches: pd.DataFrame, *, model_dir: str, counts: dict[str, int],
                  per_speech: int, exclude: set[str], pool_speeches: int,
                  seed: int) -> pd.DataFrame:
    """Draw up to ``counts[theme]`` candidates of each theme from speeches not in ``exclude``."""
    from policy_themes.workflows.prediction import load_model

    rng = np.random.default_rng(seed)
    pool = speeches[~speeches["speech_id"].isin(exclude)]
    pool = pool.iloc[rng.choice(len(pool), size=min(pool_speeches, len(pool)), replace=False)]
    sentences = pd.concat([speech_sentences(s) for _, s in pool.iterrows()], ignore_index=True)
    model = load_model(model_dir)
    frame = sentences.rename(columns={"speech_id": "doc_id"})
    predicted = model.predict(frame["text"].tolist(), context=model.context_for(frame), top_k=1)
    sentences["candidate_of"] = predicted["primary"].to_numpy()
    parts = []
    for theme, count in counts.items():
        candidates = sentences[sentences["candidate_of"] == theme]
        candidates = candidates.sample(frac=1.0, random_state=int(rng.integers(2**31)))
        candidates = candidates.groupby("speech_id", sort=False).head(per_speech)
        parts.append(candidates.head(count))
    drawn = pd.concat(parts, ignore_index=True)
    return drawn.drop_duplicates(subset=["speech_id", "sentence"])


def keyword_draw(speeches: pd.DataFrame, *, counts: dict[str, int], per_speech: int,
                 exclude: set[str], seed: int) -> pd.DataFrame:
    """Draw up to ``counts[theme]`` sentences matching ``KEYWORDS[theme]`` from speeches not in
    ``exclude``, at most ``per_speech`` of a theme from one speech."""
    import re

    rng = np.random.default_rng(seed)
    pool = speeches[~speeches["speech_id"].isin(exclude)]
    patterns = {theme: re.compile(KEYWORDS[theme], re.IGNORECASE) for theme in counts}
    sentences = pd.concat([speech_sentences(s) for _, s in pool.iterrows()], ignore_index=True)
    parts = []
    taken: set[tuple[str, int]] = set()
    for theme, count in counts.items():
        hits = sentences[sentences["text"].map(lambda t, p=patterns[theme]: bool(p.search(t)))]
        hits = hits.sample(frac=1.0, random_state=int(rng.integers(2**31)))
        hits = hits[[(s, i) not in taken for s, i in zip(hits["speech_id"], hits["sentence"])]]
        hits = hits.groupby("speech_id", sort=False).head(per_speech).head(count).copy()
        hits["candidate_of"] = re.sub(r"_\d$", "", theme)
        taken |= set(zip(hits["speech_id"], hits["sentence"]))
        parts.append(hits)
    return pd.concat(parts, ignore_index=True)


def _theme_count(option: str) -> tuple[str, int]:
    theme, _, count = option.partition("=")
    return theme, int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("draw", choices=["random", "targeted", "keywords"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--per-cell", type=int, default=9)
    parser.add_argument("--per-speech", type=int, default=7,
                        help="random: sentences a speech; targeted: a theme's candidates a speech")
    parser.add_argument("--model-dir", default="models/default")
    parser.add_argument("--theme", action="append", default=[],
                        help="THEME=COUNT: how many candidates of the theme to draw")
    parser.add_argument("--exclude", action="append", default=[])
    parser.add_argument("--pool-speeches", type=int, default=1500)
    args = parser.parse_args(argv)
    speeches = read_speeches()
    if args.draw == "random":
        drawn = random_draw(speeches, per_cell=args.per_cell, per_speech=args.per_speech,
                            seed=args.seed)
    else:
        exclude = set()
        for path in args.exclude:
            exclude |= set(pd.read_csv(path)["speech_id"])
        counts = dict(_theme_count(t) for t in args.theme)
    if args.draw == "keywords":
        drawn = keyword_draw(speeches, counts=counts, per_speech=args.per_speech,
                             exclude=exclude, seed=args.seed)
    elif args.draw == "targeted":
        drawn = targeted_draw(speeches, model_dir=args.model_dir, counts=counts,
                              per_speech=args.per_speech, exclude=exclude,
                              pool_speeches=args.pool_speeches, seed=args.seed)
    drawn.to_csv(args.out, index=False)
    print(f"{len(drawn)} sentences from {drawn['speech_id'].nunique()} speeches -> {args.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
