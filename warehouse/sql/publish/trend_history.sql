-- The earliest indicator event each indicator has in this warehouse, over every period derived
-- in it (warehouse.trend turns it into the first day of each feed's history, so that a quarter
-- before an extract's history is shown as not available rather than as a fall to zero).
SELECT indicator, min(event_date) AS first_event
FROM staging.indicator_event
GROUP BY indicator
ORDER BY indicator
