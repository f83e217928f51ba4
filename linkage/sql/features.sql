-- One row per input record with everything blocking and comparisons need, so the pair stage
-- only joins and compares. Reads the temp view linkage_input (the person records, every expected
-- column present), linkage_nickname(name, grp) and linkage_phonetic(name, meta, nysiis).
-- rid numbers records in record_key order: pairs are carried as integer ids (rid_l < rid_r is
-- the same order as record_key_l < record_key_r) and keys are joined back only at the end.
CREATE OR REPLACE TABLE linkage.feature AS
WITH base AS (
    SELECT
        record_key,
        source,
        nullif(trim(first_name), '') AS fn,
        nullif(trim(last_name), '') AS ln,
        nullif(trim(middle_names), '') AS middle,
        nullif(trim(preferred_name), '') AS preferred,
        nullif(trim(former_last_name), '') AS former,
        coalesce(alias_first_names, []) AS alias_first,
        coalesce(alias_last_names, []) AS alias_last,
        dob,
        CASE WHEN dob IS NOT NULL THEN coalesce(dob_precision, 'day') END AS dob_precision,
        CASE WHEN sex IN ('M', 'F') THEN sex END AS sex,
        nullif(trim(postcode), '') AS postcode,
        nullif(trim(regexp_replace(upper(address), '[^A-Z0-9]+', ' ', 'g')), '') AS address,
        nullif(trim(upn), '') AS upn,
        nullif(trim(nhs_number), '') AS nhs_number,
        nullif(trim(la_child_id), '') AS la_child_id
    FROM linkage_input
),
groups AS (
    SELECT name, list_sort(list(DISTINCT grp)) AS grps FROM linkage_nickname GROUP BY name
),
named AS (
    SELECT
        b.*,
        CASE WHEN b.fn IS NOT NULL
             THEN list_sort(list_distinct(list_concat(coalesce(g.grps, []), [b.fn]))) END
            AS fn_groups,
        list_sort(list_distinct(list_filter(
            list_concat([b.fn, b.preferred], coalesce(string_split(b.middle, ' '), []),
                        b.alias_first),
            lambda x: x IS NOT NULL AND x <> ''))) AS first_names_all,
        list_filter(coalesce(string_split(b.middle, ' '), []), lambda x: x <> '') AS middles,
        list_distinct(list_filter(list_concat([b.preferred], b.alias_first),
                                  lambda x: x IS NOT NULL AND x <> '')) AS fn_known_as,
        list_sort(list_distinct(list_filter(
            flatten(list_transform(list_concat([b.ln, b.former], b.alias_last),
                                   lambda x: list_concat([x], string_split_regex(x, '[- ]')))),
            lambda x: x IS NOT NULL AND length(x) >= 2))) AS last_names_all
    FROM base b
    LEFT JOIN groups g ON g.name = b.fn
)
SELECT
    (row_number() OVER (ORDER BY n.record_key) - 1)::INTEGER AS rid,
    n.record_key,
    n.source,
    n.fn,
    CASE WHEN n.fn IS NOT NULL
         THEN count(*) OVER (PARTITION BY n.fn) / count(n.fn) OVER () END AS fn_tf,
    left(n.fn, 1) AS fn_initial,
    pf.meta AS fn_meta,
    n.fn_groups,
    n.first_names_all,
    n.middles,
    n.fn_known_as,
    n.ln,
    CASE WHEN n.ln IS NOT NULL
         THEN count(*) OVER (PARTITION BY n.ln) / count(n.ln) OVER () END AS ln_tf,
    left(n.ln, 1) AS ln_initial,
    pl.meta AS ln_meta,
    n.last_names_all,
    -- the one name of a record that holds no surname ("MCARTHUR" alone in the forename column):
    -- it may be either name, so it is also compared with the other record's surnames
    CASE WHEN n.ln IS NULL THEN n.fn END AS sole_name,
    CASE WHEN n.fn IS NOT NULL AND n.ln IS NOT NULL
         THEN array_to_string(list_sort([n.fn, n.ln]), '|') END AS names_sorted,
    n.dob,
    CASE WHEN n.dob IS NOT NULL
         THEN count(*) OVER (PARTITION BY n.dob) / count(n.dob) OVER () END AS dob_tf,
    -- a partial date of birth (linkage/dates.py) is the first day of its period: the parts it
    -- does not know are NULL, so they neither agree nor differ
    n.dob_precision,
    year(n.dob) AS dob_year,
    CASE WHEN n.dob_precision IN ('day', 'month') THEN month(n.dob) END AS dob_month,
    CASE WHEN n.dob_precision = 'day' THEN day(n.dob) END AS dob_day,
    CASE WHEN n.dob_precision = 'day' AND day(n.dob) <= 12 AND day(n.dob) <> month(n.dob)
         THEN make_date(year(n.dob), day(n.dob), month(n.dob)) END AS dob_swap,
    n.sex,
    n.postcode,
    CASE WHEN n.postcode IS NOT NULL
         THEN count(*) OVER (PARTITION BY n.postcode) / count(n.postcode) OVER () END AS pc_tf,
    CASE WHEN n.postcode LIKE '% %'
         THEN split_part(n.postcode, ' ', 1) || ' ' || left(split_part(n.postcode, ' ', 2), 1)
         END AS pc_sector,
    CASE WHEN n.postcode LIKE '% %' THEN split_part(n.postcode, ' ', 1) END AS pc_district,
    n.address,
    list_sort(list_distinct(list_filter(string_split(n.address, ' '), lambda t: t <> '')))
        AS addr_tokens,
    n.upn,
    n.nhs_number,
    n.la_child_id
FROM named n
LEFT JOIN linkage_phonetic pf ON pf.name = n.fn
LEFT JOIN linkage_phonetic pl ON pl.name = n.ln
ORDER BY rid;
