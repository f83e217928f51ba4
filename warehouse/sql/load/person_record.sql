-- One person record per (source, person_ref): each field takes its most recent non-null value
-- (rows ordered by extract, then event date, then row), and other names seen for the same
-- person_ref are kept as aliases, because a system's own history of a child's names is evidence
-- for linkage.
INSERT INTO staging.person_record
WITH latest AS (
    SELECT
        source || ':' || person_ref AS record_key,
        source,
        any_value(kind) AS kind,
        person_ref,
        arg_max(extract_id, ord) AS extract_id,
        count(*)::INTEGER AS event_rows,
        arg_max(first_name, ord) AS first_name,
        arg_max(middle_names, ord) AS middle_names,
        arg_max(last_name, ord) AS last_name,
        arg_max(preferred_name, ord) AS preferred_name,
        arg_max(former_last_name, ord) AS former_last_name,
        list_distinct(list(first_name) FILTER (WHERE first_name IS NOT NULL)) AS first_names,
        list_distinct(list(last_name) FILTER (WHERE last_name IS NOT NULL)) AS last_names,
        arg_max(dob, ord) AS dob,
        arg_max(sex, ord) AS sex,
        arg_max(ethnicity, ord) AS ethnicity,
        arg_max(ethnicity_observed, ord) AS ethnicity_observed,
        arg_max(postcode, ord) AS postcode,
        arg_max(address, ord) AS address,
        arg_max(nhs_number, ord) AS nhs_number,
        arg_max(upn, ord) AS upn,
        arg_max(la_child_id, ord) AS la_child_id,
        arg_max(disability, ord) AS disability,
        arg_max(first_name_raw, ord) AS first_name_raw,
        arg_max(last_name_raw, ord) AS last_name_raw,
        arg_max(dob_raw, ord) AS dob_raw,
        arg_max(sex_raw, ord) AS sex_raw,
        arg_max(ethnicity_raw, ord) AS ethnicity_raw,
        arg_max(postcode_raw, ord) AS postcode_raw,
        arg_max(nhs_number_raw, ord) AS nhs_number_raw,
        arg_max(upn_raw, ord) AS upn_raw
    FROM staging.person_row
    GROUP BY source, person_ref
)
SELECT
    record_key, source, kind, person_ref, extract_id, event_rows,
    first_name, middle_names, last_name, preferred_name, former_last_name,
    list_filter(first_names, lambda x: x IS DISTINCT FROM first_name) AS alias_first_names,
    list_filter(last_names, lambda x: x IS DISTINCT FROM last_name) AS alias_last_names,
    dob, sex, ethnicity, ethnicity_observed, postcode, address, nhs_number, upn, la_child_id,
    disability, first_name_raw, last_name_raw, dob_raw, sex_raw, ethnicity_raw, postcode_raw,
    nhs_number_raw, upn_raw
FROM latest
ORDER BY record_key;
