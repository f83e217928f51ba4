-- One person record per (source, person_ref): each field takes its most recent non-null value
-- (rows ordered by extract, then event date, then row), and other names seen for the same
-- person_ref are kept as aliases, because a system's own history of a child's names is evidence
-- for linkage. The placeholders are filled from sources/kinds/_person.yaml (warehouse/load.py):
-- latest_values is arg_max(<column>, ord) AS <column> for every value and raw column;
-- seen_values the distinct non-null values of each column that has aliases, as seen_<column>;
-- record_values the record's values and each alias list (seen_<column> without the record's own
-- value).
INSERT INTO staging.person_record BY NAME
WITH latest AS (
    SELECT
        source || ':' || person_ref AS record_key,
        source,
        any_value(kind) AS kind,
        person_ref,
        arg_max(extract_id, ord) AS extract_id,
        count(*)::INTEGER AS event_rows,
        {{latest_values}},
        {{seen_values}}
    FROM staging.person_row
    GROUP BY source, person_ref
)
SELECT
    record_key, source, kind, person_ref, extract_id, event_rows,
    {{record_values}}
FROM latest
ORDER BY record_key;
