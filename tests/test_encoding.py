"""`joinedup encode`: keyed Bloom filters and HMACs instead of names, the schema beside them, and
what is refused. Invented people only."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from sources.column_maps import BUILTIN_MAPS
from sources.encoding.bloom import FilterMaker, dice
from sources.encoding.encode import encode_file, encode_records
from sources.encoding.encoded_file import read_encoded
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
    # a missing value is no filter, not the filter of ''; names are salted by the date of
    # birth, so R4 (no date) has no name filters, and R1 and R2 (day and month swapped) share
    # their surname's
    assert frame["dob_bf"][3] is None and frame["postcode_bf"][3] is None
    assert frame["first_name_bf"][3] is None and frame["last_name_bf"][3] is None
    assert frame["last_name_bf"][0] == frame["last_name_bf"][1]
    schema = read_schema(out, SECRET, EncodingSchema.defaults())
    assert schema.records == 4 and "first_name" in schema.fields and schema.id_column == "Ref"
    # the blocking key of the two Ashworths (day and month swapped) is one HMAC, Zofia's another
    block = frame["block_surname_sound_dob"]
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


def test_the_salt_splits_namesakes_born_on_other_days_but_not_a_swapped_day_and_month():
    schema = EncodingSchema.defaults()
    maker = FilterMaker(schema, SECRET)
    people = pd.DataFrame({"first_name": ["MALCOLM"] * 3 + ["MALCOM"],
                           "dob": [date(2011, 3, 4), date(2011, 4, 3), date(2011, 3, 5),
                                   date(2011, 3, 4)]})
    f = encode_records(people, ["first_name", "dob"], schema, SECRET)["first_name_bf"]
    assert f[0] == f[1] != f[2]                              # swap kept, another day split
    assert dice(f[0], f[3]) > dice(f[0], f[2]) + 0.05       # a slip still scores above namesakes
    assert f[0] != maker.encode("first_name", "MALCOLM")     # never the unsalted filter
    with pytest.raises(EncodingError, match="salts first_name with dob"):
        encode_records(people[["first_name"]], ["first_name"], schema, SECRET)


def _encode(tmp_path, frame: pd.DataFrame | None = None):
    src = tmp_path / "police.csv"
    (PEOPLE if frame is None else frame).to_csv(src, index=False)
    out = tmp_path / "police.parquet"
    encode_file(src, "Ref", {"first_name": "Forename", "last_name": "Surname", "dob": "Born",
                             "nhs_number": "NHS"}, SECRET, out)
    return out


def test_an_encoded_file_cut_short_or_altered_is_refused_naming_row_and_column(tmp_path):
    out = _encode(tmp_path)
    frame, schema = read_encoded(out, SECRET, EncodingSchema.defaults())
    assert len(frame) == 4 and schema.fields == ["dob", "first_name", "last_name", "names_sorted",
                                                     "nhs_number"]
    cut = frame.copy()
    cut.loc[1, "last_name_bf"] = frame["last_name_bf"][1][:100]
    cut.to_parquet(out, index=False)
    with pytest.raises(EncodingError, match=r"police.parquet, row 2 \(id R2\), column "
                                            r"last_name_bf: 100 bytes where this schema's "
                                            r"filters have 256"):
        read_encoded(out, SECRET)
    flipped = frame.copy()
    bits = np.unpackbits(np.frombuffer(frame["dob_bf"][2], dtype=np.uint8))
    bits[0] ^= 1
    flipped.loc[2, "dob_bf"] = np.packbits(bits).tobytes()
    flipped.to_parquet(out, index=False)
    with pytest.raises(EncodingError, match=r"row 3 \(id R3\), column dob_bf: a balanced "
                                            r"filter must have exactly 1024 bits set"):
        read_encoded(out, SECRET)
    frame.iloc[:3].to_parquet(out, index=False)
    with pytest.raises(EncodingError, match="holds 3 records where its schema says 4"):
        read_encoded(out, SECRET)
    out.write_bytes(b"PAR1 not really")
    with pytest.raises(EncodingError, match="cannot be read as Parquet"):
        read_encoded(out, SECRET)


def test_another_hardening_is_named_in_the_refusal(tmp_path):
    out = _encode(tmp_path)
    base = EncodingSchema.defaults()
    unsalted = replace(base, hardening={**base.hardening, "salt": None})
    with pytest.raises(EncodingError, match=r"\(hardening differ: ") as exc:
        read_schema(out, SECRET, unsalted)
    assert "hardening.salt is" in str(exc.value) and "expected" in str(exc.value)


RMS_EXTRACT = pd.DataFrame({
    "OccurrenceNumber": ["OC1", "OC2"], "PersonURN": ["P1", "P2"],
    "OccurrenceClass": ["MISPER", "CRIME"], "Forename": ["Malcolm", "Zofia"],
    "KnownAs": ["Mal", ""], "Surname": ["Ashworth", "Kowalczyk"],
    "DateOfBirth": ["04/03/2011", "30/12/2009"], "Gender": ["Male", "Female"],
    "HomePostcode": ["KF1 2AB", "KF9 9ZZ"], "ReportedDateTime": ["01/02/2025 10:00",
                                                                  "02/02/2025 11:00"]})


def test_a_feed_extract_is_encoded_from_its_column_map(tmp_path):
    src = tmp_path / "rms.csv"
    RMS_EXTRACT.to_csv(src, index=False)
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    out = tmp_path / "rms.parquet"
    runner = CliRunner()
    result = runner.invoke(app, ["encode", str(src), "--kind", "police", "--secret-file",
                                 str(secret), "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = words(result.output)
    assert "column map typical_police_rms" in said and "withheld" in said and "KnownAs" in said
    frame, schema = read_encoded(out, SECRET, EncodingSchema.defaults())
    assert schema.id_column == "OccurrenceNumber"
    assert {"first_name_bf", "last_name_bf", "dob_bf", "postcode_bf", "sex"} <= set(frame.columns)
    assert list(frame["sex"]) == ["M", "F"]
    assert {"PersonURN", "OccurrenceClass", "ReportedDateTime"} <= set(frame.columns)
    raw = out.read_bytes()
    assert not [v for v in ("Malcolm", "MALCOLM", "Mal", "Ashworth", "KF1 2AB", "04/03/2011")
                if v.encode() in raw]
    result = runner.invoke(app, ["encode", str(src), "--kind", "police", "--map",
                                 "first_name=Forename", "--secret-file", str(secret),
                                 "--out", str(out)])
    assert result.exit_code == 2 and "names one column map" in words(result.output)
    own = tmp_path / "our_rms.yaml"     # a partnership's own copy of a map, given as a file
    own.write_text((BUILTIN_MAPS / "typical_police_rms.yaml").read_text()
                   .replace("name: typical_police_rms", "name: our_rms"))
    result = runner.invoke(app, ["encode", str(src), "--kind", "police", "--map", str(own),
                                 "--secret-file", str(secret), "--out", str(out)])
    assert result.exit_code == 0 and "column map our_rms" in words(result.output)
    result = runner.invoke(app, ["encode", str(src), "--kind", "school", "--secret-file",
                                 str(secret), "--out", str(tmp_path / "x.parquet")])
    assert result.exit_code == 1 and "looks like a 'police' extract" in words(result.output)
