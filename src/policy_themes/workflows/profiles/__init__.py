"""Theme profiles: how much each group of documents talks about each theme, with intervals.

:func:`profile` reads the output of ``predict`` (CSV, TSV, JSONL or Parquet, ``.gz`` allowed, or
a folder of Parquet parts) a chunk at a time and keeps, per document and group, the number of
sentences, of sentences with each primary theme and of sentences whose theme set holds each
theme (:mod:`.reading`); memory is bounded by documents x themes, not by sentences. The shares,
their bootstrap intervals over documents and the groups that stand out (:mod:`.shares`) work on
that small table; :class:`Profile` holds them as DataFrames and writes them with three pictures
(:mod:`.pictures`) and a ``profile.md`` (:mod:`.text`).
"""

from policy_themes.workflows.profiles.api import BINS, Profile, profile

__all__ = ["Profile", "profile", "BINS"]
