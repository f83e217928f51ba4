-- I27 looked after at any time in the period: a looked-after episode overlapping it.
SELECT record_key,
       person_key,
       greatest(start_at::DATE, getvariable('period_start')) AS event_date,
       json_object('legal_status', legal_status,
                   'episode_start', start_at::DATE,
                   'episode_end', end_at::DATE,
                   'open', end_at IS NULL)::VARCHAR AS detail
FROM staging.social_care
WHERE event_type = 'LAC_EPISODE'
  AND start_at::DATE <= getvariable('period_end')
  AND (end_at IS NULL OR end_at::DATE >= getvariable('period_start'))
