-- Named predicates used by comparison levels (settings.yaml: comparisons[].levels[].when and
-- null_when). Each compares the left record `l` with the right record `r` of a pair, both rows of
-- linkage.feature. `$threshold` is replaced by the level's numeric threshold from settings.
-- Predicates on identifiers (strong_none, strong_agree, strong_conflict) are built from the
-- strong_ids setting in linkage/comparisons.py.

-- name: first_null
l.fn IS NULL OR r.fn IS NULL

-- name: first_exact
l.fn = r.fn

-- name: first_alias
-- One child under another of its forenames: a nickname or variant (a shared group), a name either
-- record says the child is also known by, or one record's forename is the other's middle name
-- while the other's middle names, if it has any, hold this one's forename (a child who goes by a
-- middle name). A middle name both records share under different forenames is no such evidence:
-- twins and siblings are often given one, and it must not lift them out of the twin pattern.
list_has_any(l.fn_groups, r.fn_groups)
OR list_has_any(l.fn_known_as, r.first_names_all) OR list_has_any(r.fn_known_as, l.first_names_all)
OR (list_contains(l.middles, r.fn) AND (len(r.middles) = 0 OR list_contains(r.middles, l.fn)))
OR (list_contains(r.middles, l.fn) AND (len(l.middles) = 0 OR list_contains(l.middles, r.fn)))

-- name: first_edit
damerau_levenshtein(l.fn, r.fn) <= $threshold AND least(length(l.fn), length(r.fn)) >= 3

-- name: first_jw
jaro_winkler_similarity(l.fn, r.fn) >= $threshold

-- name: first_initial
(length(l.fn) = 1 OR length(r.fn) = 1) AND l.fn_initial = r.fn_initial

-- name: names_swapped
l.fn IS NOT NULL AND l.ln IS NOT NULL AND r.fn IS NOT NULL AND r.ln IS NOT NULL
AND l.fn <> l.ln AND r.fn <> r.ln
AND jaro_winkler_similarity(l.fn, r.ln) >= 0.92 AND jaro_winkler_similarity(l.ln, r.fn) >= 0.92
AND jaro_winkler_similarity(l.fn, r.ln) + jaro_winkler_similarity(l.ln, r.fn)
    > jaro_winkler_similarity(l.fn, r.fn) + jaro_winkler_similarity(l.ln, r.ln)

-- name: last_null
-- No surname on one side, unless that record's one name is among the other's surnames (then the
-- surname comparison has something to compare: sole_name_surname)
(l.ln IS NULL OR r.ln IS NULL)
AND NOT coalesce(list_contains(r.last_names_all, l.sole_name)
                 OR list_contains(l.last_names_all, r.sole_name), false)

-- name: sole_name_surname
-- A record with one name, and that name is one of the other record's surnames: the name was
-- a surname written in the forename column (its forename comparison is then not made).
coalesce(list_contains(r.last_names_all, l.sole_name)
         OR list_contains(l.last_names_all, r.sole_name), false)

-- name: last_exact
l.ln = r.ln

-- name: last_other
list_has_any(l.last_names_all, r.last_names_all)

-- name: last_edit
damerau_levenshtein(l.ln, r.ln) <= $threshold AND least(length(l.ln), length(r.ln)) >= 3

-- name: last_jw
jaro_winkler_similarity(l.ln, r.ln) >= $threshold

-- name: dob_null
l.dob IS NULL OR r.dob IS NULL

-- name: dob_exact
l.dob = r.dob AND l.dob_day IS NOT NULL AND r.dob_day IS NOT NULL

-- name: dob_swapped
l.dob_swap = r.dob AND r.dob_day IS NOT NULL

-- name: dob_month_agrees
-- Year and month agree and one side may not know the day: a partial date (month only), or the
-- 1st, which partners write for a month-only date of birth.
l.dob_year = r.dob_year AND l.dob_month = r.dob_month
AND (l.dob_day IS NULL OR r.dob_day IS NULL OR l.dob_day = 1 OR r.dob_day = 1)

-- name: dob_year_agrees
-- The year agrees and one side may not know the month: a year-only date, or 1 January.
l.dob_year = r.dob_year
AND (l.dob_month IS NULL OR r.dob_month IS NULL
     OR (l.dob_month = 1 AND l.dob_day = 1) OR (r.dob_month = 1 AND r.dob_day = 1))

-- name: dob_one_part
(l.dob_year = r.dob_year)::INTEGER + (l.dob_month = r.dob_month)::INTEGER
    + (l.dob_day = r.dob_day)::INTEGER = 2

-- name: dob_within_days
abs(date_diff('day', l.dob, r.dob)) <= $threshold

-- name: postcode_null
l.postcode IS NULL OR r.postcode IS NULL

-- name: postcode_exact
l.postcode = r.postcode

-- name: postcode_sector
l.pc_sector = r.pc_sector

-- name: postcode_district
l.pc_district = r.pc_district

-- name: postcode_edit
damerau_levenshtein(l.postcode, r.postcode) <= $threshold

-- name: address_null
l.address IS NULL OR r.address IS NULL

-- name: address_exact
l.address = r.address

-- name: address_tokens
len(list_intersect(l.addr_tokens, r.addr_tokens))::DOUBLE
    / greatest(len(list_distinct(list_concat(l.addr_tokens, r.addr_tokens))), 1) >= $threshold

-- name: residence_null
(l.postcode IS NULL AND l.address IS NULL) OR (r.postcode IS NULL AND r.address IS NULL)

-- name: residence_full
l.postcode = r.postcode AND l.address = r.address

-- name: sex_null
l.sex IS NULL OR r.sex IS NULL

-- name: sex_exact
l.sex = r.sex

-- Generic comparisons of a further column (`joinedup link --extra`): $column is the feature
-- column the comparison names in its `column:` setting.

-- name: extra_null
l.$column IS NULL OR r.$column IS NULL

-- name: extra_exact
l.$column = r.$column

-- name: extra_jw
jaro_winkler_similarity(l.$column, r.$column) >= $threshold

-- Comparisons of encodings (linkage/encoded.yaml): $column is a Bloom-filter feature
-- (`<role>_bf`, a BIT string) and $column_ones its count of ones. The Dice coefficient is
-- 2 |l and r| / (|l| + |r|): only the intersection is counted per pair.

-- name: bf_null
l.$column IS NULL OR r.$column IS NULL

-- name: bf_same
-- identical filters, told by their 64-bit hashes (comparing the 256-byte strings took three
-- times as long as the Dice coefficient; two different filters share a hash once in 2^64)
l.$column_key = r.$column_key

-- name: bf_dice
2.0 * bit_count(l.$column & r.$column) / (l.$column_ones + r.$column_ones) >= $threshold

-- name: names_bf_swapped
-- Forename and surname entered the wrong way round: the filters of the names in alphabetical
-- order agree while each name disagrees with its namesake.
2.0 * bit_count(l.names_sorted_bf & r.names_sorted_bf)
    / (l.names_sorted_bf_ones + r.names_sorted_bf_ones) >= 0.95
AND 2.0 * bit_count(l.first_name_bf & r.first_name_bf)
    / (l.first_name_bf_ones + r.first_name_bf_ones) < 0.85
AND 2.0 * bit_count(l.last_name_bf & r.last_name_bf)
    / (l.last_name_bf_ones + r.last_name_bf_ones) < 0.85

-- name: residence_bf_null
(l.postcode_bf IS NULL AND l.address_bf IS NULL) OR (r.postcode_bf IS NULL AND r.address_bf IS NULL)

-- name: residence_bf_full
-- the same postcode and a first address line as close as the threshold
l.postcode_bf_key = r.postcode_bf_key
AND 2.0 * bit_count(l.address_bf & r.address_bf) / (l.address_bf_ones + r.address_bf_ones)
    >= $threshold

-- name: postcode_bf_same
l.postcode_bf_key = r.postcode_bf_key

-- name: postcode_bf_dice
2.0 * bit_count(l.postcode_bf & r.postcode_bf) / (l.postcode_bf_ones + r.postcode_bf_ones)
    >= $threshold

-- name: address_bf_dice
2.0 * bit_count(l.address_bf & r.address_bf) / (l.address_bf_ones + r.address_bf_ones)
    >= $threshold
