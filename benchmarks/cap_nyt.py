"""CAP major topics of New York Times front-page titles: somebody else's codebook, run as a user
would run it, beside plain scikit-learn peers on the same folds.

The data is ``../shared/bench/cap-nyt/titles.csv`` (31,034 titles 1996–2006 coded with the
Comparative Agendas Project's major topics; read at run time, never copied). The codebook is
written at run time, as a user would write it: one theme per policy topic, its id a slug of the
CAP topic name, and the README's non-policy codes (24–31, 99: state and local government
administration, weather, fires, sports, obituaries, religion, other) all ``none``: the package's
``none`` means "no policy theme", which is what those codes say of a title.

No split is published for headline-only text, so every system is scored by 5-fold
cross-validation on the same folds (stratified by topic; or grouped by date, so that one day's
front page is never split, when the titles of the day are each other's context). Each model of
the package is trained with :func:`policy_themes.workflows.training.train_model` (what
``policy-themes train`` runs) on four folds and predicts the fifth, as a user would with
``train --folds 0`` and ``evaluate``.

    python benchmarks/cap_nyt.py --sample 6000    # a seeded subsample, every system (print only)
    python benchmarks/accuracy.py --tasks cap cap-by-date   # the sections of accuracy.md
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.svm import LinearSVC
from systems import (
    Fitter,
    Timed,
    accurate_variants,
    ci,
    fasttext_fitter,
    fit_and_predict,
    forget_embeddings,
    load_average,
    package_fitter,
    tfidf_fitter,
    timing_cells,
)

from policy_themes.config import CVConfig, TrainConfig, load_train_config
from policy_themes.evaluation.metrics import compute_metrics
from policy_themes.features.context import frame_context
from policy_themes.io.labels import read_labeled
from policy_themes.rules.taxonomy import NO_THEME, load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
CAP_NYT = ROOT.parent / "shared" / "bench" / "cap-nyt" / "titles.csv"
FOLDS = 5

#: CAP major topic code -> (theme id, name, what the CAP codebook files under it).
CAP_TOPICS = {
    1: ("macroeconomics", "Macroeconomics",
        "Inflation, unemployment, interest rates, the budget and debt, taxation, the economy."),
    2: ("civil_rights", "Civil rights, minority issues and civil liberties",
        "Discrimination by race, sex, age or disability, voting rights, speech, religion and "
        "privacy rights, abortion."),
    3: ("health", "Health",
        "Health care and insurance, Medicare and Medicaid, drugs, disease, tobacco, medical "
        "research."),
    4: ("agriculture", "Agriculture",
        "Farming, food safety and inspection, fisheries, animal and crop disease."),
    5: ("labor", "Labor and employment",
        "Jobs and workers, unions, wages, pensions, workplace safety, job training."),
    6: ("education", "Education",
        "Schools and universities, teachers, school funding, student aid, vouchers, testing."),
    7: ("environment", "Environment",
        "Pollution of air and water, waste, endangered species, climate, conservation."),
    8: ("energy", "Energy",
        "Oil, gas, coal, nuclear and electric power, utilities, energy prices and conservation."),
    9: ("immigration", "Immigration",
        "Immigrants and refugees coming to the country, border control, citizenship."),
    10: ("transportation", "Transportation",
         "Air, road, rail and sea transport, their safety and infrastructure, accidents."),
    12: ("law_crime", "Law, crime and family issues",
         "Crime and policing, courts, prisons, drugs enforcement, terrorism at home, family law."),
    13: ("social_welfare", "Social welfare",
         "Welfare and poverty assistance, food stamps, care for the elderly and disabled."),
    14: ("housing", "Community development and housing",
         "Housing, urban development, neighbourhoods, homelessness."),
    15: ("banking_commerce", "Banking, finance and domestic commerce",
         "Banks, markets and securities, corporations and mergers, consumer protection."),
    16: ("defense", "Defense",
         "The armed forces, wars and interventions, weapons, veterans, homeland security."),
    17: ("science_technology", "Space, science, technology and communications",
         "Space, science and research, computers and the internet, telecommunications, media."),
    18: ("foreign_trade", "Foreign trade",
         "Trade agreements and disputes, tariffs, exports and imports, foreign investment."),
    19: ("international_affairs", "International affairs and foreign aid",
         "Other countries' politics and conflicts, diplomacy, foreign aid, the UN."),
    20: ("government_operations", "Government operations",
         "Elections and campaigns, the government's own business, appointments, scandals."),
    21: ("public_lands", "Public lands and water management",
         "National parks, public land and water resources, territories."),
    23: ("culture", "Culture",
         "Arts, culture and entertainment."),
}
#: The codes the bench README calls non-policy: ``none`` in the codebook.
NON_POLICY = (24, 26, 27, 28, 29, 30, 31, 99)


def write_codebook(folder: Path) -> Path:
    """Write the CAP major-topic taxonomy a user would write, and return its path."""
    themes = [{"id": slug, "name": name, "description": text, "rules": []}
              for slug, name, text in CAP_TOPICS.values()]
    themes.append({"id": NO_THEME, "name": "No policy topic",
                   "description": "State and local government administration, weather, fires, "
                                  "sports, obituaries, religion, human interest."})
    path = folder / "cap-major-topics.yaml"
    path.write_text(yaml.safe_dump({"name": "cap-major-topics", "themes": themes},
                                   sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def write_titles(folder: Path, source: Path = CAP_NYT) -> Path:
    """The titles as a user's labeled table (``id, date, text, themes``), in file order."""
    raw = pd.read_csv(source)
    codes = dict.fromkeys(NON_POLICY, NO_THEME)
    codes.update({code: slug for code, (slug, _, _) in CAP_TOPICS.items()})
    table = pd.DataFrame({"id": raw["id"], "date": raw["date"], "text": raw["title"],
                          "themes": raw["majortopic"].map(codes)})
    if table["themes"].isna().any():
        unknown = sorted(raw.loc[table["themes"].isna(), "majortopic"].unique())
        raise SystemExit(f"{source}: CAP codes not in the codebook: {unknown}")
    path = folder / "titles.csv"
    table.to_csv(path, index=False)
    return path


def cap_config(*, by_date: bool) -> TrainConfig:
    """The shipped default pipeline; with ``by_date``, each title's context is its neighbours on
    the same day's front page (window 2, 30 % of titles fitted without it, as shipped)."""
    base = load_train_config()
    context = replace(base.context, columns=(), document_columns=("date",))
    config = replace(base, context=context, data=replace(base.data, weights={},
                                                         cross_validate=()),
                     cv=CVConfig(folds=0), source="cap-nyt config")
    return config if by_date else config.without_context()



@dataclass
class Titles:
    """The labeled titles as ``train`` reads them, and what the systems are given."""

    frame: pd.DataFrame
    taxonomy: object
    context: list[str]

    def part(self, rows: np.ndarray, *, with_context: bool) -> dict:
        """The rows ``rows`` as a fitter's or predictor's input."""
        frame = self.frame.iloc[rows]
        return {"texts": frame["text"].tolist(), "themes": frame["themes"].tolist(),
                "context": [self.context[i] for i in rows] if with_context else None,
                "groups": frame["date"].astype(str).tolist()}


def load_titles(folder: Path, *, sample: int | None = None, seed: int = 0) -> Titles:
    """Write the codebook and the labeled titles into ``folder`` and read them back as
    ``policy-themes train`` would; ``sample`` keeps the whole front pages of a seeded random
    choice of days, about that many titles (in file order: a day's titles stay neighbours)."""
    taxonomy = load_taxonomy(write_codebook(folder))
    frame = read_labeled(write_titles(folder), taxonomy)
    if sample is not None and sample < len(frame):
        days = frame["date"].drop_duplicates().sample(frac=1.0, random_state=seed)
        sizes = frame["date"].value_counts().reindex(days).cumsum()
        frame = frame[frame["date"].isin(sizes.index[sizes <= sample])]
    frame = frame.reset_index(drop=True)
    context = list(frame_context(frame, cap_config(by_date=True).context, doc_column="date"))
    return Titles(frame, taxonomy, context)


def cv_folds(titles: Titles, *, by_date: bool, seed: int = 0) -> list:
    """The 5 folds every system is scored on: stratified by topic, or also grouped by date."""
    primary = titles.frame["themes"].str[0]
    if by_date:
        splitter = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
        return list(splitter.split(titles.frame, primary, titles.frame["date"]))
    splitter = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    return list(splitter.split(titles.frame, primary))


@dataclass
class Scored:
    """A system's out-of-fold predictions, and its fit time and predict rate on fold 1."""

    system: str
    primary: np.ndarray
    proba: np.ndarray | None
    first: Timed
    fit_rows: int
    timed: bool = True


def cross_validate(system: str, fitter: Fitter, titles: Titles, folds: list, *,
                   with_context: bool = False, cold: bool = True) -> Scored:
    """Train ``fitter`` on four folds and predict the fifth, five times. ``cold``: the first
    fold starts with an empty embedding cache (its fit and predict are what a fresh process
    takes); otherwise the row's times are not reported."""
    n, classes = len(titles.frame), titles.taxonomy.ids
    primary = np.empty(n, dtype=object)
    proba = np.zeros((n, len(classes)))
    has_proba = True
    if cold:
        forget_embeddings()
    for k, (train_rows, test_rows) in enumerate(folds):
        got = fit_and_predict(fitter, titles.part(train_rows, with_context=with_context),
                              titles.part(test_rows, with_context=with_context))
        primary[test_rows] = got.primary
        if got.proba is None:
            has_proba = False
        else:
            proba[test_rows] = got.proba
        if k == 0:
            first = got, len(train_rows)
        print(f"    {system}: fold {k + 1} fit {got.fit_seconds:.1f} s ({got.fit_cpu:.1f} CPU), "
              f"predict {got.predict_rate:,.0f}/s ({got.predict_cpu_rate:,.0f}/CPU s) "
              f"(load {load_average()})", flush=True)
    return Scored(system, primary, proba if has_proba else None, first[0], first[1],
                  timed=cold)


def cap_systems(titles: Titles, *, settings: tuple[str, ...] = (),
                variants_only: bool = False) -> list[tuple]:
    """(name, fitter, uses context, timed) of the stratified run: the package's fast and
    accurate models, the accurate one with each of ``settings`` (``step__param=value``), and
    the peers; ``variants_only``: the accurate ones with ``settings`` alone (the first timed)."""
    taxonomy, classes = titles.taxonomy, titles.taxonomy.ids
    fast = cap_config(by_date=False)
    accurate = fast.with_embeddings()
    systems = [("policy-themes fast (default `train`)", package_fitter(fast, taxonomy), False,
                True),
               ("policy-themes accurate (`train --accurate`)", package_fitter(accurate, taxonomy),
                False, True)]
    if settings and variants_only:
        systems = []
    for text, config in accurate_variants(accurate, list(settings)):
        systems.append((f"policy-themes accurate, `--set {text}`",
                        package_fitter(config, taxonomy), False, not systems))
    if variants_only:
        return systems
    systems += [
        ("word+char TF-IDF + logistic regression (untuned)",
         tfidf_fitter(lambda: LogisticRegression(max_iter=1000), classes), False, True),
        ("word+char TF-IDF + linear SVM (untuned)", tfidf_fitter(LinearSVC, classes), False,
         True)]
    fasttext = fasttext_fitter(classes)
    if fasttext is not None:
        systems.append(("fastText (wordNgrams 2, 25 epochs)", fasttext, False, True))
    return systems


def by_date_systems(titles: Titles, *, accurate: bool) -> list[tuple]:
    """(name, fitter, uses context, timed) of the run grouped by date: the fast model (and the
    accurate one) with and without the day's other titles as context."""
    systems = []
    for label, upgrade in (("fast", False), ("accurate", True)):
        if upgrade and not accurate:
            continue
        alone, with_day = cap_config(by_date=False), cap_config(by_date=True)
        if upgrade:
            alone, with_day = alone.with_embeddings(), with_day.with_embeddings()
        systems.append((f"policy-themes {label}, title alone",
                        package_fitter(alone, titles.taxonomy), False, False))
        systems.append((f"policy-themes {label}, + the day's neighbouring titles as context",
                        package_fitter(with_day, titles.taxonomy), True, False))
    return systems


def score_rows(titles: Titles, scored: list[Scored], n_boot: int) -> list[dict]:
    """Accuracy and macro-F1 (95 % bootstrap intervals) of each system's out-of-fold
    predictions."""
    gold, classes = titles.frame["themes"].tolist(), titles.taxonomy.ids
    rows = []
    for item in scored:
        primary = list(item.primary)
        metrics = compute_metrics(gold, primary, [[p] for p in primary], item.proba, classes,
                                  n_boot=n_boot, seed=0)
        rows.append({"scored": item, "metrics": metrics})
    return rows


def cap_table(rows: list[dict]) -> str:
    """The Markdown table of :func:`score_rows`."""
    out = ["| system | accuracy [95 % CI] | macro-F1 [95 % CI] | fit s, wall (CPU), fold 1 | "
           "predict titles/s, wall (per CPU s), fold 1 |", "|---|---|---|---|---|"]
    for row in rows:
        item, m = row["scored"], row["metrics"]
        got = item.first
        cost = timing_cells(got.fit_seconds, got.fit_cpu, got.predict_rate,
                            got.predict_cpu_rate) if item.timed else "– | –"
        out.append(f"| {item.system} | {ci(m, 'accuracy')} | {ci(m, 'macro_f1')} | {cost} |")
    return "\n".join(out)


def run(titles: Titles, systems: list[tuple], folds: list, n_boot: int) -> str:
    """Cross-validate each system on ``folds`` and return the table."""
    scored = [cross_validate(name, fitter, titles, folds, with_context=context, cold=timed)
              for name, fitter, context, timed in systems]
    return cap_table(score_rows(titles, scored, n_boot))


def cap_task(args) -> str:
    """The CAP-NYT section of ``benchmarks/results/accuracy.md``: stratified 5-fold CV."""
    titles = _titles(args)
    load_before = load_average()
    table = run(titles, cap_systems(titles, settings=tuple(args.accurate_set)),
                cv_folds(titles, by_date=False), args.bootstrap)
    return "\n".join([
        f"## CAP-NYT major topics{'' if args.sample else ', all titles'}: stratified 5-fold CV "
        f"on {len(titles.frame):,} New York Times "
        f"front-page titles ({_classes(titles)}), the same folds for every system\n",
        _cap_preamble(titles, args, load_before, "cap"), table + "\n",
        f"Load average at the end: {load_average()}.\n"])


def cap_settings_task(args) -> str:
    """A CAP-NYT section of accurate models with other settings, on the folds of
    :func:`cap_task` (same sample, same seed)."""
    titles = _titles(args)
    load_before = load_average()
    table = run(titles, cap_systems(titles, settings=tuple(args.accurate_set),
                                    variants_only=True),
                cv_folds(titles, by_date=False), args.bootstrap)
    return "\n".join([
        f"## CAP-NYT accurate-model settings: the folds of the stratified CV above, "
        f"{len(titles.frame):,} titles\n",
        _cap_preamble(titles, args, load_before, "cap-settings"), table + "\n",
        f"Load average at the end: {load_average()}.\n"])


def cap_by_date_task(args) -> str:
    """The CAP-NYT section grouped by date: does a title read better beside its day's others?"""
    titles = _titles(args)
    load_before = load_average()
    table = run(titles, by_date_systems(titles, accurate=args.by_date_accurate),
                cv_folds(titles, by_date=True), args.bootstrap)
    return "\n".join([
        f"## CAP-NYT by date: 5-fold CV grouped by date on {len(titles.frame):,} titles "
        f"({_classes(titles)}), a day's front page in one fold, with and without the day's "
        "other titles as context\n",
        _cap_preamble(titles, args, load_before, "cap-by-date"), table + "\n",
        f"Load average at the end: {load_average()}.\n"])


def _titles(args) -> Titles:
    with tempfile.TemporaryDirectory() as tmp:
        return load_titles(Path(tmp), sample=args.sample)


def _classes(titles: Titles) -> str:
    n = titles.frame["themes"].str[0].nunique()
    return f"{n} classes: {n - 1} policy topics and `none`"


def _cap_preamble(titles: Titles, args, load_before: str, task: str) -> str:
    sample = "all titles" if args.sample is None else \
        (f"a seeded subsample: the {len(titles.frame):,} titles of "
         f"{titles.frame['date'].nunique():,} days drawn at random (seed 0), the same for "
         "every system")
    command = f"python benchmarks/accuracy.py --tasks {task}" + (
        f" --sample {args.sample}" if args.sample is not None else "") + (
        " --accurate-set " + " ".join(args.accurate_set)
        if args.accurate_set and task in ("cap", "cap-settings") else "")
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return (f"Made by `{command}` on {_today()}; {sample}; `OMP_NUM_THREADS={threads}`, "
            f"load average at the start {load_before} (2 cores shared). "
            "The codebook is written at run time "
            "(`benchmarks/cap_nyt.py`): 21 policy topics with ids from their CAP names, and "
            "the README's non-policy codes 24–31 and 99 as `none`; no rules. "
            + (_TIMES_NOT_TAKEN if task == "cap-by-date" else _TIMES) +
            " The bench README publishes no figure for headline-only text: the peers in the "
            "same run are the comparison.\n")


_TIMES = ("Times are the first fold's (fit on four fifths, predict the fifth, embedding cache "
          "empty); rows marked – ran with embeddings already cached.")
_TIMES_NOT_TAKEN = "Times are not taken here (see the stratified run)."


def _today() -> str:
    from datetime import date

    return date.today().isoformat()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--by-date", action="store_true", help="the run grouped by date")
    args = parser.parse_args()
    print(cap_by_date_task(args) if args.by_date else cap_task(args))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The CAP options, shared with ``benchmarks/accuracy.py``."""
    parser.add_argument("--sample", type=int, default=None,
                        help="CAP-NYT: a seeded subsample of this many titles (default: all)")
    parser.add_argument("--accurate-set", nargs="*", default=[], metavar="STEP__PARAM=VALUE",
                        help="rows of the accurate model with one setting changed, e.g. "
                             "features__embeddings__scale=2 (Manifesto and CAP-NYT)")
    parser.add_argument("--by-date-accurate", action="store_true",
                        help="CAP-NYT: the accurate model in the run grouped by date too")


if __name__ == "__main__":
    main()
