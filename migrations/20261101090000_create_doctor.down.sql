DROP TABLE doctor;
