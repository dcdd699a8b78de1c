-- How a doctor can be consulted, and their experience.
CREATE TYPE consultation_type AS ENUM ('in_person', 'video', 'phone');

ALTER TABLE doctor
    ADD COLUMN years_of_experience integer CHECK (years_of_experience >= 0),
    ADD COLUMN consultation_types consultation_type[] NOT NULL DEFAULT '{in_person}';

COMMENT ON COLUMN doctor.years_of_experience IS 'Years in practice; null when unknown';
