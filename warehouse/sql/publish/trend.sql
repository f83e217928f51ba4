-- Trend over quarters (warehouse.trend): the rows each quarter's own publication printed that the
-- trend charts - Table 9's "at least k indicators" and missing-episode measures per feed - for
-- the quarters trend_starts / trend_ends (each published in this warehouse first). Values are
-- the published text (suppressed, perhaps rounded), never the integers behind them.
WITH quarter AS (
    SELECT unnest(getvariable('trend_starts')) AS period_start,
           unnest(getvariable('trend_ends')) AS period_end
)
SELECT t.period_start,
       t.period_end,
       'indicators' AS topic,
       NULL::VARCHAR AS feed,
       t.k,
       NULL::VARCHAR AS measure,
       NULL::VARCHAR AS measure_label,
       'children' AS unit,
       t.children_at_least_k AS value,
       t.indicators_not_available AS not_available
FROM publish.table9_indicators t
JOIN quarter q ON q.period_start = t.period_start AND q.period_end = t.period_end
WHERE t.k IN (SELECT unnest(getvariable('trend_k')))
UNION ALL
SELECT m.period_start,
       m.period_end,
       'missing',
       m.feed,
       NULL,
       m.measure,
       m.feed_label || ': ' || lower(m.measure_label[1]) || m.measure_label[2:],
       m.unit,
       m.value,
       NULL
FROM publish.missing_episodes m
JOIN quarter q ON q.period_start = m.period_start AND q.period_end = m.period_end
WHERE m.measure IN (SELECT unnest(getvariable('trend_missing_measures')))
ORDER BY topic DESC, feed, measure, k, period_start
