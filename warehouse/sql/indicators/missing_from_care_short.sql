-- I03 missing from care for less than max_hours. Only missing_type MISSING counts: AWAY
-- (absent without authorisation) is a different definition and is never merged in. The
-- duration needs both ends, so open episodes and episodes without a return time never count;
-- exactly max_hours is not "less than". An empty missing_from counts as care: the LA feed's
-- missing module only covers looked-after children (SSDA903).
SELECT record_key,
       person_key,
       start_at::DATE AS event_date,
       json_object('missing_type', missing_type,
                   'missing_from', missing_from,
                   'duration_hours', round((epoch(end_at) - epoch(start_at)) / 3600.0, 2),
                   'rhi_offered', rhi_offered,
                   'rhi_accepted', rhi_accepted)::VARCHAR AS detail
FROM staging.social_care
WHERE event_type = 'MISSING'
  AND missing_type IN (SELECT unnest(getvariable('missing_types')))
  AND (missing_from IS NULL OR missing_from IN (SELECT unnest(getvariable('missing_from'))))
  AND end_at IS NOT NULL
  AND end_at >= start_at
  AND epoch(end_at) - epoch(start_at) < getvariable('max_hours') * 3600
  AND start_at::DATE BETWEEN getvariable('period_start') AND getvariable('period_end')
