-- One row per (linked child, indicator) for the period. Events whose person record has no
-- linked child are left out here and counted by warehouse.marts.
INSERT INTO mart.child_indicator
SELECT e.period_start,
       e.period_end,
       CAST(lp.person_id AS VARCHAR) AS person_id,
       e.indicator,
       any_value(e.dataset) AS dataset,
       any_value(c.feed) AS feed,
       min(e.event_date) AS first_event_date,
       max(e.event_date) AS last_event_date,
       count(*) AS events,
       list(DISTINCT e.source ORDER BY e.source) AS sources
FROM staging.indicator_event e
JOIN linkage.person lp ON lp.record_key = e.person_key
JOIN mart_catalogue c ON c.indicator = e.indicator
WHERE e.period_start = getvariable('period_start')
  AND e.period_end = getvariable('period_end')
GROUP BY e.period_start, e.period_end, lp.person_id, e.indicator;
