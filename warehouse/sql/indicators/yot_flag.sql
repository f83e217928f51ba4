-- I06A-I06J and I46: a YOT assessment in the period with the catalogue's flag set. The flags
-- are unpivoted so one file serves every flag; the catalogue names the flag column.
WITH flags AS (
    UNPIVOT (
        SELECT record_key, person_key, assessment_date,
               breach_non_compliance, sex_offender_register, looked_after, living_with_partner,
               no_fixed_abode, absconding, partner_criminal_activity,
               lack_age_appropriate_friendships, health_risk_behaviour,
               sexually_inappropriate_behaviour, convicted_sexual_offence
        FROM staging.yot
    )
    ON breach_non_compliance, sex_offender_register, looked_after, living_with_partner,
       no_fixed_abode, absconding, partner_criminal_activity,
       lack_age_appropriate_friendships, health_risk_behaviour,
       sexually_inappropriate_behaviour, convicted_sexual_offence
    INTO NAME flag VALUE flag_value
)
SELECT record_key,
       person_key,
       assessment_date AS event_date,
       json_object('flag', flag)::VARCHAR AS detail
FROM flags
WHERE flag = getvariable('flag')
  AND flag_value
  AND assessment_date BETWEEN getvariable('period_start') AND getvariable('period_end')
