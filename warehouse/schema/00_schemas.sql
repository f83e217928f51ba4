-- Zones of the warehouse. staging and linkage hold identifiable data (the linkage zone);
-- mart holds pseudonymous child-level rows; publish holds suppressed aggregates only.
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE SCHEMA IF NOT EXISTS linkage;
CREATE SCHEMA IF NOT EXISTS mart;
CREATE SCHEMA IF NOT EXISTS publish;
