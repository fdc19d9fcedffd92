"""Options several commands share."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

TaxonomyOption = Annotated[
    Path | None,
    typer.Option(
        "--taxonomy",
        "-t",
        metavar="FILE",
        help="Taxonomy YAML file [default: the shipped taxonomy].",
        readable=False,
    ),
]


TextColumnOption = Annotated[
    str,
    typer.Option("--text-column", metavar="NAME", help="Column holding the text in table inputs."),
]


LabelColumnOption = Annotated[
    str | None,
    typer.Option(
        "--label-column",
        metavar="NAME",
        help="Column holding the labels (theme ids or names, ';' "
        "between several) [default: themes, else theme].",
    ),
]


DocColumnOption = Annotated[
    str | None,
    typer.Option(
        "--doc-column",
        metavar="NAME",
        help="Column naming each row's document: a document's "
        "sentences are one another's context [default: the "
        "first of doc_id, document_id, document, source, url "
        "present; sentence ids are never documents].",
    ),
]


EncodingOption = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        metavar="ENCODING",
        help="Input text encoding [default: UTF-8, or UTF-16 with a BOM].",
    ),
]


class Engine(str, Enum):
    """Where the work runs."""

    local = "local"
    dask = "dask"


class PrintFormat(str, Enum):
    """How ``predict`` prints what it does not write to a file."""

    table = "table"
    csv = "csv"
    jsonl = "jsonl"


class ProfileFormat(str, Enum):
    """The formats of ``profile``'s tables."""

    csv = "csv"
    parquet = "parquet"


class ShareFormat(str, Enum):
    """The formats ``export`` writes."""

    skops = "skops"


EngineOption = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="local: processes on this machine; dask: a Dask cluster "
        "(pip install 'policy-themes[dask]').",
    ),
]


SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="With --engine dask: address of the Dask scheduler, e.g. "
        "tcp://10.0.0.5:8786 [default: a local cluster of 2 "
        "workers].",
    ),
]


JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        metavar="N",
        help="Processes working on chunks in parallel (the output is "
        "the same for any number) [default: all cores].",
    ),
]


ModelDirOption = Annotated[
    Path,
    typer.Option("--model-dir", "-m", metavar="DIR", help="The model directory.", readable=False),
]


ModelSourceOption = Annotated[
    Path,
    typer.Option(
        "--model-dir",
        "-m",
        metavar="DIR",
        help="The model directory, or a shared .skops model file (written by "
        "`policy-themes export`; a directory holding model.skops but no model.joblib loads "
        "its model.skops).",
        envvar="POLICY_THEMES_MODEL",
        readable=False,
    ),
]


ChunkSizeOption = Annotated[
    int,
    typer.Option("--chunk-size", metavar="N", min=1, help="Sentences per processing chunk."),
]
