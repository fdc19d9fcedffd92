"""A trained model as plain arrays, to predict without scikit-learn.

``model.npz`` holds the fitted pipeline as NumPy arrays (each feature block's buckets and idf,
the linear models' coefficients) and a JSON description (blocks, classes, thresholds, the
taxonomy's rules), written by :func:`~policy_themes.model.conversion.pipeline_arrays`.
:class:`ArrayModel` predicts from it with the code that computes the features in training
and the arithmetic of scikit-learn's ``predict_proba``, so its probabilities are the
pipeline's; ``predict`` then starts without scikit-learn, and loading needs no unpickling.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from policy_themes.errors import ModelError
from policy_themes.model.decisions import (
    decide_theme_cells,
    decide_themes,
    linear_scores,
    membership_from_decision,
    one_vs_rest_proba,
    softmax,
    stacked_membership_proba,
)
from policy_themes.rules.taxonomy import (
    Taxonomy,
    taxonomy_from_dict,
)

if TYPE_CHECKING:  # SciPy is imported where it is used: a process that only reads the model
    import scipy.sparse as sp  # (the one that reads the input of a parallel run) needs none


__all__ = ["ARRAYS_FILE", "FORMAT", "ArrayModel", "preload", "preload_model"]


ARRAYS_FILE = "model.npz"


FORMAT = 1


class _ChunkColumns:
    """A slice of the inputs: its ``text`` and ``context`` columns, each normalised on first
    use and then shared by the blocks that read it, the rules' scores of its texts, and its
    contexts as lines (most of them texts of the slice)."""

    def __init__(self, text: list[str], context):
        self.values = {"text": text, "context": context}
        self._codes: dict[str, np.ndarray | None] = {}
        self._scores: np.ndarray | None = None
        self._lines: tuple[np.ndarray, np.ndarray, list[str]] | None = None
        # the texts' word columns of a context unigram block, found with another block's
        self.unigrams: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def strings(self, column: str) -> list[str]:
        values = self.values[column]
        return values if isinstance(values, list) else list(values)

    def codes(self, column: str) -> np.ndarray | None:
        from policy_themes.rules.matching import normalize_batch_bytes

        if column not in self._codes:
            values = self.strings(column)
            self._codes[column] = (normalize_batch_bytes(values) if values
                                   else None)
        return self._codes[column]

    def rule_scores(self, matcher) -> np.ndarray:
        """The rules' theme scores of the texts."""
        if self._scores is None:
            self._scores = matcher.vote_scores(self.values["text"], self.codes("text"))
        return self._scores

    def context_lines(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Each context as lines: context ``i``'s are ``parts[indptr[i]:indptr[i+1]]``, where
        a part below ``len(text)`` is that text of the slice and part ``len(text) + j`` is
        ``other_lines[j]``."""
        if self._lines is None:
            from policy_themes.features.context import NeighbourContext
            from policy_themes.text.lines import context_lines

            context = self.values["context"]
            if isinstance(context, NeighbourContext):
                self._lines = self._neighbour_lines(context)
            else:
                self._lines = context_lines(context, self.values["text"])
        return self._lines

    def _neighbour_lines(self, context) -> tuple[np.ndarray, np.ndarray, list[str]]:
        text = self.values["text"]
        indptr, rows = context.neighbours()
        local = rows - context.first
        # the neighbours inside the slice are its texts when the slice and the context align
        inside = (local >= 0) & (local < len(text))
        if list(context.texts[context.first:context.first + len(text)]) != text:
            inside[:] = False
        outside, where = np.unique(rows[~inside], return_inverse=True)
        parts = local.copy()
        parts[~inside] = len(text) + where
        return indptr, parts, [str(context.texts[r]) for r in outside]


def _unigrams(block: dict) -> bool:
    """Whether a block is word unigrams (of a context: summed over its lines)."""
    return block["kind"] in ("tfidf", "hashed") and block["analyzer"] == "word" and \
        tuple(block["ngram_range"]) == (1, 1)


def _stack_rows(matrices: list[sp.csr_matrix]) -> sp.csr_matrix:
    import scipy.sparse as sp

    return matrices[0] if len(matrices) == 1 else sp.vstack(matrices, format="csr")


def _taxonomy(raw: dict, where: str) -> Taxonomy:
    """The taxonomy the model carries, checked as strictly as a taxonomy file: a rule that
    RE2 cannot run, or a field of the wrong type, is a ModelError naming the rule."""
    from policy_themes.errors import ConfigError, ModelError

    try:
        return taxonomy_from_dict(raw, where=f"{where}: taxonomy")
    except ConfigError as exc:
        raise ModelError(str(exc)) from None


_PRELOADED: dict[tuple[str, str], ArrayModel] = {}  # loaded before this process forked


def preload_model(key: str) -> None:
    """Load and warm up the model ``key`` (JSON ``[path, sha256]``) for the processes this one
    will fork: an unpickled :class:`ArrayModel` of the same file and hash adopts its arrays
    instead of reading the file, so forked workers share one copy of the weights.

    The file is checked against the hash as it is read (:class:`~.errors.ModelError`
    otherwise).
    """
    path, sha256 = json.loads(key)
    preload(ArrayModel.load(path, sha256))


def preload(model: ArrayModel) -> None:
    model.warm_up()
    _PRELOADED[model._preload_key()] = model


def _aligned_rows(n_rows: int, n_columns: int, dtype) -> np.ndarray:
    """Zeros of shape (n_rows, width), width ``n_columns`` rounded up to a whole number of
    64-byte cache lines, starting on a cache line: each row of weights is then read as whole
    lines (the padding columns stay zero and are never read as outputs)."""
    itemsize = np.dtype(dtype).itemsize
    per_line = 64 // itemsize
    width = -(-n_columns // per_line) * per_line
    raw = np.zeros(n_rows * width * itemsize + 64, dtype=np.uint8)
    offset = -raw.ctypes.data % 64
    return raw[offset:offset + n_rows * width * itemsize].view(dtype).reshape(n_rows, width)


class ArrayModel:
    """Predict from the arrays of ``model.npz`` without scikit-learn.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        What :func:`pipeline_arrays` returned (or ``np.load`` of the saved file).
    path : str or Path, default=None
        The ``model.npz`` the arrays are read from on first use (see :meth:`load`).
    sha256 : str, default=None
        Its SHA-256, checked again by a process that reads it without having loaded it.
    layout : dict, default=None
        Each array's dtype and shape (:func:`~policy_themes.model.checks.npz_layout`), when the
        caller has read them from ``path`` already.
    source : str or Path, default=None
        Where in-memory arrays come from, named in errors (a ``.skops`` file).

    Raises
    ------
    ModelError
        If the spec or an array fails its checks (:mod:`policy_themes.model.checks`): its
        fields' types and ranges, each array's dtype and shape against the spec and the other
        arrays, and (for in-memory arrays now, for ``path`` when they are read) their values.
    """

    def __init__(self, arrays, *, path: str | Path | None = None, sha256: str | None = None,
                 layout: dict | None = None, source: str | Path | None = None):
        from policy_themes.model.checks import check_layout, npz_layout, parse_spec

        self.path = Path(path) if path is not None else None
        self._source = str(source) if source is not None else None  # named in errors
        names = arrays.files if hasattr(arrays, "files") else list(arrays)
        if "spec" not in names:
            raise ModelError(f"{self._where}: array 'spec' is missing; the model is damaged "
                             "or was altered: retrain it")
        # every field and array is checked before use (model.checks): the kernels index the
        # arrays without bounds checks
        spec = parse_spec(arrays["spec"], self._where)
        self.spec = spec
        self.classes = list(spec["classes"])
        self.themes = list(spec["themes"])
        self.thresholds = dict(spec["thresholds"])
        self.taxonomy = _taxonomy(spec["taxonomy"], self._where) \
            if spec.get("taxonomy") else None
        self.sha256 = sha256
        self._arrays = None
        if self.path is None:
            self._arrays = self._checked({k: np.asarray(arrays[k]) for k in names
                                          if k != "spec"})
        else:  # the arrays are read on first use; their layout is checked now
            check_layout(spec, layout if layout is not None else npz_layout(self.path),
                         self._where)
        self._lookups: dict[str, np.ndarray] = {}
        self._matcher = None

    @property
    def _where(self) -> str:
        if self.path is not None:
            return str(self.path)
        return self.__dict__.get("_source") or "the model's arrays"

    def _checked(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``arrays`` once their dtypes, shapes and values are checked against the spec."""
        from policy_themes.model.checks import check_layout, check_values, layout_of

        check_layout(self.spec, layout_of(arrays), self._where)
        check_values(self.spec, arrays, self._where)
        return arrays

    @classmethod
    def load(cls, path: str | Path, sha256: str | None = None, *,
             checked: bool = False) -> ArrayModel:
        """Read the description of ``model.npz`` now and its arrays on first use (no pickles:
        ``allow_pickle=False``). ``sha256``, when given, is checked before the arrays are read,
        so a process that receives this object reads the file that was checked; ``checked``
        says this process has just checked it (it is not hashed twice)."""
        from policy_themes.model.checks import npz_layout

        layout = npz_layout(path)  # the headers only: members stored, sizes as announced
        with np.load(path, allow_pickle=False) as data:
            model = cls(data, path=path, sha256=sha256, layout=layout)
        model._checked_pid = os.getpid() if checked else None
        return model

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The model's arrays (read from ``path`` on first use)."""
        if self._arrays is None:
            from policy_themes.io.checksums import file_sha256

            try:
                if (self.sha256 is not None and self.__dict__.get("_checked_pid") != os.getpid()
                        and file_sha256(self.path) != self.sha256):
                    raise ModelError(f"{self.path}: changed since the model was loaded; load it "
                                     "again")
                with np.load(self.path, allow_pickle=False) as data:
                    arrays = {k: data[k] for k in data.files if k != "spec"}
            except OSError as exc:
                raise ModelError(f"{self.path}: cannot be read ({exc.strerror or exc})") from None
            except ValueError as exc:
                raise ModelError(f"{self.path}: cannot be read ({exc}); retrain it") from None
            self._arrays = self._checked(arrays)
        return self._arrays

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lookups"], state["_matcher"] = {}, None  # rebuilt on first use
        state.pop("_outputs", None)
        if self.path is not None:
            state["_arrays"] = None  # a worker process reads the file itself
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        shared = _PRELOADED.get(self._preload_key()) if self._arrays is None else None
        if shared is not None:
            self._adopt(shared)

    def _preload_key(self) -> tuple[str, str] | None:
        return (str(self.path), self.sha256) if self.path is not None and self.sha256 else None

    def _adopt(self, shared: ArrayModel) -> None:
        """Predict with the arrays, lookups and rule matcher ``shared`` holds (the same file):
        in a process forked from the one that loaded them, their pages are shared."""
        self.__dict__.update(_arrays=shared.arrays, _lookups=dict(shared._lookups),
                             _matcher=shared._rule_matcher(),
                             _outputs=shared._output_weights())

    def preload_in_forks(self) -> tuple[str, str] | None:
        """What a fork server calls to load this model before it forks worker processes
        (see :func:`~policy_themes.parallel.pool.map_chunks`): a ``module:function`` and its
        argument, or None for a model not read from a file with a known SHA-256."""
        key = self._preload_key()
        return None if key is None else (f"{__name__}:preload_model", json.dumps(key))

    def warm_up(self) -> None:
        """Read the arrays, build the lookups, the stacked weights and the rule matcher, and
        run the compiled loops once (a process forked after this starts predicting at once)."""
        self.predict_themes(["The ministers warmed up the model."],
                            ["They met in the capital."])

    def embedded(self) -> ArrayModel:
        """A copy that carries its arrays when pickled, for processes that cannot read
        ``path`` (the workers of a Dask cluster on other machines)."""
        copy = object.__new__(ArrayModel)
        copy.__dict__.update(self.__dict__, _arrays=self.arrays, path=None, sha256=None,
                             _lookups={}, _matcher=None)
        copy.__dict__.pop("_outputs", None)
        return copy

    def features(self, texts: Sequence[str], context: Sequence[str] | None = None):
        """The feature matrix the pipeline's ``features`` step gives for these inputs."""
        import scipy.sparse as sp

        return _stack_rows([sp.hstack([self._block(block, columns)
                                       for block in self.spec["blocks"]]).tocsr()
                            for columns in self._chunks(texts, context)])

    def decisions(self, texts: Sequence[str], context: Sequence[str] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Decision values of the primary outputs and of the membership outputs.

        One pass over each feature block scores every output (the same numbers as
        ``linear_scores`` of :meth:`features`, bit for bit, without stacking the blocks, and
        without making the n-gram blocks' matrices at all).
        """
        weights, intercept, n_primary = self._output_weights()
        scores = _aligned_rows(len(texts), weights.shape[1], weights.dtype)
        start = 0
        for columns in self._chunks(texts, context):
            rows = scores[start:start + len(columns.values["text"])]
            first_row = 0
            for block in self.spec["blocks"]:
                first_row += self._add_block_scores(block, columns, weights, first_row, rows)
            start += len(rows)
        n_outputs = len(intercept)
        decision = np.asarray(scores[:, :n_outputs] + intercept, dtype=np.float64)
        return decision[:, :n_primary], decision[:, n_primary:]

    def _chunks(self, texts: Sequence[str], context: Sequence[str] | None):
        """Consecutive slices of the inputs (bounded in size), each column of a slice
        normalised once for all the blocks that read it."""
        from policy_themes.features.context import NeighbourContext
        from policy_themes.features.ngrams import iter_chunks

        texts = [str(t) for t in texts]
        if context is None:
            context = [""] * len(texts)
        elif not isinstance(context, NeighbourContext):
            context = [str(c) for c in context]
        if len(context) != len(texts):
            raise ValueError(f"{len(context)} contexts for {len(texts)} texts")
        start = 0
        for chunk in iter_chunks(texts):
            yield _ChunkColumns(chunk, context[start:start + len(chunk)])
            start += len(chunk)

    def _block(self, block: dict, columns: _ChunkColumns) -> sp.csr_matrix:
        """A feature block of a slice."""
        import scipy.sparse as sp

        from policy_themes.features.ngrams import weighted_matrix

        found = self._block_columns(block, columns)
        if not isinstance(found, tuple):  # a rule block's values
            return sp.csr_matrix(found)
        indptr, found_columns, weighting = found
        return weighted_matrix(indptr, found_columns, **weighting)

    def _add_block_scores(self, block: dict, columns: _ChunkColumns, weights: np.ndarray,
                          first_row: int, rows: np.ndarray) -> int:
        """``rows += block @ weights[first_row:first_row + width]``; returns the width."""
        from policy_themes.features.ngrams import add_weighted_products
        from policy_themes.kernels import add_products
        from policy_themes.rules.labeling import nonzero_rows

        found = self._block_columns(block, columns)
        if not isinstance(found, tuple):  # a rule block's values: the matrix :meth:`_block` makes
            width = block["n_themes"] if block["kind"] == "rules" else block["width"]
            if found.shape[1] != width:  # the kernel reads weights[first_row + column]
                raise ModelError(f"{self._where}: block '{block['name']}' gives "
                                 f"{found.shape[1]} features, the model was trained with "
                                 f"{width}")
            add_products(*nonzero_rows(found), weights, first_row, rows)
            return width
        indptr, found_columns, weighting = found
        add_weighted_products(indptr, found_columns, weights, first_row, rows, **weighting)
        return weighting["width"]

    def _block_columns(self, block: dict, columns: _ChunkColumns):
        """A rule block's values (dense, mostly zeros), or an n-gram block's columns before
        weighting: ``(indptr, columns, weighting)``, the arguments of
        :func:`~policy_themes.features.ngrams.weighted_matrix`."""
        on_context = block["column"] == "context"
        if block["kind"] == "embeddings":  # dense, like a rule block's values
            from policy_themes.features.embeddings import embed

            return embed(columns.strings(block["column"]), block["model"]) * \
                np.float32(block["scale"])
        if block["kind"] == "rules":
            if on_context and block["per_line"]:
                return self._context_rules(block, columns)
            scores = columns.rule_scores(self._rule_matcher()) if not on_context else \
                self._rule_matcher().vote_scores(columns.strings("context"))
            return np.log1p(scores[:, :block["n_themes"]])
        if on_context and _unigrams(block):
            return self._context_unigrams(block, columns)
        partner = None if on_context else self._unigram_partner(block)
        if partner is not None:
            return self._words_and_unigrams(block, partner, columns)
        return self._ngrams(block, len(columns.values["text"]),
                            columns.codes(block["column"]))

    def _unigram_partner(self, block: dict) -> dict | None:
        """The context unigram block whose columns of the texts ``block`` finds in its own
        pass (the words are found and hashed once): the first word block of the texts has
        the first context unigram block that comes after it, if any."""
        partners = self.__dict__.get("_partners")
        if partners is None:
            partners = {}
            blocks = self.spec["blocks"]
            words = [i for i, b in enumerate(blocks) if b["column"] == "text"
                     and b["kind"] in ("tfidf", "hashed") and b["analyzer"] == "word"]
            unigrams = [i for i, b in enumerate(blocks) if b["column"] == "context"
                        and _unigrams(b) and words and i > words[0]]
            if unigrams:
                partners[blocks[words[0]]["name"]] = blocks[unigrams[0]]
            self.__dict__["_partners"] = partners
        return partners.get(block["name"])

    def _words_and_unigrams(self, block: dict, partner: dict, columns: _ChunkColumns
                            ) -> tuple[np.ndarray, np.ndarray, dict]:
        """A word n-gram block of the texts, keeping the columns of their words under the
        buckets of ``partner`` (a context unigram block) for :meth:`_context_unigrams`."""
        from policy_themes.features.ngrams import word_and_unigram_columns

        hashing, weighting = self._ngram_settings(block)
        partner_hashing, _ = self._ngram_settings(partner)
        words, unigrams = word_and_unigram_columns(
            columns.codes("text"), len(columns.values["text"]),
            ngram_range=hashing["ngram_range"], n_bits=hashing["n_bits"],
            lookup=hashing["lookup"], unigram_n_bits=partner_hashing["n_bits"],
            unigram_lookup=partner_hashing["lookup"])
        columns.unigrams[partner["name"]] = unigrams
        return (*words, weighting)

    def _output_weights(self) -> tuple[np.ndarray, np.ndarray, int]:
        """The primary and membership weights side by side, one row a feature."""
        stacked = self.__dict__.get("_outputs")
        if stacked is None:
            arrays = self.arrays
            primary = arrays["primary.coef"].T
            membership = arrays["membership.coef"] if self.spec["multilabel"] else \
                np.zeros((primary.shape[0], 0), dtype=primary.dtype)
            intercepts = [arrays["primary.intercept"]]
            if membership.shape[1]:
                intercepts.append(arrays["membership.intercept"])
            n_outputs = primary.shape[1] + membership.shape[1]
            weights = _aligned_rows(primary.shape[0], n_outputs, primary.dtype)
            weights[:, :primary.shape[1]] = primary
            weights[:, primary.shape[1]:n_outputs] = membership
            stacked = (weights, np.concatenate(intercepts), primary.shape[1])
            # the heads' arrays become views of the stacked weights: one copy in memory
            arrays["primary.coef"] = weights[:, :primary.shape[1]].T
            if self.spec["multilabel"]:
                arrays["membership.coef"] = weights[:, primary.shape[1]:n_outputs]
            self.__dict__["_outputs"] = stacked
        return stacked

    def _ngrams(self, block: dict, n_texts: int, codes: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, dict]:
        """A ``tfidf`` or ``hashed`` block of ``n_texts`` texts normalised into ``codes``."""
        from policy_themes.features.ngrams import ngram_columns

        hashing, weighting = self._ngram_settings(block)
        return (*ngram_columns(codes, n_texts, **hashing), weighting)

    def _ngram_settings(self, block: dict) -> tuple[dict, dict]:
        """How a block finds its n-grams' columns (the arguments of
        :func:`~policy_themes.features.ngrams.ngram_columns`) and how it weights them (of
        :func:`~policy_themes.features.ngrams.weighted_matrix`)."""
        from policy_themes.features.ngrams import bucket_lookup

        hashing = {"analyzer": block["analyzer"], "ngram_range": tuple(block["ngram_range"]),
                   "n_bits": block["n_bits"], "lookup": None}
        weighting = {"width": 2 ** block["n_bits"], "sublinear_tf": block["sublinear_tf"],
                     "norm": block["norm"], "idf": None}
        if block["kind"] == "tfidf":
            name = block["name"]
            buckets = self.arrays[f"{name}.buckets"]
            if name not in self._lookups:
                self._lookups[name] = bucket_lookup(buckets, block["n_bits"])
            hashing["lookup"] = self._lookups[name]
            weighting.update(width=len(buckets), idf=self.arrays[f"{name}.idf"])
        return hashing, weighting

    def _context_unigrams(self, block: dict, columns: _ChunkColumns
                          ) -> tuple[np.ndarray, np.ndarray, dict]:
        """A word-unigram block of the contexts, from the unigrams of their lines.

        A context's lines are mostly the sentences around it, hashed already with the slice's
        texts: each line is hashed once, and a context's columns are its lines' columns one
        after the other, the same as hashing the joined context (a unigram never spans a line
        break), bit for bit.
        """
        from policy_themes.features.ngrams import ngram_columns
        from policy_themes.kernels import gather_rows
        from policy_themes.rules.matching import normalize_batch_bytes

        hashing, weighting = self._ngram_settings(block)
        parts_indptr, parts, other_lines = columns.context_lines()
        n_texts = len(columns.values["text"])
        kept = columns.unigrams.pop(block["name"], None)  # from the word block's pass
        indptr, found = kept if kept is not None else \
            ngram_columns(columns.codes("text"), n_texts, **hashing)
        if other_lines:
            extra_indptr, extra = ngram_columns(normalize_batch_bytes(other_lines),
                                                len(other_lines), **hashing)
            indptr = np.concatenate([indptr, extra_indptr[1:] + indptr[-1]])
            found = np.concatenate([found, extra])
        total = int((indptr[parts + 1] - indptr[parts]).sum())
        context_indptr = np.empty(len(parts_indptr), dtype=np.int64)
        context_columns = np.empty(total, dtype=np.int32)
        gather_rows(indptr, found, parts_indptr, parts, context_indptr, context_columns)
        return context_indptr, context_columns, weighting

    def _context_rules(self, block: dict, columns: _ChunkColumns) -> np.ndarray:
        """The rules' votes of each context: the sum of its lines' (the slice's sentences are
        matched once, for the ``rules`` block too)."""
        matcher = self._rule_matcher()
        indptr, parts, other_lines = columns.context_lines()
        scores = columns.rule_scores(matcher)
        if other_lines:
            scores = np.vstack([scores, matcher.vote_scores(other_lines)])
        return matcher.line_vote_values(indptr, parts, scores, block["n_themes"])

    def _rule_matcher(self):
        from policy_themes.rules.labeling import RuleMatcher

        if self._matcher is None:
            self._matcher = RuleMatcher(self.taxonomy)
        return self._matcher

    def predict_proba(self, X) -> np.ndarray:
        """Probability that each class is the primary theme (as ``ThemeClassifier``)."""
        return self._primary_proba(linear_scores(X, self.arrays["primary.coef"].T,
                                                 self.arrays["primary.intercept"]))

    def _primary_proba(self, decision: np.ndarray) -> np.ndarray:
        if self.spec["primary_kind"] == "logistic" and not self.spec["primary_binary"]:
            seen = softmax(np.asarray(decision))
        else:  # a binary head, or one-vs-rest heads
            seen = one_vs_rest_proba(decision)
        proba = np.zeros((decision.shape[0], len(self.classes)))
        proba[:, self.spec["primary_columns"]] = seen
        return proba

    def membership_proba(self, X) -> np.ndarray:
        """Probability that each theme is among the sentence's themes."""
        if not self.spec["multilabel"]:
            return self._membership_from_primary(self.predict_proba(X))
        return stacked_membership_proba(X, len(self.themes), self.spec["membership_columns"],
                                        self.arrays["membership.coef"],
                                        self.arrays["membership.intercept"],
                                        self.spec["membership_constants"])

    def _membership_from_primary(self, proba: np.ndarray) -> np.ndarray:
        return proba[:, [self.classes.index(t) for t in self.themes]]

    def predict_themes(self, texts: Sequence[str], context: Sequence[str] | None = None, *,
                       as_cells: bool = False):
        """Primary themes, theme sets, primary and membership probabilities; with
        ``as_cells``, the primary themes and the theme sets as the columns of a table
        (:func:`decide_theme_cells`)."""
        primary_decision, membership_decision = self.decisions(texts, context)
        proba = self._primary_proba(primary_decision)
        if self.spec["multilabel"]:
            membership = membership_from_decision(
                membership_decision, len(proba), len(self.themes),
                self.spec["membership_columns"], self.spec["membership_constants"])
        else:
            membership = self._membership_from_primary(proba)
        thresholds = np.array([self.thresholds.get(t, 0.5) for t in self.themes])
        decide = decide_theme_cells if as_cells else decide_themes
        primary, sets = decide(proba, membership, self.classes, self.themes, thresholds)
        return primary, sets, proba, membership
