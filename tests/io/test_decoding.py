"""Reading documents in their encodings (policy_themes.io.decoding)."""

import gzip

import pytest

from policy_themes.errors import DataError
from policy_themes.io.decoding import read_document


def test_documents_are_decoded_from_utf8_bom_and_utf16(tmp_path):
    text = "Café diplomacy. Second sentence."
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (tmp_path / "u16.txt").write_bytes(text.encode("utf-16"))
    assert read_document(tmp_path / "bom.txt") == text
    assert read_document(tmp_path / "u16.txt") == text


def test_latin1_document_is_refused_with_a_hint(tmp_path):
    (tmp_path / "l1.txt").write_bytes("Caf\xe9 talks.".encode("latin-1"))
    with pytest.raises(DataError, match="not valid UTF-8 text .*--encoding"):
        read_document(tmp_path / "l1.txt")
    assert read_document(tmp_path / "l1.txt", encoding="cp1252") == "Café talks."


def test_gzipped_document(tmp_path):
    path = tmp_path / "d.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("One. Two.")
    assert read_document(path) == "One. Two."
