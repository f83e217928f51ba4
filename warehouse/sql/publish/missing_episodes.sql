-- One row per missing episode that starts in the period, from social care (MISSING events: both
-- "missing" and "away", told apart by missing_type) and from police (missing person reports with
-- the child as subject). child_key is the linked child (linkage.person) or, for a record linkage
-- has not placed, the record itself. Duration: from start (last seen) to end (found / returned);
-- no end = still missing or not recorded. Return interviews are recorded by social care only.
CREATE OR REPLACE TEMP TABLE pub_missing_episode AS
WITH child_map AS (
    SELECT pr.record_key,
           coalesce(any_value(lp.person_id), 'R:' || pr.record_key) AS child_key
    FROM staging.person_record pr
    LEFT JOIN linkage.person lp ON lp.record_key = pr.record_key
    GROUP BY pr.record_key
),
episodes AS (
    SELECT 'LA' AS feed, sc.record_key, sc.person_key, sc.start_at AS started_at,
           sc.end_at AS ended_at, sc.missing_from, sc.missing_type,
           sc.rhi_offered, sc.rhi_accepted, sc.rhi_declined_reason, sc.rhi_date
    FROM staging.social_care sc
    WHERE sc.event_type = 'MISSING'
      AND sc.start_at::DATE BETWEEN getvariable('period_start') AND getvariable('period_end')
    UNION ALL
    SELECT 'POL', p.record_key, p.person_key, coalesce(p.missing_since, p.reported_at),
           p.found_at, p.missing_from, 'MISSING',
           NULL::BOOLEAN, NULL::BOOLEAN, NULL::VARCHAR, NULL::DATE
    FROM staging.police p
    WHERE p.occurrence_type IN (SELECT unnest(getvariable('occurrence_types')))
      AND coalesce(p.role, 'SUBJECT') = 'SUBJECT'
      AND p.reported_at::DATE BETWEEN getvariable('period_start') AND getvariable('period_end')
)
SELECT e.feed,
       e.record_key,
       coalesce(m.child_key, 'R:' || e.person_key) AS child_key,
       e.started_at,
       CASE WHEN e.missing_from IN ('HOME', 'CARE') THEN e.missing_from ELSE 'OTHER' END
           AS missing_from,
       coalesce(e.missing_type, 'NOT_RECORDED') AS missing_type,
       CASE WHEN e.ended_at IS NULL OR e.ended_at < e.started_at THEN 'not_known'
            WHEN e.ended_at - e.started_at < INTERVAL 24 HOUR THEN 'under_24h'
            ELSE 'over_24h' END AS duration,
       CASE WHEN e.rhi_offered IS TRUE THEN 'offered' ELSE 'not_offered' END AS rhi_offer,
       CASE WHEN e.rhi_offered IS NOT TRUE THEN NULL
            WHEN e.rhi_accepted IS TRUE THEN 'accepted'
            WHEN e.rhi_accepted IS FALSE OR e.rhi_declined_reason IS NOT NULL THEN 'declined'
            ELSE 'not_recorded' END AS rhi_response,
       (e.rhi_offered IS TRUE AND e.rhi_accepted IS TRUE AND e.rhi_date IS NOT NULL
        AND e.ended_at IS NOT NULL
        AND e.rhi_date BETWEEN e.ended_at::DATE AND (e.ended_at + INTERVAL 72 HOUR)::DATE)
           AS rhi_within_72h
FROM episodes e
LEFT JOIN child_map m ON m.record_key = e.person_key;
