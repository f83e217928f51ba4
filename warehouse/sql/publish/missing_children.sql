-- One row per child and feed with a missing episode in the period (pub_missing_episode): whether
-- any episode was from home / from care, and whether at least `repeat_count` episodes started
-- inside any window of the short / long number of days (first to last start less than the
-- window apart), counted per linked child so that two records of one child add up.
WITH starts AS (
    SELECT DISTINCT feed, child_key, started_at, started_at::DATE AS d
    FROM pub_missing_episode
),
windows AS (
    SELECT r.feed, r.child_key,
           count(*) FILTER (WHERE e.d > r.d - getvariable('window_short')) AS n_short,
           count(*) FILTER (WHERE e.d > r.d - getvariable('window_long')) AS n_long
    FROM starts r
    JOIN starts e
      ON e.feed = r.feed AND e.child_key = r.child_key AND e.started_at <= r.started_at
    GROUP BY r.feed, r.child_key, r.started_at
)
SELECT c.feed,
       c.child_key,
       bool_or(c.missing_from = 'HOME') AS from_home,
       bool_or(c.missing_from = 'CARE') AS from_care,
       coalesce(max(w.n_short), 0) >= getvariable('repeat_count') AS repeat_short,
       coalesce(max(w.n_long), 0) >= getvariable('repeat_count') AS repeat_long
FROM pub_missing_episode c
LEFT JOIN windows w ON w.feed = c.feed AND w.child_key = c.child_key
GROUP BY c.feed, c.child_key
ORDER BY c.feed, c.child_key
