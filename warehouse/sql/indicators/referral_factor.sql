-- I04 / I05 referral with a given factor (CSE, GANGS). The detail answers the inquiry's
-- sub-questions: did a CP conference / CP plan for the same person record follow in the period.
SELECT r.record_key,
       r.person_key,
       r.start_at::DATE AS event_date,
       json_object(
           'event_type', r.event_type,
           'factor', getvariable('factor'),
           'cp_conference_followed', EXISTS (
               SELECT 1 FROM staging.social_care c
               WHERE c.person_key = r.person_key AND c.event_type = 'CP_CONFERENCE'
                 AND c.start_at >= r.start_at
                 AND c.start_at::DATE <= getvariable('period_end')),
           'cp_plan_followed', EXISTS (
               SELECT 1 FROM staging.social_care c
               WHERE c.person_key = r.person_key AND c.event_type = 'CP_PLAN'
                 AND c.start_at >= r.start_at
                 AND c.start_at::DATE <= getvariable('period_end'))
       )::VARCHAR AS detail
FROM staging.social_care r
WHERE r.event_type IN (SELECT unnest(getvariable('event_types')))
  AND list_contains(r.factors, getvariable('factor'))
  AND r.start_at::DATE BETWEEN getvariable('period_start') AND getvariable('period_end')
