-- Age in whole years on date d. A birthday on 29 February is reached on 1 March in other years
-- (as in England), which DuckDB's date_sub('year', ...) would place on 28 February.
CREATE OR REPLACE TEMP MACRO age_years(dob, d) AS
    CASE WHEN dob IS NULL OR d IS NULL THEN NULL
         ELSE year(d) - year(dob)
              - CASE WHEN month(d) * 100 + day(d) < month(dob) * 100 + day(dob) THEN 1 ELSE 0 END
    END;
