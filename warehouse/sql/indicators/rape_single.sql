-- I15 rape of a child victim with exactly one linked suspect, not intrafamilial. An unknown
-- suspect count never counts as single. An unrecorded intrafamilial flag is not taken as
-- intrafamilial (the detail says whether it was recorded).
SELECT record_key,
       person_key,
       coalesce(offence_date, reported_at::DATE) AS event_date,
       json_object(
           'offence_code', offence_code,
           'suspect_count', suspect_count,
           'intrafamilial_recorded', intrafamilial IS NOT NULL,
           'cse_flag', cse_flag,
           'date_basis', CASE WHEN offence_date IS NULL THEN 'recorded' ELSE 'offence' END,
           'recorded_date', reported_at::DATE,
           'child_by_definition',
               offence_code NOT IN (SELECT unnest(getvariable('adult_victim_codes')))
       )::VARCHAR AS detail
FROM staging.police
WHERE occurrence_type = 'CRIME'
  AND role = 'VICTIM'
  AND offence_code IN (SELECT unnest(getvariable('rape_codes')))
  AND suspect_count = 1
  AND intrafamilial IS DISTINCT FROM true
  AND coalesce(offence_date, reported_at::DATE)
      BETWEEN getvariable('period_start') AND getvariable('period_end')
