-- I31 child in need after assessment: an assessment completed in the period with a primary need
-- in primary_needs (N1-N8; N9 "cases other than children in need" and N0 "not stated" are not).
-- The detail carries the inquiry's sub-items: primary need and whether a CP plan followed.
SELECT record_key,
       person_key,
       start_at::DATE AS event_date,
       json_object('primary_need', primary_need,
                   'cp_followed', cp_followed,
                   'factors', factors)::VARCHAR AS detail
FROM staging.social_care
WHERE event_type = 'ASSESSMENT'
  AND primary_need IN (SELECT unnest(getvariable('primary_needs')))
  AND start_at::DATE BETWEEN getvariable('period_start') AND getvariable('period_end')
