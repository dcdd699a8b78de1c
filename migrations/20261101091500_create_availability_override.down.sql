DROP TABLE availability_override;
