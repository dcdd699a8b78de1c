ALTER TABLE doctor
    DROP COLUMN consultation_types,
    DROP COLUMN years_of_experience;

DROP TYPE consultation_type;
