"""Input formats from file names (policy_themes.io.formats)."""


import pytest

from policy_themes.errors import DataError
from policy_themes.io.formats import file_format


def test_file_format_from_extension(tmp_path):
    assert file_format("a.csv") == "csv"
    assert file_format("a.CSV.gz") == "csv"
    assert file_format("a.ndjson") == "jsonl"
    assert file_format("a.parquet") == "parquet"
    with pytest.raises(DataError, match="unknown file type"):
        file_format("a.xlsx")
