-- Decide, for each candidate event of one indicator (temp table ind_candidate), whether the age
-- rule drops it. Age is judged on the person record's own date of birth at the event date.
--   aged_18_plus:       known to be 18 or over at the event (every indicator)
--   victim_age_unknown: age_rule child_victim, no date of birth, and the offence does not define
--                       a child victim (detail.child_by_definition is not true)
CREATE OR REPLACE TEMP TABLE ind_gated AS
SELECT c.record_key,
       c.person_key,
       c.event_date,
       c.detail,
       coalesce(pr.source, split_part(c.record_key, ':', 1)) AS source,
       CASE
           WHEN age_years(pr.dob, c.event_date) >= 18 THEN 'aged_18_plus'
           WHEN getvariable('age_rule') = 'child_victim'
                AND age_years(pr.dob, c.event_date) IS NULL
                AND NOT coalesce(
                    TRY_CAST(json_extract_string(c.detail, '$.child_by_definition') AS BOOLEAN),
                    false)
               THEN 'victim_age_unknown'
       END AS exclusion
FROM ind_candidate c
LEFT JOIN staging.person_record pr ON pr.record_key = c.person_key;
