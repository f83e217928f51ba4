"""Synthetic extracts for a fictional council, because real children's records can never be used.

`generate(inbox, truth, population, children=N, seed=S, as_of=D)` writes, deterministically
per seed (the caller chooses the paths; `joinedup synth` and `demo` give a home's):

    <inbox>/social_care/  Casebook events export       (Windows-1252 CSV)
    <inbox>/police/       Beacon child occurrences     (UTF-8 CSV)
    <inbox>/school/       Register attendance workbook (XLSX with a title block)
    <inbox>/yot/          Lantern assessments          (UTF-8 CSV with a byte-order mark)
    <truth>               which person records are the same child (never read by the pipeline)
    <population>          children by single year of age and sex

Each extract is rendered through its supplier's column map (sources/maps/synthetic_*.yaml), with
that agency's identity errors (sources/synth/data/agencies.yaml) and a few faulty rows that
validation must quarantine. `file_format="parquet"` writes the same tables as Parquet files;
`file_format="statutory"` (what `joinedup synth` and `demo` ask for) writes social care and
school as the national returns instead (sources/synth/returns.py), from the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from sources.synth import identity, police, population, render, returns, school, social_care, yot
from sources.synth.config import STANDARD, agencies, load
from sources.synth.identifiers import upns
from sources.synth.rng import distinct_numbers, stream

LA_NUMBER = 999              # fictional local-authority number inside UPNs


@dataclass(frozen=True)
class Supplier:
    source: str              # inbox folder
    map_name: str
    file_stem: str
    encoding: str            # CSV encoding; "xlsx" for a workbook
    ref_prefix: str          # person ids minted by the system
    sex_words: bool = False
    ethnicity_scheme: str = "dfe_main"
    flag_words: tuple[str, str] = ("Y", "N")


SUPPLIERS = {
    "social_care": Supplier("social_care", "synthetic_casebook", "casebook_events", "cp1252",
                            "KB"),
    "police": Supplier("police", "synthetic_beacon", "beacon_child_occurrences", "utf-8", "NOM",
                       sex_words=True, ethnicity_scheme="police_sde"),
    "school": Supplier("school", "synthetic_register", "register_attendance_exclusions", "xlsx",
                       "", ethnicity_scheme="school_extended"),
    "yot": Supplier("yot", "synthetic_lantern", "lantern_assessments", "utf-8-sig", "YJ",
                    sex_words=True, ethnicity_scheme="yot_words", flag_words=("Yes", "No")),
}
STATUTORY = ("social_care", "school")   # the agencies that send national returns
FORMATS = ("statutory", "native", "parquet")
RECORD_PREFIX = {"social_care": "EV", "police": "OCC", "school": "R", "yot": "AS"}
SEX_WORDS = {"M": "Male", "F": "Female", "U": "Unknown"}
# Faults each supplier's export carries, by the supplier column they break and the text written.
FAULTS = {
    "police": {"bad_date": ("Reported Date", "31/02/2025"),
               "unknown_code": ("Occurrence Type", "MISPR")},
    "social_care": {"bad_date": ("Start", "32/13/2025 10:00")},
    "yot": {"bad_date": ("AssessmentDate", "2025-13-45")},
    "school": {"negative_sessions": ("Possible Sessions", -5)},
}


def _with_ids(pop: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every child's UPN and LA child id (an agency records them only where it would)."""
    rng = stream(seed, "identifiers")
    n = len(pop)
    i = rng.permutation(n)
    birth_year = pop["dob"].to_numpy().astype("datetime64[Y]").astype(int) + 1970
    pop = pop.copy()
    pop["upn"] = upns(np.full(n, LA_NUMBER), 1000 + (i // 1000) % 9000, birth_year + 4, i % 1000)
    la_numbers = distinct_numbers(rng, n, 1_000_000, 10_000_000)
    pop["la_child_id"] = np.char.add("KB", la_numbers.astype(str)).astype(object)
    return pop


def _refs(rng, supplier: Supplier, pop: pd.DataFrame, rec_child: np.ndarray,
          duplicate: np.ndarray) -> np.ndarray:
    """Person ids: the LA id (social care) or UPN (school) for a child's first record, a newly
    minted id for a duplicate record and in systems with their own numbering."""
    n = len(rec_child)
    numbers = distinct_numbers(rng, n, 1_000_000, 10_000_000)
    if supplier.source == "school":
        # a duplicate's new UPN is numbered on from establishment 9000, year 99 (never a real
        # child's: theirs are allocated from establishment 1000 in the year they turn 4), so a
        # million children's duplicates never share one
        k = np.maximum(np.cumsum(duplicate) - 1, 0)
        fresh = upns(np.full(n, LA_NUMBER), 9000 + (k // 1000) % 1000, 99 - k // 1_000_000,
                     k % 1000)
        return np.where(duplicate, fresh, pop["upn"].to_numpy()[rec_child])
    if supplier.source == "social_care":
        # the LA's ids for its children are KB + 7 digits (_with_ids); a duplicate record's new
        # one is numbered from 10,000,000, so it can never be another child's
        fresh = np.char.add(supplier.ref_prefix, (numbers + 9_000_000).astype(str)).astype(object)
        return np.where(duplicate, fresh, pop["la_child_id"].to_numpy()[rec_child])
    return np.char.add(supplier.ref_prefix, numbers.astype(str)).astype(object)


def _supplier_values(rng, supplier: Supplier, frame: pd.DataFrame, pop: pd.DataFrame) -> None:
    """Sex and ethnicity in the supplier's own vocabulary (the map translates them back)."""
    if supplier.sex_words:
        frame["sex"] = frame["sex"].map(SEX_WORDS)
    origin = frame["surname_origin"].to_numpy()
    frame["ethnicity"] = identity.ethnicity_codes(rng, frame["ethnicity"].to_numpy(), origin,
                                                  supplier.ethnicity_scheme)
    if supplier.source == "police":
        observed = identity.ethnicity_codes(rng, pop["ethnicity"].to_numpy()[frame["child"]],
                                            origin, "police_ic")
        observed[rng.random(len(frame)) < 0.1] = None
        frame["ethnicity_observed"] = observed
        no_space = rng.random(len(frame)) < 0.3
        frame.loc[no_space, "postcode"] = frame.loc[no_space, "postcode"].str.replace(" ", "")
    if supplier.source == "social_care":
        spaced = rng.random(len(frame)) < 0.5
        nhs = frame["nhs_number"]
        frame["nhs_number"] = np.where(spaced & nhs.notna(), nhs.str[:3] + " " + nhs.str[3:6]
                                       + " " + nhs.str[6:], nhs)


def _faults(rng, source: str, rendered: pd.DataFrame, rates: dict) -> int:
    broken = 0
    for fault, (column, text) in FAULTS.get(source, {}).items():
        hit = rng.random(len(rendered)) < rates.get(fault, 0.0)
        if source == "school":
            hit &= rendered["Record Type"].to_numpy() == "Attendance"
        rendered.loc[hit, column] = text
        broken += int(hit.sum())
    return broken


def agency_records(rng, supplier: Supplier, events: pd.DataFrame, pop: pd.DataFrame,
                   looked_after: np.ndarray, profile_name: str = STANDARD
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per event with the identity its record carries, truth rows) for one agency:
    what any of its layouts (its own export, a statutory return) is written from."""
    profile = agencies(profile_name)["identity"][supplier.source]
    children = np.unique(events["child"].to_numpy())
    rec_child, duplicate = identity.person_records(rng, children, profile)
    refs = _refs(rng, supplier, pop, rec_child, duplicate)
    people = identity.record_identities(rng, pop, rec_child, profile)
    people["person_ref"] = refs
    if supplier.source == "school":
        people["upn"] = refs
    if supplier.source == "yot":     # the LA's id is known for children it looks after
        people.loc[~people["child"].isin(looked_after), "la_child_id"] = None
    events = events.copy()
    events["person_ref"] = identity.split_events(rng, events["child"].to_numpy(), rec_child,
                                                 refs)
    rows = events.merge(people.drop(columns="child"), on="person_ref", how="left",
                        validate="many_to_one")
    numbers = distinct_numbers(rng, len(rows), 10_000_000, 100_000_000)
    rows["record_id"] = np.char.add(RECORD_PREFIX[supplier.source],
                                    np.sort(numbers).astype(str)).astype(object)
    rows["middle_names"] = rows.pop("middle_name")
    rows["former_last_name"] = np.where(rows["last_name"] != rows["former_surname"],
                                        rows["former_surname"], None)
    _supplier_values(rng, supplier, rows, pop)
    # a duplicate may get no rows; pandas hashes (np.isin on strings compares every pair)
    used = pd.Series(refs).isin(events["person_ref"]).to_numpy()
    truth = pd.DataFrame({
        "source": supplier.source,
        "person_ref": refs[used],
        "child_id": pop["child_id"].to_numpy()[rec_child[used]],
        "family_id": pop["family_id"].to_numpy()[rec_child[used]],
        "twin_group_id": pop["twin_group_id"].to_numpy()[rec_child[used]],
    })
    return rows, truth


def agency_extract(seed: int, supplier: Supplier, events: pd.DataFrame, pop: pd.DataFrame,
                   looked_after: np.ndarray, profile_name: str = STANDARD
                   ) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(the supplier's export, truth rows, faulty rows) for one agency's events."""
    rng = stream(seed, f"{supplier.source}-records")
    rows, truth = agency_records(rng, supplier, events, pop, looked_after, profile_name)
    rendered = render.render(rows, supplier.map_name, flag_words=supplier.flag_words,
                             spreadsheet=supplier.encoding == "xlsx")
    faults = _faults(rng, supplier.source, rendered,
                     load("agencies")["faults"].get(supplier.source, {}))
    return rendered, truth, faults


def _write(rendered: pd.DataFrame, supplier: Supplier, folder: Path, as_of: date,
           file_format: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{supplier.file_stem}_{as_of:%Y%m%d}"
    if file_format == "parquet":
        path = folder / f"{stem}.parquet"
        render.write_parquet(rendered, path)
    elif supplier.encoding == "xlsx" and len(rendered) <= render.XLSX_MAX_ROWS:
        path = folder / f"{stem}.xlsx"
        council = load("places")["council"]
        render.write_xlsx(rendered, path, "Pupils",
                          [f"{council}: pupil attendance and exclusions",
                           f"Extract date: {as_of:%d/%m/%Y}"])
    else:
        path = folder / f"{stem}.csv"
        encoding = "utf-8" if supplier.encoding == "xlsx" else supplier.encoding
        render.write_csv(rendered, path, encoding)
    return path


def latest_census_year(as_of: date) -> int:
    """The collection a return made on `as_of` belongs to (2026 is April 2025 to March 2026),
    capped at the latest schema year the readers know."""
    from sources.statutory.specs import spec

    collection = as_of.year + (1 if as_of.month >= 4 else 0)
    return min(collection, spec("cin_census")["years"]["last"])


def statutory_returns(seed: int, supplier: Supplier, events: pd.DataFrame, pop: pd.DataFrame,
                      looked_after: np.ndarray, profile: str, inbox: Path, as_of: date,
                      census_year: int, alternatives: Path | None = None
                      ) -> tuple[dict[str, int], pd.DataFrame, int]:
    """An agency's records as the statutory returns it sends: (rows written per file or set,
    relative to `inbox`, or to the inbox's folder for one written to `alternatives`; truth
    rows; faulty rows)."""
    rng = stream(seed, f"{supplier.source}-records")
    records, truth = agency_records(rng, supplier, events, pop, looked_after, profile)
    rate = load("agencies")["faults"].get(supplier.source, {})
    folder = inbox / supplier.source
    folder.mkdir(parents=True, exist_ok=True)
    if supplier.source == "social_care":
        records["bad"] = ((records["event_type"] == "REFERRAL").to_numpy()
                          & (rng.random(len(records)) < rate.get("bad_date", 0.0)))
        records["census_upn"], records["upn_unknown"] = returns.census_upns(rng, records, pop,
                                                                            as_of)
        cin = folder / f"cin_census_{census_year}_{as_of:%Y%m%d}.xml"
        lac = folder / f"ssda903_{census_year}_{as_of:%Y%m%d}"
        written = {str(cin.relative_to(inbox)):
                   returns.write_cin_census(cin, records, census_year, as_of),
                   str(lac.relative_to(inbox)): returns.write_ssda903(lac, records, census_year)}
        broken = int(records["bad"].sum())
        if alternatives is not None:
            annex = alternatives / supplier.source / f"annex_a_{as_of:%Y%m%d}.xlsx"
            annex.parent.mkdir(parents=True, exist_ok=True)
            written[str(annex.relative_to(alternatives.parent))] = returns.write_annex_a(
                annex, records[~records["bad"]])
    else:
        records["bad"] = ((records["record_type"] == "ATTENDANCE").to_numpy()
                          & (rng.random(len(records)) < rate.get("negative_sessions", 0.0)))
        sets = returns.write_school_census(folder, records, pop, as_of)
        written = {f"{supplier.source}/school_census_{stem}": n for stem, n in sets.items()}
        broken = int(records["bad"].sum())
    return written, truth, broken


def _population_estimate(pop: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Children by single year of age and sex, shaped like an ONS mid-year estimate."""
    from sources.synth.dates import age_on, day

    ages = age_on(pop["dob"].to_numpy().astype("datetime64[D]"), day(as_of))
    frame = pd.DataFrame({"age": ages, "sex": pop["sex"].to_numpy()})
    frame = frame[(frame["age"] >= 0) & (frame["age"] <= 17)]
    table = frame.groupby(["age", "sex"]).size().rename("population").reset_index()
    table.insert(0, "area_name", load("places")["area_name"])
    table.insert(1, "year", as_of.year)
    return table


def generate(inbox: Path, truth: Path, population_file: Path, *, children: int = 10_000,
             seed: int = 42, as_of: date, file_format: str = "native",
             profile: str = STANDARD, census_year: int | None = None,
             alternatives: Path | None = None,
             on_stage: Callable[[str, int], None] | None = None) -> dict:
    """Write the extracts into `inbox/<source>/`, the truth CSV to `truth` and the population
    estimate CSV to `population_file`; returns counts, with `rows` keyed by each extract's path
    relative to `inbox`. `file_format="statutory"` writes social care as a CIN census XML of
    `census_year` (default: the latest schema year, no later than the extract date's
    collection) and an SSDA903 CSV set, and school as termly school census sets; police and YOT
    stay in their suppliers' layouts, having no national format. With `alternatives`, the
    social care records are also written there as an Annex A workbook
    (`<alternatives>/social_care/`), which a partnership sends instead of the census and 903:
    the same events, so it stays out of the inbox. `profile` names the
    recording-error rates (profiles.yaml: `stress` for error rates as high as real agency
    data). `on_stage(name, stages)` is told as each
    stage starts (a command line's progress display)."""
    if file_format not in FORMATS:
        raise ValueError(f"file_format must be one of {', '.join(FORMATS)}")
    census_year = census_year or latest_census_year(as_of)
    agencies(profile)                      # an unknown profile fails before any work
    stages = 3 + len(SUPPLIERS)

    def at(name: str) -> None:
        if on_stage is not None:
            on_stage(name, stages)

    inbox, truth, population_file = Path(inbox), Path(truth), Path(population_file)
    cfg = load("agencies")
    at("population")
    pop = _with_ids(population.build(children, seed, as_of), seed)
    for latent in ("v", "cse_v"):
        pop[latent] = pop[latent] * float(cfg["concentration"])
    at("agency events")
    care = social_care.events(stream(seed, "social_care"), pop, cfg["social_care"], as_of)
    looked_after = np.unique(care.loc[care["event_type"] == "LAC_EPISODE", "child"])
    events = {
        "social_care": care,
        "police": police.events(stream(seed, "police"), pop, cfg["police"], as_of,
                                care[care["event_type"] == "MISSING"]),
        "school": school.events(stream(seed, "school"), pop, cfg["school"], as_of,
                                sixth_form=file_format == "statutory"),
        "yot": yot.events(stream(seed, "yot"), pop, cfg["yot"], as_of, looked_after),
    }
    rows, truths, faults = {}, [], {}
    for source, supplier in SUPPLIERS.items():
        at(f"extract {source}")
        if file_format == "statutory" and source in STATUTORY:
            written, records, broken = statutory_returns(seed, supplier, events[source], pop,
                                                         looked_after, profile, inbox, as_of,
                                                         census_year, alternatives)
            rows.update(written)
        else:
            rendered, records, broken = agency_extract(seed, supplier, events[source], pop,
                                                       looked_after, profile)
            path = _write(rendered, supplier, inbox / source, as_of,
                          "native" if file_format == "statutory" else file_format)
            rows[str(path.relative_to(inbox))] = len(rendered)
        faults[source] = broken
        truths.append(records)
    at("truth and population estimate")
    truth.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(truths, ignore_index=True).to_csv(truth, index=False)
    population_file.parent.mkdir(parents=True, exist_ok=True)
    _population_estimate(pop, as_of).to_csv(population_file, index=False)
    return {"children": children, "seed": seed, "as_of": as_of.isoformat(), "rows": rows,
            "faulty_rows": faults}


__all__ = ["SUPPLIERS", "generate"]
