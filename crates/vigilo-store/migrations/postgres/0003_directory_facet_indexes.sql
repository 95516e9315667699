-- Facet counts over the whole directory read these columns only; an index per
-- column lets GROUP BY count from the index instead of the wide rows.
-- Keep in step with ../sqlite/0003_directory_facet_indexes.sql.
CREATE INDEX directory_entries_clinical_area ON directory_entries (clinical_area);
CREATE INDEX directory_entries_risk_class ON directory_entries (risk_class);
CREATE INDEX directory_entries_licence_status ON directory_entries (licence_status);
CREATE INDEX directory_entries_country ON directory_entries (country);
CREATE INDEX directory_entries_domestic ON directory_entries (domestic);
CREATE INDEX directory_entries_modality ON directory_entries (modality);
CREATE INDEX directory_entries_source ON directory_entries (source);
