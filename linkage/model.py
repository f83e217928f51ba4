"""The Fellegi-Sunter model: m and lambda by EM (recordlinkage's ECMClassifier), u by counting.

Why u comes from random record pairs, not from the EM fit: candidate pairs are selected because
they agree on something (a dob, a surname sound), so among candidate pairs the non-matches agree
on those fields far more often than two children drawn at random do. The u the EM fit estimates
on candidate pairs is therefore biased upwards for exactly the fields used for blocking, and
agreement on them would be under-weighted. Counting levels over a seeded sample of random record
pairs measures chance agreement directly (the Splink approach); once m and lambda are known,
the random pairs are counted again as non-matches, each weighted by its probability of being
none, because where people have many records the random pairs' own matches make much of the
agreement on rare values (u_without_matches). The EM fit is still run with u
free, so that its mixture fits the candidate population it sees and its m (agreement among
matches, which blocking hardly distorts when blocking recall is high) is sound; lambda is
rescaled from the candidate population to all record pairs to match u. `model.u_source: em`
switches to the EM's own u and lambda, which benchmarks/linkage_febrl.py compares on labelled data.

Why the ECM kernel is subclassed: recordlinkage's 'jaro' start only supports binary features and
'random' is neither informed nor reproducible. The subclass starts EM deterministically from the
default m in settings.yaml and the measured u, and (missing at random) gives the null level no
weight in the E-step: its columns are zeroed and the other levels renormalised, which is the
exact likelihood for a comparison that is absent. The M-step is recordlinkage's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from recordlinkage import ECMClassifier
from recordlinkage.algorithms.nb_sklearn import ECM, check_is_fitted
from sklearn.utils.validation import check_array

from linkage.blocking import feature_columns, pairs_from_keys_sql, rule_keys_sql
from linkage.comparisons import NULL_LEVEL, Comparison, gamma_table_sql
from linkage.rules import RANDOM_RULE_NO, SESSION_RULE_NO


class InformedECM(ECM):
    """ECM with a deterministic informed start and a weightless null level."""

    def __init__(
        self,
        init_m: list[dict[int, float]] | None = None,
        init_u: list[dict[int, float]] | None = None,
        init_lambda: float = 0.2,
        null_level: int = NULL_LEVEL,
        floor: float = 1e-6,
        max_iter: int = 100,
        atol: float = 1e-6,
    ):
        super().__init__(init="jaro", max_iter=max_iter, binarize=None, atol=atol)
        self.init_m = init_m
        self.init_u = init_u
        self.init_lambda = init_lambda
        self.null_level = null_level
        self.floor = floor

    def _init_parameters_jaro(self, X_bin):
        probs = []
        for i, binarizer in enumerate(self._binarizers):
            for level in binarizer.classes_:
                level = int(level)
                if level == self.null_level:
                    probs.append([0.5, 0.5])
                else:
                    probs.append([max(self.init_u[i].get(level, 0.0), self.floor),
                                  max(self.init_m[i].get(level, 0.0), self.floor)])
        prior = np.array([1.0 - self.init_lambda, self.init_lambda])
        return np.log(prior), np.log(np.array(probs)).T

    def level_log_prob(self) -> np.ndarray:
        """Log P(level | class, comparison not null); 0 on null-level columns."""
        prob = np.nan_to_num(np.exp(self.feature_log_prob_), nan=0.0)
        out = np.zeros_like(prob)
        start = 0
        for binarizer in self._binarizers:
            classes = binarizer.classes_.astype(int)
            stop = start + len(classes)
            informative = classes != self.null_level
            block = np.where(informative, np.maximum(prob[:, start:stop], self.floor), 0.0)
            total = block.sum(axis=1, keepdims=True)
            total[total == 0] = 1.0
            out[:, start:stop] = np.log(np.where(informative, block / total, 1.0))
            start = stop
        return out

    def _joint_log_likelihood(self, X):
        check_is_fitted(self, "classes_")
        return self._binarized(X) @ self.level_log_prob().T + self.class_log_prior_

    def _binarized(self, X) -> np.ndarray:
        """X one-hot per level. The E-step asks for the same unique vectors every iteration, and
        binarizing them again each time (scikit-learn's LabelBinarizer, per column) took most of
        an EM fit's time; the last array's binarized form is kept while X is that array."""
        cached = getattr(self, "_binarized_cache", None)
        if cached is not None and cached[0] is X:
            return cached[1]
        X_bin = self._transform_data(check_array(X))
        self._binarized_cache = (X, X_bin)
        return X_bin


class InformedECMClassifier(ECMClassifier):
    """recordlinkage's ECMClassifier running the InformedECM kernel."""

    def __init__(self, **kernel_args):
        super().__init__(binarize=None)
        self.kernel = InformedECM(**kernel_args)

    def level_probabilities(self) -> tuple[list[dict[int, float]], list[dict[int, float]]]:
        """(m, u) per column as {level: probability}, null level excluded."""
        log_prob = self.kernel.level_log_prob()
        m, u = [], []
        start = 0
        for binarizer in self.kernel._binarizers:
            classes = binarizer.classes_.astype(int)
            m_col, u_col = {}, {}
            for j, level in enumerate(classes):
                if level != NULL_LEVEL:
                    u_col[level] = float(np.exp(log_prob[0, start + j]))
                    m_col[level] = float(np.exp(log_prob[1, start + j]))
            m.append(m_col)
            u.append(u_col)
            start += len(classes)
        return m, u

    @property
    def iterations(self) -> int:
        return int(self.kernel._logging_class_log_prior.shape[0] - 1)


@dataclass
class Model:
    m: dict[str, dict[int, float]]
    u: dict[str, dict[int, float]]
    u_random: dict[str, dict[int, float]]
    u_em: dict[str, dict[int, float]] = field(default_factory=dict)
    lambda_candidates: float = float("nan")
    lambda_random: float = float("nan")
    em_iterations: int = 0
    m_source: str = "default"
    u_pairs: int = 0
    em_pairs: int = 0
    u_source: str = "random"

    @property
    def prior(self) -> float:
        """Match probability of a pair before comparison, on the population u describes."""
        return self.lambda_candidates if self.u_source == "em" else self.lambda_random

    def prior_weight(self) -> float:
        return math.log2(self.prior / (1.0 - self.prior))

    def table(self, comparisons: list[Comparison]) -> pd.DataFrame:
        rows = []
        for comp in comparisons:
            rows.append((comp.name, NULL_LEVEL, "null", None, None, 0.0, None, None))
            for level in sorted(comp.labels, reverse=True):
                m = self.m[comp.name][level]
                u = self.u[comp.name][level]
                rows.append((comp.name, level, comp.labels[level], m, u, math.log2(m / u),
                             self.u_random[comp.name][level],
                             self.u_em.get(comp.name, {}).get(level)))
        rows.append(("_prior", None, "lambda", self.prior, 1.0 - self.prior,
                     self.prior_weight(), None, None))
        rows.append(("_prior", None, "lambda_candidates", self.lambda_candidates, None, None,
                     None, None))
        table = pd.DataFrame(rows, columns=["comparison", "level", "label", "m", "u",
                                            "match_weight", "u_random", "u_em"])
        table["m_source"] = self.m_source
        table["u_source"] = self.u_source
        table["em_iterations"] = self.em_iterations
        return table


def _normalise(probs: dict[int, float], levels: list[int], floor: float) -> dict[int, float]:
    raw = {level: max(probs.get(level, 0.0), floor) for level in levels}
    total = sum(raw.values())
    return {level: p / total for level, p in raw.items()}


# u is counted on pairs of a fixed set of records, this many times as many pairs as are drawn
U_PAIR_SHARE = 40


def estimate_u(con: duckdb.DuckDBPyConnection, settings: dict, comparisons: list[Comparison],
               n_records: int) -> tuple[dict[str, dict[int, float]], pd.DataFrame]:
    """u per level from random record pairs (all pairs when there are few records), and the
    pairs' comparison vectors with their counts (for u_without_matches)."""
    cfg = settings["model"]
    total_pairs = n_records * (n_records - 1) // 2
    if total_pairs <= cfg["u_max_pairs"]:
        con.execute("CREATE OR REPLACE TEMP TABLE linkage_u_pairs AS SELECT a.rid AS rid_l, "
                    f"b.rid AS rid_r, {RANDOM_RULE_NO}::SMALLINT AS rule_no FROM linkage.feature a "
                    "JOIN linkage.feature b ON a.rid < b.rid")
    else:
        # The records whose keys hash lowest, and a hash-chosen share of their pairs: a night
        # that adds or changes a few records changes few of the pairs u is counted on (drawing
        # record ids at random redrew them all, and the model moved with them); the share keeps
        # each record in few pairs, so the pairs are near independent.
        drawn = int(cfg["u_max_pairs"])
        records = min(n_records, math.ceil(math.sqrt(2 * drawn * U_PAIR_SHARE)))
        share = min(1.0, drawn / max(records * (records - 1) / 2, 1))
        con.execute(
            "CREATE OR REPLACE TEMP TABLE linkage_u_records AS SELECT rid, hash(record_key) AS h "
            "FROM linkage.feature ORDER BY hash(record_key, $seed), record_key LIMIT $records",
            {"seed": int(settings["seed"]), "records": records})
        con.execute(
            "CREATE OR REPLACE TEMP TABLE linkage_u_pairs AS SELECT a.rid AS rid_l, "
            f"b.rid AS rid_r, {RANDOM_RULE_NO}::SMALLINT AS rule_no FROM linkage_u_records a "
            "JOIN linkage_u_records b ON a.rid < b.rid "
            "WHERE hash(a.h, b.h, $seed) % 1000000 < $cut",
            {"seed": int(settings["seed"]), "cut": int(share * 1_000_000)})
        con.execute("DROP TABLE linkage_u_records")
    con.execute(gamma_table_sql(settings, "linkage_u_pairs", "linkage_u_gamma"))
    patterns = comparison_patterns(con, comparisons, "linkage_u_gamma")
    con.execute("DROP TABLE linkage_u_pairs")
    con.execute("DROP TABLE linkage_u_gamma")
    return u_from_patterns(patterns, comparisons, float(cfg["u_smoothing"])), patterns


def comparison_patterns(con: duckdb.DuckDBPyConnection, comparisons: list[Comparison],
                        gamma_table: str) -> pd.DataFrame:
    """The distinct comparison vectors of a gamma table and how many pairs have each: a few
    thousand rows however many pairs there are, so what is summed over pairs is summed here."""
    columns = ", ".join(c.gamma for c in comparisons)
    return con.execute(f"SELECT {columns}, count(*) AS pairs FROM {gamma_table} "
                       "GROUP BY ALL ORDER BY ALL").df()


def u_from_patterns(patterns: pd.DataFrame, comparisons: list[Comparison], alpha: float,
                    weights: np.ndarray | None = None) -> dict[str, dict[int, float]]:
    """u per level: the (weighted) share of pairs at each level among those where the
    comparison could be made, with add-`alpha` smoothing so that no level gets u = 0."""
    pairs = patterns["pairs"].to_numpy(dtype=float)
    if weights is not None:
        pairs = pairs * weights
    u: dict[str, dict[int, float]] = {}
    for comp in comparisons:
        levels_of = patterns[comp.gamma].to_numpy()
        levels = sorted(comp.labels)
        counts = {lvl: float(pairs[levels_of == lvl].sum()) for lvl in levels}
        total = sum(counts.values()) + alpha * len(levels)
        u[comp.name] = {lvl: (counts[lvl] + alpha) / total for lvl in levels}
    return u


def log_bayes_factors(patterns: pd.DataFrame, comparisons: list[Comparison],
                      model: Model) -> np.ndarray:
    """Natural log of each comparison vector's Bayes factor (no term frequencies)."""
    log_bf = np.zeros(len(patterns))
    for comp in comparisons:
        weights = {lvl: math.log(model.m[comp.name][lvl] / model.u[comp.name][lvl])
                   for lvl in comp.labels}
        weights[NULL_LEVEL] = 0.0
        log_bf += np.array([weights[int(v)] for v in patterns[comp.gamma]])
    return log_bf


def u_without_matches(patterns: pd.DataFrame, comparisons: list[Comparison], model: Model,
                      alpha: float) -> dict[str, dict[int, float]]:
    """u counted over the random pairs as non-matches: each pair weighted by its probability of
    being a non-match under the fitted model.

    Why: u is agreement among non-matches, but the random pairs it is counted on hold matches
    too, about lambda of them. Where people have many records (a register with a dozen entries
    per person, a child known to four agencies under several case numbers), agreeing on a
    postcode or a surname is rare enough among non-matches that the random pairs' own matches
    make a large share of it - on Splink's historical set they made about 40% of the surname
    agreements - and every agreement was under-weighted. A pair the model calls a match counts
    for u no more than its share of doubt."""
    logit = math.log(model.prior / (1.0 - model.prior)) + log_bayes_factors(
        patterns, comparisons, model)
    nonmatch = 1.0 / (1.0 + np.exp(np.clip(logit, -700, 700)))
    return u_from_patterns(patterns, comparisons, alpha, nonmatch)


def em_sample(con: duckdb.DuckDBPyConnection, settings: dict, comparisons: list[Comparison],
              gamma_table: str, where: str = "TRUE") -> pd.DataFrame:
    """Comparison vectors of a seeded hash sample of candidate pairs (all when few)."""
    columns = ", ".join(f"{c.gamma} AS {c.name}" for c in comparisons)
    return con.execute(
        f"SELECT {columns} FROM {gamma_table} WHERE {where} "
        "ORDER BY hash(pair_hash, $seed), pair_hash, rid_l, rid_r LIMIT $n",
        {"seed": int(settings["seed"]), "n": int(settings["model"]["em_max_pairs"])},
    ).df()


@dataclass
class Session:
    """One EM fit on record pairs that agree on some comparisons (`where`), estimating m for
    the others (`estimate`). Why sessions: children's records come in households, and EM on
    all candidate pairs can settle on "same household" (surname, address, postcode agree) as its
    match class. Among pairs that share a date of birth, siblings are rare (only twins), so the
    names, address and postcode m are those of true matches; among pairs that share forename and
    surname, siblings are rare too, so the date-of-birth m is. m of a comparison is never taken
    from a session that selected pairs on it.

    Why a session draws its own pairs (`block`: the feature columns they share) rather than
    taking the candidate pairs: blocking rules pair names with a birth year or an address so
    that a million records stay tractable, and among candidate pairs that share both names the
    few with another date of birth are then mostly the same child mistyped - EM would learn
    that a different date of birth is common among matches. Pairs sharing both names, whatever
    else they share, show how often that happens by chance (Splink trains the same way)."""

    name: str
    where: dict[str, list[str]]
    estimate: list[str]
    block: list = field(default_factory=list)

    def condition(self, comparisons: list[Comparison]) -> str:
        by_name = {c.name: c for c in comparisons}
        parts = []
        for name, labels in self.where.items():
            levels = ", ".join(str(by_name[name].level_of(label)) for label in labels)
            parts.append(f"{by_name[name].gamma} IN ({levels})")
        return " AND ".join(parts) or "TRUE"


def session_gamma_table(con: duckdb.DuckDBPyConnection, settings: dict, session: Session) -> str:
    """Comparison vectors of a seeded sample of the record pairs sharing the session's `block`
    keys (about twice em_max_pairs, so em_sample still picks by hash); returns the table name.
    The pairs are filtered by hash as the join produces them, never all materialised."""
    keys_sql, names = rule_keys_sql({"keys": session.block}, feature_columns(con))
    # each record's key hash beside its keys: the pairs are drawn by the records' keys, not
    # their row ids, so that a night's few new records leave the sample nearly as it was
    con.execute("CREATE OR REPLACE TEMP TABLE linkage_em_keys AS SELECT k.*, "
                f"hash(f.record_key) AS h FROM ({keys_sql}) k JOIN linkage.feature f USING (rid)")
    max_block = int(settings["blocking"]["max_block_size"])
    total = con.execute(
        "SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n "
        f"FROM linkage_em_keys WHERE block_n <= $max GROUP BY {', '.join(names)})",
        {"max": max_block}).fetchall()[0][0]
    share = min(1.0, 2.0 * float(settings["model"]["em_max_pairs"]) / max(float(total), 1.0))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE linkage_em_pairs AS "
        f"SELECT DISTINCT a.rid AS rid_l, b.rid AS rid_r, {SESSION_RULE_NO}::SMALLINT AS rule_no "
        + pairs_from_keys_sql("linkage_em_keys", names)
        + " AND hash(a.h, b.h, $seed) % 1000000 < $cut",
        {"max_block": max_block, "seed": int(settings["seed"]), "cut": int(share * 1_000_000)})
    con.execute(gamma_table_sql(settings, "linkage_em_pairs", "linkage_em_gamma"))
    con.execute("DROP TABLE linkage_em_keys")
    con.execute("DROP TABLE linkage_em_pairs")
    return "linkage_em_gamma"


def _fit_session(con, settings, comparisons, gamma_table, session: Session | None, default_m,
                 u_random) -> tuple[dict, dict, float, int, int] | None:
    """(m, u, lambda, iterations, pairs) of an EM fit, or None when there are too few pairs."""
    cfg = settings["model"]
    floor = float(cfg["probability_floor"])
    used = [c for c in comparisons if session is None or c.name not in session.where]
    where = session.condition(comparisons) if session else "TRUE"
    if session is not None and session.block:
        gamma_table = session_gamma_table(con, settings, session)
    sample = em_sample(con, settings, used, gamma_table, where)
    if session is not None and session.block:
        con.execute(f"DROP TABLE {gamma_table}")
    if len(sample) < cfg["em_min_pairs"]:
        return None
    classifier = InformedECMClassifier(
        init_m=[default_m[c.name] for c in used],
        init_u=[u_random[c.name] for c in used],
        init_lambda=float(cfg["init_lambda"]), floor=floor,
        max_iter=int(cfg["em_max_iter"]), atol=float(cfg["em_atol"]),
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        classifier.fit(sample)
    lam = float(np.exp(classifier.kernel.class_log_prior_[1]))
    if not (math.isfinite(lam) and 0.0 < lam < 1.0):
        return None
    m_em, u_em = classifier.level_probabilities()
    matches = lam * len(sample)
    m = {c.name: _normalise(shrink_to_default(m_em[i], default_m[c.name], matches,
                                              float(cfg["m_prior_pairs"])),
                            sorted(c.labels), floor)
         for i, c in enumerate(used)}
    u = {c.name: _normalise(u_em[i], sorted(c.labels), floor) for i, c in enumerate(used)}
    return m, u, lam, classifier.iterations, len(sample)


def shrink_to_default(m_em: dict[int, float], default: dict[int, float], matches: float,
                      prior_pairs: float) -> dict[int, float]:
    """m as if `prior_pairs` matched pairs distributed by default_m had been seen beside the
    EM's `matches` (a Dirichlet prior). A rare level - first and last names swapped - can
    otherwise fall to the probability floor when a sample happens to hold few such matches,
    and its agreement would then count against a match; with many matches the data rule."""
    total = matches + prior_pairs
    return {level: (m_em.get(level, 0.0) * matches + default.get(level, 0.0) * prior_pairs)
            / total for level in default}


def fit_model(con: duckdb.DuckDBPyConnection, settings: dict, comparisons: list[Comparison],
              gamma_table: str, n_records: int, n_candidates: int) -> Model:
    """m by EM (per training session when sessions are configured), u by counting random pairs,
    lambda from all candidate pairs with m and u held fixed."""
    cfg = settings["model"]
    floor = float(cfg["probability_floor"])
    u_random, u_patterns = estimate_u(con, settings, comparisons, n_records)
    default_m = {c.name: _normalise(c.default_m, sorted(c.labels), floor) for c in comparisons}
    model = Model(m=dict(default_m), u=u_random, u_random=u_random,
                  u_pairs=int(u_patterns["pairs"].sum()),
                  lambda_candidates=float(cfg["init_lambda"]))
    sessions = [Session(s["name"], s.get("where") or {}, s["estimate"], s.get("block") or [])
                for s in cfg.get("training") or []]
    if n_candidates >= cfg["em_min_pairs"]:
        if not sessions:
            fit = _fit_session(con, settings, comparisons, gamma_table, None, default_m, u_random)
            if fit is not None:
                model.m, model.u_em, model.lambda_candidates, model.em_iterations, \
                    model.em_pairs = fit
                model.m_source = "em"
        estimates: dict[str, list[dict[int, float]]] = {}
        for session in sessions:
            fit = _fit_session(con, settings, comparisons, gamma_table, session, default_m,
                               u_random)
            if fit is None:
                continue
            m, u_em, _lam, iterations, pairs = fit
            for name in session.estimate:
                estimates.setdefault(name, []).append(m[name])
            model.u_em.update(u_em)
            model.em_iterations += iterations
            model.em_pairs += pairs
        for comp in comparisons:
            if comp.name in estimates:
                levels = sorted(comp.labels)
                mean = {lvl: float(np.mean([e[lvl] for e in estimates[comp.name]]))
                        for lvl in levels}
                model.m[comp.name] = _normalise(mean, levels, floor)
                model.m_source = "em_sessions"
    if cfg["u_source"] == "em" and model.u_em and not sessions:
        model.u = model.u_em
        model.u_source = "em"
    total_pairs = max(n_records * (n_records - 1) // 2, 1)
    if sessions or n_candidates < cfg["em_min_pairs"]:
        patterns = comparison_patterns(con, comparisons, gamma_table)
        model.lambda_random = _prior_by_em(patterns, comparisons, model, cfg, total_pairs,
                                           n_candidates)
        # u and lambda each depend on the other once u leaves out the random pairs' matches;
        # a few rounds settle them (the share of matches among random pairs is small)
        for _ in range(int(cfg["u_nonmatch_rounds"])):
            model.u = u_without_matches(u_patterns, comparisons, model, float(cfg["u_smoothing"]))
            model.lambda_random = _prior_by_em(patterns, comparisons, model, cfg, total_pairs,
                                               n_candidates)
        model.lambda_candidates = model.lambda_random * total_pairs / max(n_candidates, 1)
    else:       # one EM on the candidates gave their share of matches
        expected_matches = model.lambda_candidates * n_candidates
        model.lambda_random = min(max(expected_matches / total_pairs, 1e-12), 1.0 - 1e-12)
    return model


def _prior_by_em(patterns: pd.DataFrame, comparisons: list[Comparison], model: Model,
                 cfg: dict, total_pairs: int, n_candidates: int) -> float:
    """The match probability of two records drawn at random (lambda over all record pairs), by
    EM on lambda alone with m and u held fixed: the expected number of matches, summed over the
    candidate pairs, divided by all record pairs (blocking is taken to find nearly every match).

    The Bayes factors use u counted on random pairs, so the prior they combine with is the one
    over all pairs, not the share of matches among candidates: candidates agree on their
    blocking keys by construction, and counting that agreement as evidence on top of a
    candidate-level prior inflated lambda thirtyfold on a million records (and with it every
    match probability). With too few pairs to estimate m, the default m and the counted u still
    let the data decide how many pairs are matches, instead of trusting a fixed guess.
    """
    start = min(max(float(cfg["init_lambda"]) * n_candidates / total_pairs, 1e-12), 0.5)
    if not comparisons or not n_candidates:
        return start
    # Pairs with the same comparison vector have the same Bayes factor, and there are a few
    # thousand distinct vectors however many pairs there are: EM runs on (vector, count).
    pairs = patterns["pairs"].to_numpy(dtype=float)
    log_bf = log_bayes_factors(patterns, comparisons, model)
    lam = start
    for _ in range(int(cfg["em_max_iter"])):
        logit = math.log(lam / (1.0 - lam)) + log_bf
        share = 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))
        new = min(max(float(np.sum(pairs * share)) / total_pairs, 1e-12), 1.0 - 1e-12)
        if abs(new - lam) <= float(cfg["em_atol"]) * lam:       # relative: lambda is tiny
            return new
        lam = new
    return lam
