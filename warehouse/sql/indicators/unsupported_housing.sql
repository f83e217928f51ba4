-- I02 placement in a hostel, B&B, semi- or unsupported housing overlapping the period
-- (placement types with unsupported_housing: true in sources/codes/placement_type.yaml).
SELECT record_key,
       person_key,
       greatest(start_at::DATE, getvariable('period_start')) AS event_date,
       json_object('placement_type', placement_type,
                   'placement_start', start_at::DATE,
                   'placement_end', end_at::DATE,
                   'open', end_at IS NULL)::VARCHAR AS detail
FROM staging.social_care
WHERE event_type = 'PLACEMENT'
  AND placement_type IN (SELECT unnest(getvariable('placement_types')))
  AND start_at::DATE <= getvariable('period_end')
  AND (end_at IS NULL OR end_at::DATE >= getvariable('period_start'))
