"""The partnership's settings: one checked object, every key documented, bad keys refused early."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from flows.home import Home
from flows.settings import SettingsError, check_settings, documented_keys, load_home_settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_every_setting_is_documented():
    documented = set(re.findall(r"`([a-z_<>]+(?:\.[a-z_<>0-9]+)+)`", DOCS.read_text()))
    missing = [key for key in documented_keys() if key not in documented]
    assert not missing, f"docs/settings.md does not list {missing}"
    assert len(documented_keys()) > 80


def test_documented_keys_are_real_settings():
    """A key the documentation names but the schema lost would mislead a data team."""
    keys = set(documented_keys())
    table_keys = re.findall(r"^\| `([a-z_<>.0-9]+)` \|", DOCS.read_text(), flags=re.MULTILINE)
    assert table_keys
    assert sorted(k for k in table_keys if k not in keys) == []


@pytest.mark.parametrize(("raw", "expected"), [
    ({"linkage": {"clustering": {"treshold": 0.8}}},
     r"linkage\.clustering\.treshold: unknown setting; allowed here: cannot_link_bayes_factor"),
    ({"linkage": {"clustering": {"threshold": "high"}}},
     r"linkage\.clustering\.threshold: expected a number"),
    ({"warehous": {"keep_builds": 3}},
     r"warehous: unknown setting; allowed here: analysts, engine, feeds, "),
    ({"warehouse": {"keep_builds": 0}}, r"warehouse\.keep_builds: .*greater than or equal to 1"),
    ({"engine": {"kind": "spark"}}, r"engine\.kind: .*duckdb or dask"),
    ({"engine": {"kind": "dask", "memory_limit": "lots"}}, r"engine\.memory_limit: .*4GB"),
    ({"warehouse": {"keep_builds": "many"}}, r"warehouse\.keep_builds: .*integer"),
    ({"feeds": {"cops": {"kind": "polce"}}},
     r"feeds\.cops\.kind: 'polce' is not an extract kind; use one of police, school"),
    ({"feeds": {"cops": {"knd": "police"}}}, r"feeds\.cops\.knd: unknown setting; allowed here: "
                                             r"kind, map"),
    ({"feeds": {"police": {"map": "no_such_map"}}}, r"feeds\.police\.map: no column map named"),
    ({"publication": {"disclosure": {"threshold": 0}}},
     r"publication\.disclosure\.threshold must be a positive integer"),
    ({"publication": {"disclosure": {"rouding": "nearest_5"}}},
     r"publication\.disclosure\.rouding: unknown setting"),
    ({"indicators": {"indicators": {"I01": {"dataset": "NOPE"}}}}, r"unknown dataset 'NOPE'"),
    ({"indicators": {"indicators": {"I19": {"params": {"threshold_percent": "ten"}}}}},
     r"indicators\.indicators\.I19\.params\.threshold_percent: expected a number"),
    ({"validation": {"max_age_year": 25}}, r"validation\.max_age_year: unknown setting"),
    ({"schedules": {"nightly": "every night"}}, r"schedules\.nightly: 'every night' is not a cron"),
    ({"schedules": {"timezone": "Europe/Kestrelford"}}, r"not a time zone name"),
    ({"analysts": {"group": "joinedup-no-such-group"}},
     r"analysts\.group: .*no operating-system group named 'joinedup-no-such-group'"),
    ({"partnership": "Kestrelford"}, r"partnership: .*valid dictionary"),
])
def test_bad_settings_are_refused_naming_the_key(raw, expected):
    with pytest.raises(SettingsError, match=expected) as caught:
        check_settings(raw, "/homes/k/joinedup.yaml")
    assert str(caught.value).startswith("/homes/k/joinedup.yaml: ")


def test_good_settings_resolve_every_section():
    settings = check_settings({
        "partnership": {"name": "Kestrelford"},
        "feeds": {"cops": {"kind": "police"}},
        "warehouse": {"keep_builds": 3},
        "publication": {"disclosure": {"threshold": 6}},
        "indicators": {"indicators": {"I19": {"params": {"threshold_percent": 9.6}}},
                       "feed_late_after_days": {"POL": 40}},
        "linkage": {"clustering": {"threshold": 0.95}},
        "validation": {"max_age_years": 21},
    }, "joinedup.yaml")
    assert settings.partnership_name == "Kestrelford"
    assert settings.feed_table().feed("cops").kind == "police"
    assert settings.feed_table().feed("school").kind == "school"
    assert settings.warehouse.keep_builds == 3
    # one catalogue for indicators, marts and tables alike (the marts once missed publication:)
    assert settings.catalogue.disclosure_threshold == 6
    assert settings.catalogue.indicators["I19"].params["threshold_percent"] == 9.6
    assert settings.catalogue.late_after_days("POL") == 40
    assert settings.linkage_overrides() == {"clustering": {"threshold": 0.95}}
    recorded = settings.record()
    assert recorded["warehouse"] == {"keep_builds": 3}
    assert recorded["schedules"]["nightly"] == "0 2 * * *"


def test_the_homes_population_estimate_is_used_unless_another_is_named(tmp_path):
    home = Home(tmp_path)
    assert load_home_settings(home).catalogue.publication["population_file"] is None
    home.population.parent.mkdir(parents=True)
    home.population.write_text("year,age,sex,population\n2025,10,F,100\n")
    assert load_home_settings(home).catalogue.publication["population_file"] == str(
        home.population)
    other = tmp_path / "ons.csv"
    home.settings_file.write_text(f"publication: {{population_file: {other}}}\n")
    assert load_home_settings(home).catalogue.publication["population_file"] == str(other)


def test_broken_yaml_names_the_line(tmp_path):
    home = Home(tmp_path)
    home.settings_file.write_text("linkage:\n  clustering:\n    threshold: [0.8\n")
    with pytest.raises(SettingsError, match=r"joinedup\.yaml line \d+, column \d+: not valid YAML"):
        load_home_settings(home)
    home.settings_file.write_text("- just\n- a list\n")
    with pytest.raises(SettingsError, match="expected a mapping of settings sections"):
        load_home_settings(home)


def test_run_refuses_a_misspelt_setting_before_any_work(tmp_path):
    """`joinedup run` with a mistyped key fails with the key named, a message and no traceback,
    before Prefect starts or anything is received."""
    home = Home(tmp_path / "home")
    (home.inbox / "police").mkdir(parents=True)
    (home.inbox / "police" / "extract.csv").write_text("a,b\n1,2\n")
    home.settings_file.write_text("linkage:\n  blocking:\n    max_blok_size: 10\n")
    result = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--home", str(home.root)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "linkage.blocking.max_blok_size: unknown setting" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert (home.inbox / "police" / "extract.csv").exists()       # nothing was received
    assert not home.ledger.exists()
