-- I30 child protection plan whose (latest) category is one of cp_categories, in force at any
-- time in the period.
SELECT record_key,
       person_key,
       greatest(start_at::DATE, getvariable('period_start')) AS event_date,
       json_object('cp_category', cp_category,
                   'plan_start', start_at::DATE,
                   'plan_end', end_at::DATE,
                   'open', end_at IS NULL)::VARCHAR AS detail
FROM staging.social_care
WHERE event_type = 'CP_PLAN'
  AND cp_category IN (SELECT unnest(getvariable('cp_categories')))
  AND start_at::DATE <= getvariable('period_end')
  AND (end_at IS NULL OR end_at::DATE >= getvariable('period_start'))
