"""`joinedup encode`: keyed Bloom filters and HMACs instead of names, the schema beside them, and
what is refused. Invented people only."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from sources.encoding.bloom import FilterMaker, dice
from sources.encoding.schema import EncodingError, EncodingSchema, read_schema, schema_path

SECRET = b"test-only encoding secret, not a real one 0123"
PEOPLE = pd.DataFrame({
    "Ref": ["R1", "R2", "R3", "R4"],
    "Forename": ["Malcolm", "Malcom", "Zofia", "Malcolm"],
    "Surname": ["Ashworth", "Ashworth", "Kowalczyk", "Ashworth"],
    "Born": ["2011-03-04", "2011-04-03", "2009-12-30", ""],
    "Postcode": ["KF1 2AB", "KF12AB", "KF9 9ZZ", ""],
    "NHS": ["", "", "", ""],
    "Gender": ["M", "M", "F", "M"],
    "Referral Reason": ["CSE concern", "missing", "other", "school"],
})
CLEAR = ["Malcolm", "MALCOLM", "Ashworth", "ASHWORTH", "Kowalczyk", "KOWALCZYK", "2011-03-04",
         "20110304", "KF1 2AB", "KF12AB", "Zofia", "ZOFIA"]


def words(text: str) -> str:
    """Console output with its line wrapping (and typer's box drawing) undone."""
    return " ".join(text.replace("│", " ").split())


@pytest.fixture
def encoded(tmp_path):
    src = tmp_path / "police.csv"
    PEOPLE.to_csv(src, index=False)
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    out = tmp_path / "out" / "police.parquet"
    result = CliRunner().invoke(app, [
        "encode", str(src), "--id", "Ref", "--map", "first_name=Forename",
        "--map", "last_name=Surname", "--map", "dob=Born", "--map", "postcode=Postcode",
        "--map", "nhs_number=NHS", "--map", "sex=Gender", "--secret-file", str(secret),
        "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, secret, result.output


def test_encoded_file_holds_no_clear_identifier_and_passes_the_rest(encoded):
    out, _secret, printed = encoded
    frame = pd.read_parquet(out)
    assert list(frame["Ref"]) == list(PEOPLE["Ref"])
    assert list(frame["Referral Reason"]) == list(PEOPLE["Referral Reason"])   # as delivered
    assert list(frame["sex"]) == ["M", "M", "F", "M"]
    assert {"first_name_bf", "last_name_bf", "dob_bf", "postcode_bf"} <= set(frame.columns)
    assert not {"Forename", "Surname", "Born", "Postcode"} & set(frame.columns)
    raw = out.read_bytes() + schema_path(out).read_bytes()
    assert not [v for v in CLEAR if v.encode() in raw]
    assert SECRET not in raw and SECRET.decode() not in printed
    # one value, one filter; a missing value is no filter, not the filter of ''
    assert frame["first_name_bf"][0] == frame["first_name_bf"][3]
    assert frame["dob_bf"][3] is None and frame["postcode_bf"][3] is None
    schema = read_schema(out, SECRET, EncodingSchema.defaults())
    assert schema.records == 4 and "first_name" in schema.fields and schema.id_column == "Ref"
    # the blocking key of the two Ashworths born in 2011 is the same HMAC, Zofia's another
    block = frame["block_surname_sound_birth_year"]
    assert block[0] == block[1] != block[2] and block[3] is None


def test_similar_values_stay_similar_and_hardening_hides_the_length():
    schema = EncodingSchema.defaults()
    maker = FilterMaker(schema, SECRET)
    a, slip, other = (maker.encode("first_name", v) for v in ("MALCOLM", "MALCOM", "ZOFIA"))
    assert dice(a, slip) > dice(a, other) + 0.1
    assert len(a) == len(other) == schema.filter_bytes == 2 * schema.bits // 8
    ones = [int(np.unpackbits(np.frombuffer(f, dtype=np.uint8)).sum()) for f in (a, other)]
    assert ones == [schema.bits, schema.bits]         # balanced: weight says nothing of length
    plain = FilterMaker(replace(schema, hardening={"balance": False, "permute": False}), SECRET)
    assert len({int(np.unpackbits(np.frombuffer(plain.encode("first_name", v),
                                                dtype=np.uint8)).sum())
                for v in ("MALCOLM", "ZOFIA")}) == 2
    assert FilterMaker(schema, b"another secret of enough length").encode(
        "first_name", "MALCOLM") != a


def test_another_secret_or_schema_is_refused(encoded):
    out, _secret, _printed = encoded
    with pytest.raises(EncodingError, match="another secret"):
        read_schema(out, b"a different secret of enough length")
    other = replace(EncodingSchema.defaults(), bits=512)
    with pytest.raises(EncodingError, match="bits differ"):
        read_schema(out, SECRET, other)
    schema_path(out).unlink()
    with pytest.raises(EncodingError, match="no encoding schema beside it"):
        read_schema(out, SECRET)


def test_bad_secrets_and_an_identifying_id_are_refused(tmp_path):
    src = tmp_path / "p.csv"
    PEOPLE.to_csv(src, index=False)
    short = tmp_path / "short"
    short.write_bytes(b"too short")
    runner = CliRunner()
    base = ["encode", str(src), "--map", "first_name=Forename", "--out", str(tmp_path / "o.pq")]
    result = runner.invoke(app, [*base, "--id", "Ref", "--secret-file", str(short)])
    assert result.exit_code == 1 and "shorter than 16 bytes" in words(result.output)
    assert "can be read by others" in words(result.output)
    result = runner.invoke(app, [*base, "--id", "Ref"])
    assert result.exit_code == 2
    assert "--secret-file FILE or --secret-block NAME" in words(result.output)
    good = tmp_path / "good"
    good.write_bytes(SECRET)
    result = runner.invoke(app, [*base, "--id", "Forename", "--secret-file", str(good)])
    assert result.exit_code == 1 and "identifies no one" in words(result.output)
    assert not (tmp_path / "o.pq").exists()
