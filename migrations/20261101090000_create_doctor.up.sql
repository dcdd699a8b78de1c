-- The clinic's doctors.
CREATE TABLE doctor (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    email text NOT NULL UNIQUE,
    specialization text,
    created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE doctor IS 'A doctor who sees patients at the clinic';
COMMENT ON COLUMN doctor.specialization IS 'Free text, e.g. cardiology; null for general practice';
