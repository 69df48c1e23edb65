ALTER TABLE providers ADD COLUMN critical_subject_members TEXT NOT NULL DEFAULT '[]';
