-- I16 sexual offence against a child victim, or a crime flagged as CSE. CSE is not an offence,
-- so both paths are used and the detail records which one matched (domain brief rule 5). A CSE
-- flag, or a sexual offence code that only exists for child victims, makes the victim a child by
-- definition when the date of birth is missing.
WITH crimes AS (
    SELECT *,
           coalesce(offence_code IN (SELECT unnest(getvariable('sexual_codes'))), false) AS sexual,
           coalesce(cse_flag, false) AS cse,
           coalesce(offence_code IN (SELECT unnest(getvariable('adult_victim_codes'))), false)
               AS adult_possible
    FROM staging.police
    WHERE occurrence_type = 'CRIME' AND role = 'VICTIM'
)
SELECT record_key,
       person_key,
       coalesce(offence_date, reported_at::DATE) AS event_date,
       json_object(
           'path', CASE WHEN sexual AND cse THEN 'offence_code+cse_flag'
                        WHEN sexual THEN 'offence_code' ELSE 'cse_flag' END,
           'offence_code', offence_code,
           'cse_flag', cse_flag,
           'date_basis', CASE WHEN offence_date IS NULL THEN 'recorded' ELSE 'offence' END,
           'recorded_date', reported_at::DATE,
           'child_by_definition', cse OR (sexual AND NOT adult_possible)
       )::VARCHAR AS detail
FROM crimes
WHERE (sexual OR cse)
  AND coalesce(offence_date, reported_at::DATE)
      BETWEEN getvariable('period_start') AND getvariable('period_end')
