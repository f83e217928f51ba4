-- Records per extract kind and how many leave each field not recorded (NULL, or blank text).
-- Values that failed standardisation (an invalid NHS number, a postcode that is not a UK
-- postcode) are NULL in staging and so count as not recorded here.
WITH per_kind AS (
    SELECT kind,
           count(*) AS records,
           count(*) FILTER (WHERE nullif(trim(first_name), '') IS NULL) AS first_name,
           count(*) FILTER (WHERE nullif(trim(last_name), '') IS NULL) AS last_name,
           count(*) FILTER (WHERE dob IS NULL) AS dob,
           count(*) FILTER (WHERE sex IS NULL OR sex = 'U') AS sex,
           count(*) FILTER (WHERE ethnicity IS NULL) AS ethnicity,
           count(*) FILTER (WHERE postcode IS NULL) AS postcode,
           count(*) FILTER (WHERE nullif(trim(address), '') IS NULL) AS address,
           count(*) FILTER (WHERE nhs_number IS NULL) AS nhs_number,
           count(*) FILTER (WHERE upn IS NULL) AS upn,
           count(*) FILTER (WHERE nullif(trim(la_child_id), '') IS NULL) AS la_child_id,
           count(*) FILTER (WHERE disability IS NULL) AS disability
    FROM staging.person_record
    GROUP BY kind
)
SELECT kind, records, field, not_recorded
FROM (UNPIVOT per_kind
      ON first_name, last_name, dob, sex, ethnicity, postcode, address, nhs_number, upn,
         la_child_id, disability
      INTO NAME field VALUE not_recorded)
ORDER BY kind, field
