-- I01 child missing education: a CME episode open at any time in the period. The event date is
-- the episode start, or the period start for an episode already open when the period began.
SELECT record_key,
       person_key,
       greatest(start_at::DATE, getvariable('period_start')) AS event_date,
       json_object('episode_start', start_at::DATE,
                   'episode_end', end_at::DATE,
                   'open', end_at IS NULL)::VARCHAR AS detail
FROM staging.social_care
WHERE event_type = 'CME'
  AND start_at::DATE <= getvariable('period_end')
  AND (end_at IS NULL OR end_at::DATE >= getvariable('period_start'))
