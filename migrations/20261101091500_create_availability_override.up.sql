-- A change to a doctor's regular schedule on one date: a day off, or extra hours.
CREATE TABLE availability_override (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    doctor_id uuid NOT NULL REFERENCES doctor (id) ON DELETE CASCADE,
    date date NOT NULL,
    start_time time NOT NULL,
    end_time time NOT NULL,
    is_available boolean NOT NULL,
    reason text,
    CONSTRAINT availability_override_times CHECK (start_time < end_time)
);

CREATE INDEX availability_override_doctor_date ON availability_override (doctor_id, date);
