"""Read and write the files the package works on: documents (:mod:`.decoding`), tables
(:mod:`.tables`), sentences with their documents (:mod:`.sentence_frames`), labels (:mod:`.labels`),
and atomic writers (:mod:`.writers`).

Formats are chosen by extension: ``.txt`` (a document), ``.csv``, ``.tsv``, ``.jsonl`` /
``.ndjson`` and ``.parquet`` tables, each optionally ``.gz``-compressed (not Parquet). Every write
goes to a temporary file beside the target and is renamed over it only when complete.

Input is checked before it is used: an unknown ``--encoding``, a byte-order mark that contradicts
it, text that does not decode, NUL bytes or a binary file posing as text, a table without rows,
a row with too many fields and a delimiter other than the format's are each one
:class:`~policy_themes.errors.DataError` naming the file (and the line where it helps). Rows whose
text is blank or missing are skipped, and the readers report how many and where
(:class:`DataFinding`).
"""
