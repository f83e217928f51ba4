"""The synthetic extract generator (sources/synth): determinism, file layout, ingestion through
the real read/map path, ground truth, hard negatives, identity errors and planted faults.

Everything generated here is invented. Populations are kept small so the file runs in seconds;
generated output is shared between tests through module-scoped fixtures.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from expectations.validate import validate_extract
from flows.home import Home
from sources.column_maps import load_maps
from sources.extract import check_extract, read_extract
from sources.readers import open_source
from sources.synth import FAULTS, SUPPLIERS, _with_ids, generate, population
from sources.synth.names import variant_table

AS_OF = date(2025, 10, 31)
SEED = 7
CHILDREN = 2000                 # native files: small enough for a fast XLSX round trip
BIG_CHILDREN = 30_000           # Parquet: enough police / social care overlap to see errors
BIG_SEED = 11
SOURCES = ("social_care", "police", "school", "yot")
EXPECTED_MAP = {"social_care": "synthetic_casebook", "police": "synthetic_beacon",
                "school": "synthetic_register", "yot": "synthetic_lantern"}
NATIVE_SUFFIX = {"social_care": ".csv", "police": ".csv", "school": ".xlsx", "yot": ".csv"}
# the column that says what each row is (for YOT, the assessment it records)
ROW_TYPE = {"social_care": "event_type", "police": "occurrence_type", "school": "record_type",
            "yot": "assessment_date"}
UTF8_BOM = b"\xef\xbb\xbf"


# --- helpers ---------------------------------------------------------------------------------

def generate_into(out: Path, **kwargs) -> dict:
    """The generator writing a ready home at `out`, as `joinedup synth OUT` does."""
    home = Home(out)
    return generate(home.inbox, home.truth_records, home.population, **kwargs)


def rows_key(out: Path, path: Path) -> str:
    """How the generator's summary names an extract: its path inside the inbox."""
    return str(path.relative_to(Home(out).inbox))


def extract_file(out: Path, source: str) -> Path:
    files = sorted(p for p in (Home(out).inbox / source).iterdir() if p.is_file())
    assert len(files) == 1, f"expected one file in inbox/{source}, found {files}"
    return files[0]


def ingest(path: Path, kind: str, maps: dict):
    """The chain the nightly run uses: the receipt check chooses a map with no hints, then
    ingestion re-opens the file with that map's file hints, names the map and applies it."""
    chosen = check_extract(path, kind, maps, path.name)
    extract = read_extract(path, kind, maps, path.name, chosen.cmap.name)
    assert extract.cmap.name == chosen.cmap.name and extract.raw.header_row == chosen.header_row
    return extract, extract.cmap, extract.raw.header_row, extract.raw, extract.mapped


def read_truth(out: Path) -> pd.DataFrame:
    return pd.read_csv(Home(out).truth_records, dtype=str, keep_default_na=False)


def raw_person_refs(out: Path, source: str, maps: dict) -> set[str]:
    """Person ids as written in a Parquet extract, read without the mapping step."""
    column = maps[EXPECTED_MAP[source]].columns["person_ref"].column
    refs = pd.read_parquet(extract_file(out, source))[column]
    return set(refs.dropna())


@cache
def xlsx_cells(path: Path, max_row: int | None = None) -> list[tuple]:
    """Cell values of every sheet (the first `max_row` rows of each), without the timestamps
    a workbook's metadata holds."""
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return [(ws.title, *row) for ws in book.worksheets
                for row in ws.iter_rows(max_row=max_row, values_only=True)]
    finally:
        book.close()


def people(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per person record: identity columns are the same on every row of a person_ref."""
    return frame.drop_duplicates("person_ref").set_index("person_ref")


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def maps():
    return load_maps()


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    out = tmp_path_factory.mktemp("native")
    return out, generate_into(out, children=CHILDREN, seed=SEED, as_of=AS_OF)


@pytest.fixture(scope="module")
def native_mapped(native, maps):
    out, _ = native
    return {source: ingest(extract_file(out, source), source, maps) for source in SOURCES}


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    """The native fixture's population, written as Parquet."""
    out = tmp_path_factory.mktemp("parquet")
    return out, generate_into(out, children=CHILDREN, seed=SEED, as_of=AS_OF, file_format="parquet")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    out = tmp_path_factory.mktemp("big")
    return out, generate_into(out, children=BIG_CHILDREN, seed=BIG_SEED, as_of=AS_OF,
                         file_format="parquet")


# --- 1. determinism ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """`joinedup synth` with the native fixture's arguments: a second run of the same seed
    (each run of the generator costs seconds, so the CLI test and the determinism test share
    it)."""
    from flows.cli import app

    out = tmp_path_factory.mktemp("cli") / "home"
    result = CliRunner().invoke(app, ["synth", str(out), "--children", str(CHILDREN),
                                      "--seed", str(SEED), "--as-of", AS_OF.isoformat(),
                                      "--format", "native"])
    assert result.exit_code == 0, result.output
    return out, result


@pytest.fixture(scope="module")
def other_seed(tmp_path_factory):
    out = tmp_path_factory.mktemp("other_seed")
    return out, generate_into(out, children=CHILDREN, seed=SEED + 1, as_of=AS_OF)


def _files(out: Path) -> list[Path]:
    return sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())


def test_same_seed_gives_identical_files_and_truth(native, cli_run):
    (a, _), (b, _) = native, cli_run
    files = _files(a)
    # the command also gives the home the demo's settings (its partnership's name)
    assert files == [f for f in _files(b) if f != Path("joinedup.yaml")]
    assert "partnership:" in (b / "joinedup.yaml").read_text(encoding="utf-8")
    text_files = [f for f in files if f.suffix == ".csv"]
    home = Home(a)
    assert {f.parts[0] for f in text_files} == {
        p.relative_to(a).parts[0] for p in (home.inbox, home.truth, home.population)}
    for rel in text_files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    workbooks = [f for f in files if f.suffix == ".xlsx"]
    assert workbooks, "the school extract should be a workbook"
    for rel in workbooks:
        assert xlsx_cells(a / rel) == xlsx_cells(b / rel), rel


FINGERPRINT = """
import hashlib
from datetime import date

from sources.synth import SUPPLIERS, _with_ids, identity, population
from sources.synth.config import load
from sources.synth.rng import stream


def fingerprint(children, seed):
    pop = _with_ids(population.build(children, seed, date(2025, 10, 31)), seed)
    digest = hashlib.sha256(pop.drop(columns=["dob", "move_date"]).to_csv().encode())
    digest.update(pop["dob"].astype(str).str.cat().encode())
    for source in SUPPLIERS:
        profile = load("agencies")["identity"][source]
        records = identity.record_identities(stream(seed, source), pop, pop.index.to_numpy(),
                                             profile)
        digest.update(records.astype(str).to_csv().encode())
    return digest.hexdigest()
"""


def test_population_and_identity_errors_do_not_depend_on_the_hash_seed():
    """Names are drawn through dicts and sets; nothing may follow Python's salted str hash,
    or the same seed would give other children in another process."""
    namespace: dict = {}
    exec(FINGERPRINT, namespace)
    here = namespace["fingerprint"](1500, SEED)
    code = FINGERPRINT + f"\nprint(fingerprint(1500, {SEED}))\n"
    root = Path(__file__).resolve().parents[1]
    for hash_seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env,
                              capture_output=True, text=True, check=True, timeout=120)
        assert done.stdout.strip() == here, f"PYTHONHASHSEED={hash_seed}"
    assert namespace["fingerprint"](1500, SEED + 1) != here


def test_different_seed_gives_different_output(native, other_seed):
    (a, _), (c, _) = native, other_seed
    assert _files(a) == _files(c)          # same layout and names (names carry the date only)
    for source in SOURCES:
        path_a, path_c = extract_file(a, source), extract_file(c, source)
        if path_a.suffix == ".xlsx":      # differing first rows are enough to tell
            assert xlsx_cells(path_a, 50) != xlsx_cells(path_c, 50), source
        else:
            assert path_a.read_bytes() != path_c.read_bytes(), source
    truth_a, truth_c = read_truth(a), read_truth(c)
    assert not truth_a.equals(truth_c)
    # not just a reshuffle: the person ids themselves change
    assert set(truth_a["person_ref"]) != set(truth_c["person_ref"])


# --- 2. layout and formats ------------------------------------------------------------------

def test_inbox_layout_and_native_formats(native):
    out, summary = native
    assert sorted(p.name for p in Home(out).inbox.iterdir()) == sorted(SOURCES)
    for source in SOURCES:
        path = extract_file(out, source)
        assert path.suffix == NATIVE_SUFFIX[source], path
        assert path.name.endswith(f"_{AS_OF:%Y%m%d}{path.suffix}")
    assert set(summary["rows"]) == {rows_key(out, extract_file(out, s)) for s in SOURCES}
    assert Home(out).truth_records.is_file()
    assert Home(out).population.is_file()


def test_social_care_csv_is_windows_1252(native):
    out, _ = native
    path = extract_file(out, "social_care")
    data = path.read_bytes()
    text = data.decode("cp1252")                 # must decode
    assert any(b > 0x7F for b in data), "expected accented names in the Casebook export"
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert not data.startswith(UTF8_BOM)
    assert re.search(r"[À-ÿ]", text), "accented letters should survive as cp1252 letters"
    assert open_source(path).encoding == "cp1252"


def test_police_csv_is_plain_utf8(native):
    out, _ = native
    path = extract_file(out, "police")
    data = path.read_bytes()
    data.decode("utf-8")
    assert not data.startswith(UTF8_BOM)
    assert open_source(path).encoding == "utf-8"


def test_yot_csv_starts_with_a_byte_order_mark(native):
    out, _ = native
    path = extract_file(out, "yot")
    data = path.read_bytes()
    assert data.startswith(UTF8_BOM)
    data.decode("utf-8-sig")
    assert open_source(path).encoding == "utf-8-sig"


def test_school_workbook_has_a_title_block_above_the_header(native, native_mapped, maps):
    out, _ = native
    path = extract_file(out, "school")
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        assert book.sheetnames == [maps["synthetic_register"].file["sheet"]]
        rows = [list(r) for r in book.worksheets[0].iter_rows(min_row=1, max_row=10,
                                                                values_only=True)]
    finally:
        book.close()
    detect = set(maps["synthetic_register"].detect)
    header_rows = [i for i, r in enumerate(rows, start=1) if detect <= set(r)]
    assert len(header_rows) == 1
    assert header_rows[0] > 1
    assert isinstance(rows[0][0], str) and rows[0][0].strip()     # a title line on row 1
    assert not detect & set(rows[0])
    _, _, header_row, _, _ = native_mapped["school"]
    assert header_row == header_rows[0]                          # the reader finds it too


def test_parquet_format_writes_the_same_tables_as_parquet(parquet, native, native_mapped):
    out, summary = parquet
    native_out, native_summary = native
    assert summary["faulty_rows"] == native_summary["faulty_rows"]
    for source in SOURCES:
        path = extract_file(out, source)
        assert path.suffix == ".parquet", path
        frame = pd.read_parquet(path)
        assert len(frame) == summary["rows"][rows_key(out, path)]
        _, _, _, raw, _ = native_mapped[source]
        assert list(frame.columns) == raw.header      # same supplier layout as the native file
        if source in ("police", "yot"):               # UTF-8 text in both: the very same cells
            text = pd.read_csv(extract_file(native_out, source), dtype=str,
                               keep_default_na=False, encoding="utf-8-sig")
            assert frame.fillna("").astype(object).equals(text.astype(object)), source
    inbox = Home(out).inbox
    assert not list(inbox.rglob("*.csv")) and not list(inbox.rglob("*.xlsx"))


# --- 3. ingestion through the real read / map path ----------------------------------------------

def _check_mapped(source: str, cmap, mapped, expected_rows: int) -> None:
    assert cmap.name == EXPECTED_MAP[source]
    assert mapped.rows_in == expected_rows
    assert mapped.blank_rows == 0
    frame = mapped.frame
    assert frame["person_ref"].notna().all()
    assert frame["record_id"].notna().all() and frame["record_id"].is_unique
    assert frame[ROW_TYPE[source]].notna().mean() > 0.95
    assert frame["first_name"].notna().mean() > 0.95
    assert frame["last_name"].notna().mean() > 0.95
    # per person record: one child with many police reports and no recorded dob must not
    # decide the share in a small extract
    assert frame.drop_duplicates("person_ref")["dob"].notna().mean() > 0.8
    assert frame["sex"].notna().mean() > 0.95


@pytest.mark.parametrize("source", SOURCES)
def test_native_extract_ingests_with_its_synthetic_map(native, native_mapped, source):
    out, summary = native
    _, cmap, _, _, mapped = native_mapped[source]
    _check_mapped(source, cmap, mapped, summary["rows"][rows_key(out, extract_file(out, source))])


@pytest.mark.parametrize("source", SOURCES)
def test_parquet_extract_ingests_with_its_synthetic_map(parquet, maps, source):
    out, summary = parquet
    path = extract_file(out, source)
    _, cmap, _, _, mapped = ingest(path, source, maps)
    _check_mapped(source, cmap, mapped, summary["rows"][rows_key(out, path)])


# --- 4. ground truth ------------------------------------------------------------------------------

def test_truth_covers_every_person_record_in_the_extracts(native, native_mapped):
    out, _ = native
    truth = read_truth(out)
    assert list(truth.columns) == ["source", "person_ref", "child_id", "family_id",
                                   "twin_group_id"]
    assert set(truth["source"]) == set(SOURCES)
    assert not truth.duplicated(["source", "person_ref"]).any()
    assert (truth["child_id"] != "").all() and (truth["family_id"] != "").all()
    for source in SOURCES:
        refs = set(native_mapped[source][4].frame["person_ref"])
        known = set(truth.loc[truth["source"] == source, "person_ref"])
        assert refs <= known, f"{source}: {len(refs - known)} person ids missing from the truth"
    # a child belongs to one family and one twin group, whatever record it is seen through
    per_child = truth.groupby("child_id")[["family_id", "twin_group_id"]].nunique()
    assert (per_child == 1).all().all()


def test_truth_covers_every_person_record_in_parquet_extracts(big, maps):
    out, _ = big
    truth = read_truth(out)
    assert not truth.duplicated(["source", "person_ref"]).any()
    for source in SOURCES:
        known = set(truth.loc[truth["source"] == source, "person_ref"])
        assert raw_person_refs(out, source, maps) <= known, source


def test_truth_names_only_person_records_present_in_the_extracts(native, native_mapped):
    out, _ = native
    truth = read_truth(out)
    for source in SOURCES:
        refs = set(native_mapped[source][4].frame["person_ref"])
        known = set(truth.loc[truth["source"] == source, "person_ref"])
        assert known == refs, f"{source}: {sorted(known - refs)[:5]} are in no extract"


# --- 5. hard negatives: twins ------------------------------------------------------------------

def _twin_record_pairs(truth: pd.DataFrame) -> list[tuple[str, str]]:
    """(person_ref, person_ref) pairs of one source belonging to different co-twins."""
    twins = truth[truth["twin_group_id"] != ""]
    pairs = []
    for _, group in twins.groupby(["source", "twin_group_id"]):
        for (_, a), (_, b) in itertools.combinations(group.iterrows(), 2):
            if a["child_id"] != b["child_id"]:
                pairs.append((a["person_ref"], b["person_ref"]))
    return pairs


def test_twins_are_in_the_truth_as_distinct_children(native):
    out, _ = native
    truth = read_truth(out)
    twins = truth[truth["twin_group_id"] != ""]
    groups = twins.groupby("twin_group_id")["child_id"].nunique()
    assert (groups >= 2).sum() > 0, "no twin group with two children in the truth"
    # co-twins are siblings: one family per twin group
    assert (twins.groupby("twin_group_id")["family_id"].nunique() == 1).all()


def test_school_twins_share_surname_dob_and_postcode_but_not_first_name(native, native_mapped):
    out, _ = native
    truth = read_truth(out)
    pairs = _twin_record_pairs(truth[truth["source"] == "school"])
    assert len(pairs) >= 5, "too few twin pairs in the school extract to test"
    school = people(native_mapped["school"][4].frame)
    same_details = 0
    def same(u, v) -> bool:
        return not pd.isna(u) and not pd.isna(v) and u == v

    for a, b in pairs:
        x, y = school.loc[a], school.loc[b]
        assert x["first_name"] != y["first_name"], (a, b)
        if all(same(x[c], y[c]) for c in ("last_name", "dob", "postcode")):
            same_details += 1
    # each record carries its own recording errors, so a few pairs may differ in some detail
    assert same_details >= 0.8 * len(pairs)


# --- 6. identity errors across agencies --------------------------------------------------------

def test_police_and_social_care_records_of_one_child_mostly_agree(big, maps):
    out, _ = big
    truth = read_truth(out)
    seen = {}
    for source in ("police", "social_care"):
        _, _, _, _, mapped = ingest(extract_file(out, source), source, maps)
        records = people(mapped.frame)[["first_name", "dob"]].reset_index()
        seen[source] = records.merge(truth.loc[truth["source"] == source,
                                               ["person_ref", "child_id"]],
                                     on="person_ref", how="left", validate="one_to_one")
        assert seen[source]["child_id"].notna().all()
    pairs = seen["police"].merge(seen["social_care"], on="child_id", suffixes=("_p", "_s"))
    assert len(pairs) >= 50, "too few children known to both police and social care"
    named = pairs["first_name_p"].notna() & pairs["first_name_s"].notna()
    first_differs = named & (pairs["first_name_p"] != pairs["first_name_s"])
    dated = pairs["dob_p"].notna() & pairs["dob_s"].notna()
    dob_differs = dated & (pairs["dob_p"] != pairs["dob_s"])
    assert first_differs.sum() >= 2 and dob_differs.sum() >= 2
    assert first_differs.sum() < 0.5 * named.sum()
    assert dob_differs.sum() < 0.2 * dated.sum()
    assert (~first_differs & ~dob_differs).mean() > 0.75


# --- 7. population: siblings' first names -------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2])
def test_siblings_never_share_a_first_name_or_a_form_of_one(seed):
    pop = population.build(20_000, seed, AS_OF)
    assert len(pop) == 20_000
    spellings, nicknames = variant_table()

    def forms(name: str) -> set[str]:
        return {name, *spellings.get(name, ()), *nicknames.get(name, ())}

    families = pop[pop["family_size"] > 1].groupby("family_id")["first_name"]
    assert families.ngroups > 1000
    sibling_pairs = 0
    for _, names in families:
        names = list(names)
        assert len(set(names)) == len(names), names
        for a, b in itertools.combinations(names, 2):
            sibling_pairs += 1
            assert not forms(a) & forms(b), (a, b)
    assert sibling_pairs > 1000
    # twins, the hardest case, are among them
    twins = pop[pop["twin_group_id"] != ""].groupby("twin_group_id")
    assert twins.ngroups > 10
    assert (twins["dob"].nunique() == 1).all()


# --- 8. faults validation must quarantine -----------------------------------------------------

def test_school_negative_sessions_match_the_fault_count_and_are_quarantined(native,
                                                                             native_mapped):
    _, summary = native
    _, cmap, _, _, mapped = native_mapped["school"]
    frame = mapped.frame
    negative = frame.index[frame["sessions_possible"].fillna(0) < 0].tolist()
    assert summary["faulty_rows"]["school"] > 0
    assert len(negative) == summary["faulty_rows"]["school"]
    assert (frame.loc[negative, "record_type"] == "ATTENDANCE").all()
    result = validate_extract(mapped, AS_OF + timedelta(days=1), f"school.{cmap.name}")
    assert set(negative) <= set(result.quarantined_rows)
    assert len(result.good) == len(frame) - len(result.quarantined_rows)


def test_fault_counts_match_the_faulty_cells_in_every_extract(big, maps):
    out, summary = big
    for source in SOURCES:
        frame = pd.read_parquet(extract_file(out, source))
        planted = sum(int((frame[column] == str(text)).sum())
                      for column, text in FAULTS.get(source, {}).values())
        assert planted == summary["faulty_rows"][source], source
    # validation has something to catch in the school extract and in at least one other
    assert 0 < summary["faulty_rows"]["school"] < sum(summary["faulty_rows"].values())


# --- 9. the command line ------------------------------------------------------------------------

def test_cli_synth_writes_the_inbox_and_prints_no_personal_data(cli_run, native,
                                                                 native_mapped):
    out, result = cli_run
    _, summary = native
    printed = result.output
    compact = re.sub(r"\s+", "", printed)      # rich may wrap long paths
    for source in SOURCES:
        path = extract_file(out, source)
        assert path.suffix == NATIVE_SUFFIX[source]
        rel = str(path.relative_to(out))
        assert rel in compact
        assert f"{rel}:{summary['rows'][rows_key(out, path)]:,}rows" in compact  # counts written
    assert Home(out).truth_records.is_file()
    # same arguments as the native fixture, so the same people are in the files
    assert extract_file(out, "police").read_bytes() == extract_file(
        native[0], "police").read_bytes()
    personal: set[str] = set()
    for source in SOURCES:
        frame = native_mapped[source][4].frame
        for column in ("first_name_raw", "middle_names_raw", "last_name_raw", "person_ref",
                       "postcode_raw"):
            if column in frame:
                personal.update(frame[column].dropna())
    assert len(personal) > 1000
    leaked = sorted(v for v in personal
                    if re.search(rf"(?<![\w]){re.escape(v)}(?![\w])", printed))
    assert not leaked, f"the CLI printed personal data: {leaked[:5]}"


def test_la_child_ids_are_unique_for_a_million_children():
    """The generator is meant to scale to 1M children (see sources/synth/names.py)."""
    pop = pd.DataFrame({"dob": np.full(1_000_000, np.datetime64("2015-06-01", "D"))})
    ids = _with_ids(pop, SEED)
    assert ids["la_child_id"].is_unique and ids["upn"].is_unique


def test_every_supplier_has_a_map_and_an_inbox_folder():
    """The supplier table and the maps agree (what the tests above rely on)."""
    maps = load_maps()
    for source, supplier in SUPPLIERS.items():
        assert supplier.source == source
        assert maps[supplier.map_name].kind == source
        assert supplier.map_name == EXPECTED_MAP[source]


def test_postcode_units_beyond_the_configured_districts_are_distinct():
    """A population bigger than the districts hold (1M children) gets further districts instead
    of a rejection loop that never ends."""
    from sources.synth.identifiers import postcode_units

    units = postcode_units(np.random.default_rng(1), 5_000, "ZX", {1: 0.5, 2: 0.5}, "ABDEFG")
    assert len(set(units)) == 5_000
    assert {u.split()[0] for u in units} >= {"ZX1", "ZX2", "ZX3"}


@pytest.mark.parametrize("source", ["school", "social_care", "police"])
def test_person_refs_are_unique_when_a_million_records_are_duplicates(source):
    """Duplicate records get new ids of their own: at a million children there are hundreds of
    thousands of them, and two sharing an id would merge two records in the truth."""
    from sources.synth import _refs
    from sources.synth.rng import stream

    n = 1_100_000
    pop = _with_ids(pd.DataFrame({"dob": np.full(n, np.datetime64("2015-06-01", "D"))}), SEED)
    duplicate = np.ones(n, dtype=bool)
    duplicate[::3] = False                  # every third record is a child's first
    rec_child = np.arange(n)
    refs = _refs(stream(SEED, "refs-test"), SUPPLIERS[source], pop, rec_child, duplicate)
    assert pd.Series(refs).is_unique


def test_stress_profile_records_children_as_badly_as_real_agencies_do():
    """`--profile stress` lays profiles.yaml's rates over agencies.yaml: the same children, as
    the police would record them, with several times the errors."""
    from sources.synth import identity
    from sources.synth.config import agencies

    pop = _with_ids(population.build(3000, 5, AS_OF), 5)
    child = np.repeat(np.arange(len(pop)), 4)

    def recorded(profile: str) -> pd.DataFrame:
        rates = agencies(profile)["identity"]["police"]
        return identity.record_identities(np.random.default_rng(9), pop, child, rates)

    standard, stress = recorded("standard"), recorded("stress")
    assert agencies("stress")["identity"]["police"]["dob_missing"] == 0.10
    for column, least in (("dob", 0.08), ("postcode", 0.25)):
        assert standard[column].isna().mean() < least < stress[column].isna().mean(), column
    first = pd.Series(pop["first_name"].to_numpy()[child]).str.upper().to_numpy()

    def renamed(frame: pd.DataFrame) -> float:
        return float((frame["first_name"].str.upper().to_numpy() != first).mean())

    assert renamed(stress) > 2 * renamed(standard) > 0
    assert agencies("standard")["identity"]["police"]["dob_missing"] < 0.10   # base untouched
    with pytest.raises(ValueError, match="no generator profile 'lenient'"):
        generate(Path("unused"), Path("unused"), Path("unused"), children=10, as_of=AS_OF,
                 profile="lenient")
